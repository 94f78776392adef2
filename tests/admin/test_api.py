"""The admin API through real HTTP: every endpoint, both roles, missing and wrong tokens,
actions written to the audit log, and bad requests answered as problems naming the field."""

from __future__ import annotations

import asyncio
import urllib.parse
from typing import Any

import aiohttp
import msgspec
import pytest

from mediator.admin import ENDPOINTS
from mediator.admin.models import (
    ApprovalList,
    AuditPage,
    CloseResult,
    DeadLetterDetail,
    DeadLetterGroups,
    DeadLetterPage,
    EntityHistory,
    FlowsAnswer,
    Health,
    Readiness,
    ReplayResult,
    SystemsAnswer,
    WindowsAnswer,
)
from mediator.admin.reconciliation_routes import RunList
from mediator.journal.operator import Approval
from mediator.reconciliation import Report
from tests.admin.conftest import REQUEST_TIMEOUT, Admin

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

NO_ID = "0" * 32


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def journal_backend(request: pytest.FixtureRequest) -> str:
    """Every endpoint on both journals: the reads and the operator's actions must agree."""
    return str(request.param)


async def call(
    admin: Admin,
    method: str,
    path: str,
    *,
    role: str | None = None,
    headers: dict[str, str] | None = None,
    **kwargs: Any,
) -> tuple[int, str, dict[str, str], bytes]:
    sent = dict(headers or {})
    if role is not None:
        sent.update(admin.headers(role))
    async with (
        aiohttp.ClientSession(admin.url) as http,
        http.request(method, path, headers=sent, **kwargs) as response,
    ):
        return (
            response.status,
            response.content_type,
            dict(response.headers),
            await response.read(),
        )


def problem(body: bytes) -> dict[str, Any]:
    decoded = msgspec.json.decode(body)
    assert isinstance(decoded, dict)
    assert {"type", "title", "status"} <= decoded.keys()
    return decoded


def concrete(path: str, admin: Admin) -> str:
    if path.startswith("/reconciliation/"):  # a run, a break and a period of the right shapes
        return (
            path.replace("{id}", "rec_20261201T000000_00000000")
            .replace("{break}", "brk_" + "0" * 20)
            .replace("{period}", "2026-11")
        )
    return path.replace("{id}", admin.dead[-1].id).replace("{key}", admin.dead[-1].key)


async def test_health_and_readiness_need_no_token(admin: Admin) -> None:
    status, kind, _, body = await call(admin, "GET", "/readyz")
    assert (status, kind) == (200, "application/json")
    assert msgspec.json.decode(body, type=Readiness) == Readiness(ready=True, state="ready")
    status, _, _, body = await call(admin, "GET", "/healthz")
    health = msgspec.json.decode(body, type=Health)
    assert status == 200
    assert health.status == "ok"
    assert health.parts is not None
    assert set(health.parts.systems) == {"harvest", "tryton"}


@pytest.mark.parametrize(
    "endpoint", [e for e in ENDPOINTS if e.role is not None], ids=lambda e: f"{e.method} {e.path}"
)
async def test_every_protected_endpoint_refuses_a_missing_or_wrong_token(
    admin: Admin, endpoint: Any
) -> None:
    path = concrete(endpoint.path, admin)
    for headers, error in (
        ({}, None),
        ({"Authorization": "Bearer not-a-token"}, 'error="invalid_token"'),
        (
            {"Authorization": f"Basic {admin.headers('viewer')['Authorization'][7:]}"},
            "invalid_request",
        ),
        (
            {"Authorization": "Bearer " + admin.headers("viewer")["Authorization"][7:-1]},
            "invalid_token",
        ),
    ):
        status, kind, sent, body = await call(
            admin, endpoint.method, path, headers=headers, json={"reason": "x"}
        )
        assert status == 401, (headers, body)
        assert kind == "application/problem+json"
        assert sent["WWW-Authenticate"].startswith('Bearer realm="mediator"')
        if error:
            assert error in sent["WWW-Authenticate"]
        assert problem(body)["status"] == 401


@pytest.mark.parametrize(
    "endpoint", [e for e in ENDPOINTS if e.role == "operator"], ids=lambda e: f"{e.method} {e.path}"
)
async def test_a_viewer_may_not_act(admin: Admin, endpoint: Any) -> None:
    status, kind, _, body = await call(
        admin,
        endpoint.method,
        concrete(endpoint.path, admin),
        role="viewer",
        json={"reason": "trying", "dry_run": False},
    )
    assert (status, kind) == (403, "application/problem+json")
    assert "viewer" in problem(body)["detail"]


@pytest.mark.parametrize("role", ["viewer", "operator"])
async def test_both_roles_read_every_read_endpoint(admin: Admin, role: str) -> None:
    answers = {
        "/flows": FlowsAnswer,
        "/systems": SystemsAnswer,
        "/posting-windows": WindowsAnswer,
        "/dead-letters": DeadLetterPage,
        "/dead-letters/groups": DeadLetterGroups,
        f"/dead-letters/{admin.dead[-1].id}": DeadLetterDetail,
        f"/entities/{admin.dead[-1].key}": EntityHistory,
        "/approvals": ApprovalList,
        "/audit": AuditPage,
        "/reconciliation/runs": RunList,
    }
    # a run to read (its breaks: the fixture's entries died for want of xrefs), no sign-off
    status, _, _, body = await call(
        admin,
        "POST",
        "/reconciliation/runs",
        role="operator",
        json={"period": "2026-11", "scope": ["time"]},
    )
    assert status == 200, body
    run = msgspec.json.decode(body, type=Report)
    answers[f"/reconciliation/runs/{run.run_id}"] = Report
    reads = {e.path for e in ENDPOINTS if e.method == "GET" and e.role == "viewer"}
    assert len(reads) == len(answers) + 1  # and the sign-off, which a period has not yet:
    status, _, _, body = await call(
        admin, "GET", "/reconciliation/periods/2026-11/sign-off", role=role
    )
    assert status == 404
    assert problem(body)["field"] == "path.period"
    for path, kind in answers.items():
        status, content, _, body = await call(admin, "GET", path, role=role)
        assert (status, content) == (200, "application/json"), (path, body)
        msgspec.json.decode(body, type=kind)  # the answer is what the document says


async def test_flows_systems_and_windows_say_what_a_status_page_needs(admin: Admin) -> None:
    _, _, _, body = await call(admin, "GET", "/flows", role="viewer")
    [flow] = msgspec.json.decode(body, type=FlowsAnswer).flows
    assert flow.name == "approved_time"
    assert flow.dead_letters == len(await admin.mediator.dead_letters(_all(), limit=10_000))
    assert flow.failed >= len(admin.dead)  # every delivery failed: no xrefs were onboarded
    assert flow.last_15_minutes >= flow.last_minute > 0
    _, _, _, body = await call(admin, "GET", "/systems", role="viewer")
    systems = {s.name: s for s in msgspec.json.decode(body, type=SystemsAnswer).systems}
    assert set(systems) == {"harvest", "tryton"}
    assert systems["harvest"].calls > 0
    assert all(b.system == "harvest" for b in systems["harvest"].breakers)
    _, _, _, body = await call(admin, "GET", "/posting-windows", role="viewer")
    windows = msgspec.json.decode(body, type=WindowsAnswer).windows
    assert "finance" in {w.name for w in windows}
    now = admin.mediator.clock.time()
    for w in windows:
        assert w.next_change is None or w.next_change >= now


def _all() -> Any:
    from mediator.journal import DeadLetterFilter

    return DeadLetterFilter()


async def test_dead_letters_page_through_every_one_once_and_filter(admin: Admin) -> None:
    seen: list[str] = []
    cursor: int | None = None
    while True:
        params = {"limit": "3", **({"cursor": str(cursor)} if cursor is not None else {})}
        status, _, _, body = await call(admin, "GET", "/dead-letters", role="viewer", params=params)
        assert status == 200
        page = msgspec.json.decode(body, type=DeadLetterPage)
        assert len(page.items) <= 3
        seen.extend(e.id for e in page.items)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    everything = await admin.mediator.dead_letters(_all(), limit=10_000)
    assert sorted(seen) == sorted(e.id for e in everything)
    assert len(seen) == len(set(seen))
    one = everything[0]
    for params, expected in (
        ({"flow": "approved_time"}, len(everything)),
        ({"owner": "nobody-owns-this"}, 0),
        (
            {"kind": one.envelope.kind},
            sum(e.envelope.kind == one.envelope.kind for e in everything),
        ),
        ({"error_class": "no-such-class"}, 0),
        ({"entity": one.key}, sum(e.key == one.key for e in everything)),
        ({"older_than": "86400"}, 0),
        ({"newer_than": "86400"}, len(everything)),
    ):
        _, _, _, body = await call(
            admin, "GET", "/dead-letters", role="viewer", params={**params, "limit": "500"}
        )
        assert len(msgspec.json.decode(body, type=DeadLetterPage).items) == expected, params


async def test_dead_letters_are_counted_by_cause_with_their_flow_and_owner(admin: Admin) -> None:
    _, _, _, body = await call(admin, "GET", "/dead-letters/groups", role="viewer")
    groups = msgspec.json.decode(body, type=DeadLetterGroups).groups
    everything = await admin.mediator.dead_letters(_all(), limit=10_000)
    assert sum(g.count for g in groups) == len(everything)
    causes = {(e.envelope.kind, e.system, e.error_class) for e in everything}
    assert {(g.kind, g.system, g.error_class) for g in groups} == causes
    assert [g.count for g in groups] == sorted((g.count for g in groups), reverse=True)
    for g in groups:
        assert (g.flow, g.owner) == ("approved_time", "delivery")
        assert g.oldest_at == min(
            e.updated_at
            for e in everything
            if (e.envelope.kind, e.system, e.error_class) == (g.kind, g.system, g.error_class)
        )


async def test_one_dead_letter_shows_envelope_error_attempts_and_lineage_after_a_replay(
    admin: Admin,
) -> None:
    target = admin.dead[3]
    path = f"/dead-letters/{target.id}"
    _, _, _, body = await call(admin, "GET", path, role="viewer")
    detail = msgspec.json.decode(body, type=DeadLetterDetail)
    assert detail.entry.state == "dead"
    assert detail.entry.attempts >= 1
    assert detail.entry.error_class is not None
    assert detail.flow == "approved_time"
    assert detail.owner
    assert [e.id for e in detail.lineage] == [target.id]
    assert msgspec.json.decode(detail.payload) == msgspec.json.decode(target.envelope.payload)

    # a dry run (the default) changes nothing
    status, _, _, body = await call(admin, "POST", f"{path}/replay", role="operator", json={})
    dry = msgspec.json.decode(body, type=ReplayResult)
    assert status == 200
    assert dry.dry_run
    assert [e.replay_of for e in dry.sent] == [target.id]
    assert (await admin.mediator.reader.entry(target.id)).state.name == "DEAD"  # type: ignore[union-attr]
    # a real one needs a reason
    status, _, _, body = await call(
        admin, "POST", f"{path}/replay", role="operator", json={"dry_run": False}
    )
    assert status == 400
    assert problem(body)["field"] == "body.reason"
    status, _, _, body = await call(
        admin,
        "POST",
        f"{path}/replay",
        role="operator",
        json={"dry_run": False, "reason": "xref loaded"},
    )
    sent = msgspec.json.decode(body, type=ReplayResult)
    assert status == 200
    assert not sent.dry_run
    assert len(sent.sent) == 1
    await admin.mediator.wait_idle()  # delivered again, and dead again: still no xref
    _, _, _, body = await call(admin, "GET", path, role="viewer")
    detail = msgspec.json.decode(body, type=DeadLetterDetail)
    assert detail.entry.state == "replayed"
    assert [e.id for e in detail.lineage] == [target.id, sent.sent[0].id]
    assert detail.lineage[1].replay_of == target.id
    records = await _audit(admin)
    assert any(
        r["action"] == "replay"
        and r["target"] == target.id
        and r["who"] == "alice"
        and r["reason"] == "xref loaded"
        and r["detail"] == "sent 1, quarantined 0"
        for r in records
    )


async def _audit(admin: Admin) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"limit": "2", **({"cursor": str(cursor)} if cursor is not None else {})}
        _, _, _, body = await call(admin, "GET", "/audit", role="viewer", params=params)
        page = msgspec.json.decode(body)
        items.extend(page["items"])
        if page["next_cursor"] is None:
            return items
        cursor = page["next_cursor"]


@pytest.mark.parametrize("action", ["release", "discard"])
async def test_release_and_discard_close_a_dead_letter_and_are_audited(
    admin: Admin, action: str
) -> None:
    target = admin.dead[4 if action == "release" else 5]
    path = f"/dead-letters/{target.id}/{action}"
    status, _, _, body = await call(admin, "POST", path, role="operator", json={})
    assert status == 400
    assert problem(body)["field"] == "body.reason"
    status, _, _, body = await call(
        admin, "POST", path, role="operator", json={"reason": f"{action} by the test"}
    )
    assert status == 200, body
    closed = msgspec.json.decode(body, type=CloseResult)
    assert closed.entry.state == ("released" if action == "release" else "discarded")
    assert closed.entry.released_by == "alice"
    status, _, _, body = await call(admin, "POST", path, role="operator", json={"reason": "again"})
    assert status == 404
    assert problem(body)["field"] == "path.id"
    [record] = [r for r in await _audit(admin) if r["target"] == target.id]
    assert record["action"] == action
    assert record["who"] == "alice"
    assert record["role"] == "operator"
    assert record["reason"] == f"{action} by the test"
    assert record["at"] > 0
    assert any(f"alice {action} (operator) {target.id}" in line for line in admin.log.lines)
    _, _, _, body = await call(admin, "GET", f"/entities/{target.key}", role="viewer")
    history = msgspec.json.decode(body, type=EntityHistory)
    assert closed.entry.state in {e.state for e in history.entries}


async def test_an_entity_history_says_where_it_is_and_why_it_is_stuck(admin: Admin) -> None:
    target = admin.dead[6]
    status, _, _, body = await call(admin, "GET", f"/entities/{target.key}", role="viewer")
    assert status == 200
    history = msgspec.json.decode(body, type=EntityHistory)
    assert history.key == target.key
    assert target.id in {e.id for e in history.entries}
    assert history.complete  # a small journal: every entry of the entity was searched
    assert [e.id for e in history.entries] == sorted(e.id for e in history.entries)
    assert "open dead letter" in history.summary
    assert (target.reason or "") in history.summary
    status, _, _, body = await call(admin, "GET", "/entities/time_entry:no-such", role="viewer")
    assert status == 404
    assert problem(body)["field"] == "path.key"


async def test_approvals_are_listed_decided_once_and_audited(admin: Admin) -> None:
    first, second, _ = admin.approvals
    _, _, _, body = await call(
        admin, "GET", "/approvals", role="viewer", params={"state": "pending"}
    )
    pending = {a.id for a in msgspec.json.decode(body, type=ApprovalList).items}
    assert {first.id, second.id} <= pending
    status, _, _, body = await call(
        admin, "POST", f"/approvals/{first.id}/approve", role="operator", json={"reason": "checked"}
    )
    approved = msgspec.json.decode(body, type=Approval)
    assert status == 200
    assert (approved.state, approved.decided_by, approved.reason) == (
        "approved",
        "alice",
        "checked",
    )
    status, _, _, body = await call(
        admin,
        "POST",
        f"/approvals/{first.id}/reject",
        role="operator",
        json={"reason": "changed my mind"},
    )
    assert status == 409
    assert "already approved" in problem(body)["detail"]
    status, _, _, body = await call(
        admin,
        "POST",
        f"/approvals/{second.id}/reject",
        role="operator",
        json={"reason": "too large"},
    )
    assert msgspec.json.decode(body, type=Approval).state == "rejected"
    status, _, _, body = await call(
        admin, "POST", f"/approvals/{NO_ID}/approve", role="operator", json={"reason": "x"}
    )
    assert status == 404
    records = {(r["action"], r["target"], r["who"]) for r in await _audit(admin)}
    assert ("approve", first.id, "alice") in records
    assert ("reject", second.id, "alice") in records
    _, _, _, body = await call(admin, "GET", f"/entities/{first.entity}", role="viewer")
    assert first.id in {a.id for a in msgspec.json.decode(body, type=EntityHistory).approvals}


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "field"),
    [
        ("POST", "/dead-letters/replay", {"data": b"{not json"}, 400, "body"),
        ("POST", "/dead-letters/replay", {"data": b"[" * 50_00 + b"]" * 50_00}, 413, None),
        (
            "POST",
            "/dead-letters/replay",
            {"data": b'{"ids": ' + b"[" * 400 + b"]" * 400 + b"}"},
            400,
            "body.ids[0]",
        ),
        ("POST", "/dead-letters/replay", {"json": {"dry_run": "yes"}}, 400, "body.dry_run"),
        ("POST", "/dead-letters/replay", {"json": {"ids": ["xyz"]}}, 400, "body.ids[0]"),
        ("POST", "/dead-letters/replay", {"json": {"surprise": 1}}, 400, "body.surprise"),
        ("POST", "/dead-letters/replay", {"data": b"x" * 4096}, 413, None),
        ("GET", "/dead-letters", {"params": {"limit": "many"}}, 400, "query.limit"),
        ("GET", "/dead-letters", {"params": {"limit": "0"}}, 400, "query.limit"),
        ("GET", "/dead-letters", {"params": {"older_than": "-1"}}, 400, "query.older_than"),
        ("GET", "/dead-letters", {"params": {"colour": "red"}}, 400, "query.colour"),
        ("GET", "/dead-letters", {"params": {"flow": "nope"}}, 400, "query.flow"),
        ("GET", "/flows", {"params": {"x": "1"}}, 400, "query.x"),
        ("GET", "/dead-letters/not-hex", {}, 400, "path.id"),
        ("POST", "/approvals/not-hex/approve", {"json": {"reason": "r"}}, 400, "path.id"),
        ("POST", "/dead-letters/not-hex/release", {"json": {"reason": "r"}}, 400, "path.id"),
        ("GET", f"/dead-letters/{NO_ID}", {}, 404, "path.id"),
        ("GET", "/nowhere", {}, 404, None),
        ("DELETE", "/dead-letters", {}, 405, None),
    ],
)
async def test_bad_requests_are_problems_naming_the_field(
    admin: Admin, method: str, path: str, kwargs: dict[str, Any], status: int, field: str | None
) -> None:
    got, kind, _, body = await call(admin, method, path, role="operator", **kwargs)
    assert (got, kind) == (status, "application/problem+json"), body
    found = problem(body)
    assert found["status"] == status
    assert found.get("field") == field
    if status == 413:
        assert "1024 bytes" in found["detail"]


async def test_the_openapi_document_is_generated_from_the_handlers_types(admin: Admin) -> None:
    status, _, _, body = await call(admin, "GET", "/openapi.json")
    document = msgspec.json.decode(body)
    assert status == 200
    assert document["openapi"] == "3.1.0"
    for endpoint in ENDPOINTS:
        operation = document["paths"][endpoint.path][endpoint.method.lower()]
        schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
        name = schema["$ref"].rsplit("/", 1)[1]
        assert name == endpoint.response.__name__
        assert name in document["components"]["schemas"]
        assert operation["security"] == ([] if endpoint.role is None else [{"bearer": []}])
    listing = document["paths"]["/dead-letters"]["get"]["parameters"]
    assert {"flow", "owner", "kind", "system", "error_class", "older_than", "cursor", "limit"} <= {
        p["name"] for p in listing
    }


async def test_a_body_slower_than_the_timeout_is_a_408_problem(admin: Admin) -> None:
    # a client that promises a body and sends only part of it holds no handler for long, and
    # the fault is the client's: 408 (the 504 is for a handler slower than the deadline)
    host, port = admin.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(
            b"POST /dead-letters/replay HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + b"Authorization: " + admin.headers("operator")["Authorization"].encode()
            + b"\r\nContent-Length: 100\r\n\r\n{\"dry_run\": "
        )  # fmt: skip
        await writer.drain()
        async with asyncio.timeout(REQUEST_TIMEOUT + 10):
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            body = await reader.readexactly(length)
    finally:
        writer.close()
    assert head.startswith(b"HTTP/1.1 408 ")
    assert b"application/problem+json" in head
    assert b"connection: close" in head.lower()  # the stream is no longer framed
    assert problem(body)["status"] == 408


async def test_a_replay_by_filter_is_a_dry_run_of_the_matching_dead_letters(admin: Admin) -> None:
    kind = admin.dead[0].envelope.kind
    status, _, _, body = await call(
        admin, "POST", "/dead-letters/replay", role="operator", json={"kind": kind}
    )
    result = msgspec.json.decode(body, type=ReplayResult)
    assert status == 200
    assert result.dry_run
    assert not result.more_matching
    dead = await admin.mediator.dead_letters(_all(), limit=10_000)
    expected = {e.id for e in dead if e.envelope.kind == kind and e.state.name == "DEAD"}
    assert {e.replay_of for e in result.sent} == expected
    assert all(e.id == "" for e in result.sent)  # ids are given only when written


async def test_a_replay_names_at_most_500_ids() -> None:
    # (the test daemon's 1 KiB body limit is below 501 ids: the bound is the request type's)
    from mediator.admin.models import ReplayRequest

    body = msgspec.json.encode({"ids": ["0" * 32] * 501})
    with pytest.raises(msgspec.ValidationError, match=r"length <= 500 - at `\$.ids`"):
        msgspec.json.decode(body, type=ReplayRequest)
    fits = msgspec.json.encode({"ids": ["0" * 32] * 500})
    assert len(msgspec.json.decode(fits, type=ReplayRequest).ids) == 500


async def test_a_blank_reason_is_refused_and_a_replay_of_no_dead_letter_is_404(
    admin: Admin,
) -> None:
    target = admin.dead[7]
    path = f"/dead-letters/{target.id}/release"
    status, _, _, body = await call(admin, "POST", path, role="operator", json={"reason": "  "})
    assert status == 400
    assert problem(body)["field"] == "body.reason"
    status, _, _, body = await call(admin, "POST", path, role="operator", json={"reason": "done"})
    assert status == 200, body
    before = len(await _audit(admin))
    replay = f"/dead-letters/{target.id}/replay"
    status, _, _, body = await call(
        admin, "POST", replay, role="operator", json={"dry_run": False, "reason": "again"}
    )
    assert status == 404
    assert problem(body)["field"] == "path.id"
    assert len(await _audit(admin)) == before  # no action, so no audit record


async def test_a_body_the_client_cannot_deliver_is_a_4xx(admin: Admin) -> None:
    target = admin.dead[8]
    path = f"/dead-letters/{target.id}/release"
    status, _, _, body = await call(
        admin,
        "POST",
        path,
        role="operator",
        data=b"\x1f\x8bnot gzip",
        headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
    )
    assert status == 400, body
    assert problem(body)["field"] == "body"
    host, port = urllib.parse.urlsplit(admin.url).netloc.rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(
            f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n"
            f"Authorization: {admin.headers('operator')['Authorization']}\r\n\r\n{{}}".encode()
        )
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), timeout=10)
        assert b" 413 " in status_line  # at once, not after the request's deadline
    finally:
        writer.close()
