"""A real Tryton 8.2 ERP on loopback, for the tests that check connectors and sandbox against it.

`open_tryton_server()` brings a ready server up from whatever is cached:

1. a virtualenv with trytond 8.2, the accounting/project modules, proteus and gunicorn, built
   with the interpreter that runs the tests (``sys.executable -m venv``) and reused while its
   marker file names the same requirements and Python;
2. a template SQLite database with the modules activated and the business set-up done
   (`_tryton_setup.py`: company, chart, fiscal years, product, employee). Activation takes about
   30 s, so the template is built once per calendar year and set-up version, then copied;
3. a copy of the template served by gunicorn with one sync worker on a socket we bind to a free
   loopback port and hand over (no port race). One sync worker because trytond's threaded server
   loses concurrent SQLite writes (REPORT.md pitfall 1).

The cache lives in ``$MEDIATOR_TRYTON_CACHE`` (default ``~/.cache/mediator/tryton-8.2``) and is
guarded by a file lock, so concurrent test runs on one machine build it once. Every step logs to
a file and is bounded by a timeout; a failing step raises `TrytonFixtureError` with its log tail.
Measured recipe and pitfalls: shared/reference/tryton/REPORT.md.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import fcntl
import hashlib
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path

from mediator.errors import MediatorError

__all__ = [
    "TrytonFixtureError",
    "TrytonServer",
    "TrytonSetup",
    "cache_is_ready",
    "open_tryton_server",
]

_SERIES = ">=8.2,<8.3"  # server and modules must be of one series
_MODULES = (
    *("party", "company", "currency", "country", "product", "account", "account_product"),
    *("account_invoice", "project", "timesheet", "project_invoice"),
)
_REQUIREMENTS = (
    f"trytond{_SERIES}",
    *(f"trytond-{module.replace('_', '-')}{_SERIES}" for module in _MODULES),
    f"proteus{_SERIES}",
    "gunicorn>=23",
)
_DATABASE = "mediator"
_ADMIN_LOGIN = "admin"
_ADMIN_PASSWORD = "mediator-tryton-admin"  # a throw-away loopback fixture, not a secret
_SETUP_SCRIPT = Path(__file__).with_name("_tryton_setup.py")


class TrytonFixtureError(MediatorError):
    """A step of bringing up the Tryton fixture failed; `log_tail` holds the end of its log."""

    def __init__(self, step: str, reason: str, *, log: Path | None = None) -> None:
        tail = _tail(log) if log is not None else ""
        super().__init__(step, reason, str(log), tail)
        self.step = step
        self.reason = reason
        self.log = log
        self.log_tail = tail

    def __str__(self) -> str:
        where = f" (log {self.log})" if self.log is not None else ""
        tail = f"\n--- last lines ---\n{self.log_tail}" if self.log_tail else ""
        return f"tryton fixture: {self.step} failed: {self.reason}{where}{tail}"


@dataclasses.dataclass(frozen=True, kw_only=True)
class TrytonSetup:
    """Ids of the records the business set-up created in every fixture database."""

    admin_user: int
    company: int
    company_party: int
    currency: int
    payment_term: int
    account_category: int
    product: int
    product_template: int
    uom_hour: int
    employee: int
    revenue_journal: int
    receivable_account: int
    payable_account: int
    revenue_account: int
    expense_account: int


@dataclasses.dataclass(frozen=True, kw_only=True)
class TrytonServer:
    """How to reach a running fixture server: POST JSON-RPC to `rpc_url`, log in as `login`."""

    url: str
    database: str
    login: str
    password: str
    version: str
    setup: TrytonSetup
    log: Path
    timings: Mapping[str, float]

    @property
    def rpc_url(self) -> str:
        """Return the database endpoint, ``<url><database>/rpc/`` (the slash matters: 308)."""
        return f"{self.url}{self.database}/rpc/"


@contextlib.contextmanager
def open_tryton_server(
    *,
    work_dir: Path,
    cache_dir: Path | None = None,
    session_timeout: float = 3600.0,
    install_timeout: float = 300.0,
    build_timeout: float = 300.0,
    start_timeout: float = 60.0,
) -> Iterator[TrytonServer]:
    """Serve a fresh copy of the set-up database on 127.0.0.1 until the block exits.

    Blocks while it installs and builds what the cache lacks (about a minute from nothing, under
    a second of copying plus a second and a half of start when cached). `work_dir` receives the
    database copy, the config and ``gunicorn.log``. `session_timeout` is trytond's idle window
    after which fresh-session methods such as ``account.invoice.post`` answer 401. On exit the
    server's process group gets SIGTERM, then SIGKILL after 10 s.
    """
    cache = _cache(cache_dir)
    timings: dict[str, float] = {}
    started = time.monotonic()
    cache.mkdir(parents=True, exist_ok=True)
    with _locked(cache / ".lock", timeout=install_timeout + build_timeout):
        venv = _ensure_venv(cache, timeout=install_timeout)
        timings["venv"] = time.monotonic() - started
        template, setup = _ensure_template(cache, venv, timeout=build_timeout)
        timings["template"] = time.monotonic() - started - timings["venv"]
    db_dir = work_dir / "db"
    db_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, db_dir / f"{_DATABASE}.sqlite")
    config = _write_config(work_dir / "trytond.conf", db_dir, session_timeout=session_timeout)
    log = work_dir / "gunicorn.log"
    begin = time.monotonic()
    with _serve(venv, config, log, work_dir=work_dir) as (url, process):
        version = _wait_ready(url, process, log, timeout=start_timeout)
        timings["start"] = time.monotonic() - begin
        timings["total"] = time.monotonic() - started
        yield TrytonServer(
            url=url,
            database=_DATABASE,
            login=_ADMIN_LOGIN,
            password=_ADMIN_PASSWORD,
            version=version,
            setup=setup,
            log=log,
            timings=timings,
        )


def cache_is_ready(cache_dir: Path | None = None) -> bool:
    """Tell whether `open_tryton_server` finds everything cached (False: it builds, ~45 s).

    `make test` asks, to say so before the first run's long silence.
    """
    cache = _cache(cache_dir)
    marker = cache / "venv" / ".mediator-complete"
    ready = marker.exists() and marker.read_text() == _venv_marker()
    return ready and (_template_dir(cache) / "setup.json").exists()


def _cache(cache_dir: Path | None) -> Path:
    return cache_dir or Path(
        os.environ.get("MEDIATOR_TRYTON_CACHE") or Path.home() / ".cache/mediator/tryton-8.2"
    )


def _venv_marker() -> str:
    return json.dumps({"python": sys.version, "requirements": _REQUIREMENTS})


def _template_dir(cache: Path) -> Path:
    recipe = hashlib.sha256(
        json.dumps([_REQUIREMENTS, _MODULES]).encode() + _SETUP_SCRIPT.read_bytes()
    ).hexdigest()[:12]
    # Fiscal years cover this year and next: a template from another year may not post today.
    return cache / f"template-{dt.date.today().year}-{recipe}"


def _ensure_venv(cache: Path, *, timeout: float) -> Path:
    """Return the cached Tryton venv, (re)building it when its marker does not match."""
    venv = cache / "venv"
    marker = venv / ".mediator-complete"
    wanted = _venv_marker()
    if marker.exists() and marker.read_text() == wanted:
        return venv
    shutil.rmtree(venv, ignore_errors=True)
    log = cache / "logs" / "install.log"
    deadline = time.monotonic() + timeout
    _run("create venv", [sys.executable, "-m", "venv", str(venv)], log=log, deadline=deadline)
    pip = [str(venv / "bin/python"), "-m", "pip", "install", "--disable-pip-version-check"]
    _run("pip install", [*pip, "--no-input", *_REQUIREMENTS], log=log, deadline=deadline)
    marker.write_text(wanted)
    return venv


def _ensure_template(cache: Path, venv: Path, *, timeout: float) -> tuple[Path, TrytonSetup]:
    """Return the cached template database and its set-up ids, building them when missing."""
    final = _template_dir(cache)
    ids_file = final / "setup.json"
    if not ids_file.exists():
        _build_template(cache, venv, final, timeout=timeout)
    setup = TrytonSetup(**json.loads(ids_file.read_text()))
    return final / f"{_DATABASE}.sqlite", setup


def _build_template(cache: Path, venv: Path, final: Path, *, timeout: float) -> None:
    build = cache / "template-build"
    shutil.rmtree(build, ignore_errors=True)
    build.mkdir()
    database = build / f"{_DATABASE}.sqlite"
    database.touch()  # trytond's SQLite backend refuses a missing file; empty is valid
    config = _write_config(build / "trytond.conf", build, session_timeout=300.0)
    password = build / "admin.pass"
    password.write_text(_ADMIN_PASSWORD + "\n")
    deadline = time.monotonic() + timeout
    env = {**_clean_env(), "TRYTONPASSFILE": str(password)}
    admin = [str(venv / "bin/trytond-admin"), "-c", str(config), "-d", _DATABASE]
    admin += ["--email", "admin@example.com", "--activate-dependencies", "-u", *_MODULES]
    _run("trytond-admin", admin, log=cache / "logs" / "admin.log", deadline=deadline, env=env)
    setup_argv = [str(venv / "bin/python"), str(_SETUP_SCRIPT), "--config", str(config)]
    ids = _run(
        "business set-up",
        [*setup_argv, "--database", _DATABASE],
        log=cache / "logs" / "setup.log",
        deadline=deadline,
        capture=True,
    )
    TrytonSetup(**json.loads(ids))  # fail here, not in every later run, if the ids do not fit
    # Fold any WAL back into the main file so that copying the .sqlite alone is complete.
    with contextlib.closing(sqlite3.connect(database)) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    (build / "setup.json").write_text(ids)
    for leftover in (password, config):
        leftover.unlink()
    for stale in cache.glob("template-*-*"):  # other years or recipes: never used again
        shutil.rmtree(stale, ignore_errors=True)
    build.rename(final)  # setup.json appears atomically with the database


def _write_config(path: Path, db_dir: Path, *, session_timeout: float) -> Path:
    path.write_text(
        "[database]\nuri = sqlite://\n"
        f"path = {db_dir}\nlanguage = en\n\n"
        f"[session]\ntimeout = {int(session_timeout)}\n"
    )
    return path


@contextlib.contextmanager
def _serve(
    venv: Path, config: Path, log: Path, *, work_dir: Path
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Run gunicorn on a listening socket bound here, so the port is known and never raced."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    port = listener.getsockname()[1]
    argv = [str(venv / "bin/gunicorn"), "--workers", "1", "--worker-class", "sync"]
    argv += ["--bind", f"fd://{listener.fileno()}", "--timeout", "120", "--graceful-timeout", "5"]
    argv += ["--access-logfile", "-", "--error-logfile", "-", "trytond.application:app"]
    env = {**_clean_env(), "TRYTOND_CONFIG": str(config), "TRYTOND_DATABASE_NAMES": _DATABASE}
    with log.open("ab") as out:
        process = subprocess.Popen(
            argv,
            cwd=work_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            pass_fds=(listener.fileno(),),
            start_new_session=True,
        )
    listener.close()  # gunicorn holds it now; if gunicorn dies, connecting fails fast
    try:
        yield f"http://127.0.0.1:{port}/", process
    finally:
        _stop(process)


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path, *, timeout: float) -> str:
    """Wait until ``common.server.version`` answers; return the version it reports."""
    deadline = time.monotonic() + timeout
    body = json.dumps({"id": 0, "method": "common.server.version", "params": []}).encode()
    while (left := deadline - time.monotonic()) > 0:
        if process.poll() is not None:
            raise TrytonFixtureError("server start", f"exited with {process.returncode}", log=log)
        request = urllib.request.Request(
            url + "rpc/", data=body, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=left) as response:
                return str(json.loads(response.read())["result"])
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.1)  # the worker is still importing trytond; poll, bounded by deadline
    raise TrytonFixtureError("server start", f"no JSON-RPC answer within {timeout:g} s", log=log)


def _stop(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def _run(
    step: str,
    argv: list[str],
    *,
    log: Path,
    deadline: float,
    env: Mapping[str, str] | None = None,
    capture: bool = False,
) -> str:
    """Run one build step with its output appended to `log`; return stdout when `capture`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        out.write(f"\n$ {' '.join(argv)}\n".encode())
        out.flush()
        with subprocess.Popen(  # its exit closes the pipe and reaps the process
            argv,
            env=dict(env or _clean_env()),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if capture else out,
            stderr=out,
            start_new_session=True,
        ) as process:
            try:
                stdout, _ = process.communicate(timeout=max(deadline - time.monotonic(), 0.0))
            except subprocess.TimeoutExpired:
                _stop(process)
                raise TrytonFixtureError(step, "timed out", log=log) from None
    if process.returncode != 0:
        raise TrytonFixtureError(step, f"exited with {process.returncode}", log=log)
    return stdout.decode() if capture else ""


def _clean_env() -> dict[str, str]:
    """Our environment minus what would point the Tryton venv's Python at mediator's venv."""
    drop = {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP"}
    return {key: value for key, value in os.environ.items() if key not in drop}


@contextlib.contextmanager
def _locked(path: Path, *, timeout: float) -> Iterator[None]:
    """Hold an exclusive lock on `path`; another test run building the cache makes us wait."""
    with path.open("a") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TrytonFixtureError("cache lock", f"{path} held > {timeout:g} s") from None
                time.sleep(0.2)  # flock has no timeout of its own
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _tail(log: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
