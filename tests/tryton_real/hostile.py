"""Archived records and hostile calls, as a scenario for the fidelity check.

Archived records: trytond hides inactive records from search, search_count and search_read
unless the context has a falsy ``active_test`` or a level of the domain names ``active``
itself; it still reads them by id, and refuses a write to any field of an inactive record but
``active``. Hostile calls: unknown kinds, objects and methods, wrong argument counts and
types, bad orders, offsets and limits, ids SQLite cannot hold. Search results are kept as
facts (which of the scenario's own parties were found), since the two databases number
records apart; every other answer is compared word for word (`HOSTILE_STEPS`).
"""

from __future__ import annotations

from .client import TrytonClient
from .scenario import Run

HUGE = 99_999_999_999_999_999_999


def _steps(archived: int, other: int) -> dict[str, tuple[str, list[object]]]:
    """Calls whose whole answer must match: name → (method, params before the context)."""
    party = "model.party.party"
    return {
        "read_archived": (f"{party}.read", [[archived], ["code"]]),
        "write_archived_name": (f"{party}.write", [[archived], {"name": "Renamed"}]),
        "write_archived_active_and_name": (
            f"{party}.write",
            [[archived], {"active": True, "name": "Renamed"}],
        ),
        "write_both_name": (f"{party}.write", [[other, archived], {"name": "Renamed"}]),
        "create_inactive_named": (f"{party}.create", [[{"name": "Gone", "active": False}]]),
        "unknown_namespace": ("foo.bar.baz", [[]]),
        "no_dot": ("foo", []),
        "empty_object": ("foo.bar", []),
        "common_unknown": ("common.db.foo", []),
        "unknown_model": ("model.foo.bar.baz.search", [[]]),
        "model_without_method": ("model.party.party", []),
        "unknown_method": (f"{party}.nosuch", [[]]),
        "unknown_wizard": ("wizard.foo.create", []),
        "unknown_wizard_method": ("wizard.account.invoice.pay.nosuch", []),
        "report_arity": ("report.foo.execute", []),
        "report_too_many": ("report.foo.execute", [[1], {}, 5]),
        "search_no_domain": (f"{party}.search", []),
        "search_too_many": (f"{party}.search", [[], 0, None, None, False, 1, 2]),
        "search_count_flag": (f"{party}.search", [[["code", "=", "-"]], 0, None, None, 5]),
        "read_no_arguments": (f"{party}.read", []),
        "read_int_ids": (f"{party}.read", [other, ["name"]]),
        "read_string_fields": (f"{party}.read", [[other], "name"]),
        "read_null_fields": (f"{party}.read", [[other], None]),
        "read_unknown_field": (f"{party}.read", [[other], ["nosuch"]]),
        "read_no_fields": (f"{party}.read", [[other], []]),
        "search_read_no_fields": (f"{party}.search_read", [[["id", "=", other]], 0, 1, None, None]),
        "read_missing_id": (f"{party}.read", [[999_999_999], ["name"]]),
        "read_huge_id": (f"{party}.read", [[HUGE], ["name"]]),
        "write_missing_id": (f"{party}.write", [[999_999_999], {"name": "x"}]),
        "write_huge_id": (f"{party}.write", [[HUGE], {"name": "x"}]),
        "write_no_values": (f"{party}.write", [[other]]),
        "delete_missing_id": (f"{party}.delete", [[999_999_999]]),
        "delete_huge_id": (f"{party}.delete", [[HUGE]]),
        "delete_string_id": (f"{party}.delete", ["x"]),
        "search_huge_value": (f"{party}.search", [[["id", "=", HUGE]]]),
        "search_unknown_field": (f"{party}.search", [[["nosuch", "=", 1]]]),
        "order_unknown_field": (f"{party}.search", [[], 0, None, [["nosuch", "ASC"]]]),
        "order_bad_direction": (f"{party}.search", [[], 0, None, [["name", "SIDEWAYS"]]]),
        "order_one_item": (f"{party}.search", [[], 0, None, [["name"]]]),
        "order_flat": (f"{party}.search", [[], 0, None, ["name"]]),
        "offset_text": (f"{party}.search", [[], "a", None, None]),
        "limit_text": (f"{party}.search", [[], 0, "x", None]),
        "offset_huge": (f"{party}.search", [[], HUGE, None, None]),
        "create_unknown_field": (f"{party}.create", [[{"nosuch": 1}]]),
    }


# envelopes with odd members, sent as raw bytes
_COUNT = b'"method":"model.party.party.search_count","params":[[["code","=","-"]],{}]'
RAW_STEPS: dict[str, bytes] = {
    "method_null": b'{"id":1,"method":null,"params":[{}]}',
    "method_number": b'{"id":1,"method":5,"params":[{}]}',
    "method_list": b'{"id":1,"method":["a.b"],"params":[{}]}',
    "method_number_bare": b'{"method":5,"params":[{}]}',
    "no_method": b'{"id":1,"params":[{}]}',
    "no_params": b'{"id":1,"method":"model.party.party.search_count"}',
    "id_list": b'{"id":[1],' + _COUNT + b"}",
    "id_map": b'{"id":{"a":1},' + _COUNT + b"}",
    "id_true": b'{"id":true,' + _COUNT + b"}",
    "id_float": b'{"id":1.5,' + _COUNT + b"}",
    "params_string": b'{"id":1,"method":"model.party.party.search_count","params":"ab"}',
    "params_number": b'{"id":1,"method":"model.party.party.search_count","params":5}',
    "params_null": b'{"id":1,"method":"model.party.party.search_count","params":null}',
    "not_an_object": b"[1,2]",
    "not_json": b"nope",
}

HOSTILE_STEPS = set(_steps(0, 0)) | set(RAW_STEPS)


async def archived_and_hostile(
    client: TrytonClient, login: str, password: str, *, tag: str, run: Run | None = None
) -> Run:
    """Archive one of two parties, search for them every way, then make hostile calls."""
    run = run if run is not None else Run()
    await client.login(login, password)
    codes = [f"ARCH-{tag}", f"LIVE-{tag}"]
    archived, live = await client.model(
        "party.party",
        "create",
        [{"name": f"Archived {tag}", "code": codes[0]}, {"name": f"Live {tag}", "code": codes[1]}],
    )
    await client.model("party.party", "write", [archived], {"active": False})
    labels = {archived: "archived", live: "live"}
    mine = ["code", "in", codes]
    searches: dict[str, tuple[list[object], dict[str, object]]] = {
        "plain": ([mine], {}),
        "active_test_false": ([mine], {"active_test": False}),
        "active_test_zero": ([mine], {"active_test": 0}),
        "active_test_null": ([mine], {"active_test": None}),
        "active_false": ([mine, ["active", "=", False]], {}),
        "active_either": ([mine, ["active", "in", [True, False]]], {}),
        "active_not_true": ([mine, ["active", "!=", True]], {}),
        "or_without_active": (["OR", ["code", "=", codes[0]], ["code", "=", codes[1]]], {}),
        "or_with_active": (["OR", ["code", "=", codes[0]], ["active", "=", False]], {}),
        "nested_active": ([mine, ["OR", ["active", "=", False], ["code", "=", "-"]]], {}),
        "bare_or": ([mine, ["OR"]], {"active_test": False}),
        "in_a_string": ([mine, ["code", "in", "LIVE"]], {"active_test": False}),
    }
    for name, (domain, extra) in searches.items():
        # the server's database is shared with other tests: only this scenario's parties count
        context = {**client.context, **extra}
        found = await client.call("model.party.party.search", domain, 0, None, None, context)
        assert isinstance(found, list)
        run.facts[f"search {name}"] = sorted(labels[i] for i in found if i in labels)
        if mine in domain:  # bounded to this scenario's parties: the count is comparable
            count = await client.call("model.party.party.search_count", domain, context)
            run.facts[f"search_count {name}"] = count
        rows = await client.call(
            "model.party.party.search_read", domain, 0, None, None, ["code"], context
        )
        assert isinstance(rows, list)
        run.facts[f"search_read {name}"] = sorted(
            str(r["code"]) for r in rows if r["code"] in codes
        )
    run.facts["search_count offset"] = await client.call(
        "model.party.party.search_count", [mine], 1, None, {**client.context, "active_test": False}
    )
    for step, (method, params) in _steps(archived, live).items():
        run.answers[step] = await client.request(method, *params, client.context)
    # a party needs no name, so an inactive one without other values is created (an id: a fact)
    unnamed = await client.request("model.party.party.create", [{"active": False}], client.context)
    wire = unnamed.wire
    run.facts["create_inactive_unnamed"] = sorted(wire) if isinstance(wire, dict) else wire
    for step, body in RAW_STEPS.items():
        run.answers[step] = await client.post(body)
    return run
