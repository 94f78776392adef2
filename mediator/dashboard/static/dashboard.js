// The overview's live refresh: fetch the fragment every few seconds from this same origin and
// put it in place; a button pauses and resumes. Nothing else runs on the pages.
"use strict";
(() => {
  const live = document.getElementById("live");
  const toggle = document.getElementById("live-toggle");
  const status = document.getElementById("live-status");
  if (!live || !toggle || !status) return;
  const every = 1000 * Number(live.dataset.interval || "5");
  let timer = null;
  let busy = false;

  const say = (text) => { status.textContent = text; };

  async function refresh() {
    if (busy) return;
    busy = true;
    try {
      const answer = await fetch(live.dataset.src, {
        credentials: "same-origin", headers: { Accept: "text/html" }, cache: "no-store",
      });
      if (answer.status === 401) { stop(); say("Your session ended: reload the page to log in."); return; }
      if (!answer.ok) { say(`Refresh failed (${answer.status}); trying again.`); return; }
      live.innerHTML = await answer.text();
      say(`Refreshed at ${new Date().toLocaleTimeString()}.`);
    } catch (error) {
      say("The daemon did not answer; trying again.");
    } finally {
      busy = false;
    }
  }

  function start() {
    timer = window.setInterval(refresh, every);
    toggle.setAttribute("aria-pressed", "false");
    toggle.textContent = "Pause live refresh";
  }

  function stop() {
    window.clearInterval(timer);
    timer = null;
    toggle.setAttribute("aria-pressed", "true");
    toggle.textContent = "Resume live refresh";
  }

  toggle.addEventListener("click", () => {
    if (timer === null) { start(); refresh(); say("Live refresh on."); } else { stop(); say("Live refresh paused."); }
  });
  start();
})();
