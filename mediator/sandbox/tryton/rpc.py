"""Dispatching `model.<model>.<method>` and `wizard.<name>.<method>` calls to the database.

Only methods in a model's `__rpc__` (ModelStorage's and its buttons) are callable, others
answer 403; the context must be the last positional parameter, else 422 "Missing context
argument", as trytond's `RPC.convert` demands; a wrong argument count is Python's TypeError
text (`arguments`). Creates and writes over RPC may not set a read-only field (nested one2many
values included), nor any field but `active` of an archived record: trytond 8.2 refuses them
with a UserError before it touches anything, even when the value is unchanged or null.
Searches of a model with `active` hide archived records unless the context's `active_test`
is falsy or the domain names `active` (`domain.only_active`).
"""

from __future__ import annotations

from mediator.codecs.tryton import RpcValue
from mediator.sandbox.tryton.arguments import check_arity, server_error, want_list
from mediator.sandbox.tryton.database import Record, TrytonDatabase
from mediator.sandbox.tryton.domain import only_active
from mediator.sandbox.tryton.errors import HttpRefusal, user_error
from mediator.sandbox.tryton.invoices import PayWizard, run_button
from mediator.sandbox.tryton.projects import invoice_projects
from mediator.sandbox.tryton.schema import MODELS

__all__ = ["call_model", "call_wizard", "known_methods", "split_context"]


def split_context(params: list[RpcValue]) -> tuple[list[RpcValue], Record]:
    """Return the positional arguments and the trailing context, or refuse with 422."""
    if not params or not isinstance(params[-1], dict):
        raise HttpRefusal(422, "Missing context argument")
    return params[:-1], dict(params[-1])


def _arg(args: list[RpcValue], index: int, default: RpcValue = None) -> RpcValue:
    return args[index] if len(args) > index else default


def call_model(
    db: TrytonDatabase, model: str, method: str, params: list[RpcValue], preferences: Record
) -> object:
    """Run `model.<model>.<method>` with `params` (context last) and return its result."""
    definition = db.model(model)
    if method not in definition.storage and method not in definition.buttons:
        raise HttpRefusal(403)
    args, context = split_context(params)
    check_arity(method, args)
    if method == "create":
        vals_list = want_list(args[0])
        _refuse_readonly_in(db, model, vals_list, None)
        return db.create(model, vals_list)
    if method == "read":
        return db.read(model, want_list(args[0]), want_list(args[1]))
    if method == "write":
        for ids, vals in zip(args[::2], args[1::2], strict=False):
            _refuse_readonly_in(db, model, [vals], want_list(ids))
        db.write(model, list(args), context)
        return None
    if method == "delete":
        db.delete(model, want_list(args[0]), context)
        return None
    if method in ("search", "search_read", "search_count"):
        domain: object = args[0]
        if definition.deactivable and context.get("active_test", True):
            domain = only_active(domain)
        offset, limit = _arg(args, 1, 0), _arg(args, 2)
        order = None if method == "search_count" else _arg(args, 3)
        found = db.search(model, domain, offset, limit, order)
        if method == "search":
            if _arg(args, 4):  # count: trytond then fails converting the count to ids
                raise server_error("'int' object is not iterable")
            return found
        if method == "search_count":
            return len(found)
        return db.read(model, found, _arg(args, 4))
    if model == "res.user" and method == "get_preferences":
        return preferences
    if model == "project.work" and method == "invoice":
        invoice_projects(db, _arg(args, 0, []))
        return None
    run_button(db, method, _arg(args, 0, []))
    return None


def _refuse_readonly_in(
    db: TrytonDatabase, model: str, vals_list: list[RpcValue], ids: list[RpcValue] | None
) -> bool:
    """Refuse a read-only field in any of `vals_list`; False if the look stopped early.

    `ids` are the records a write changes (None for a create), for the states rule.
    """
    return all(_refuse_readonly(db, model, vals, ids) for vals in vals_list)  # lazy


def _refuse_readonly(
    db: TrytonDatabase, model: str, vals: object, ids: list[RpcValue] | None
) -> bool:
    """Refuse a read-only field in `vals`, looking in field order as trytond does.

    A field of a deactivable model is read-only while the record is inactive (trytond's
    `DeactivableMixin` adds that state to every field but `active`): a write to an archived
    record, or a create with `active` false, is refused naming the record. Return False at
    an unknown field: trytond's KeyError for it comes first, and the database raises it in
    the same order, so the look stops there.
    """
    if not isinstance(vals, dict):
        return False  # the database refuses the malformed call itself
    definition = MODELS[model]
    inactive = _inactive_name(db, model, vals, ids) if definition.deactivable else None
    for name, value in vals.items():
        spec = definition.fields.get(name)
        if spec is None:
            return False
        if spec.readonly:
            raise user_error(
                f'You are not allowed to modify the field "{spec.string}" of "{definition.string}".'
            )
        if inactive is not None and name != "active" and spec.kind != "one2many":
            raise user_error(
                f'You are not allowed to modify the field "{spec.string}" in record '
                f'"{inactive}" of "{definition.string}".'
            )
        if spec.kind == "one2many" and spec.relation is not None and isinstance(value, list):
            for action in value:
                if not _refuse_nested(db, spec.relation, action):
                    return False
    return True


def _inactive_name(
    db: TrytonDatabase, model: str, vals: Record, ids: list[RpcValue] | None
) -> str | None:
    """The display name of the first inactive record the call changes, if any."""
    if ids is None:  # a create: the new record is inactive when its values say so
        if vals.get("active", True) is not False:
            return None
        rec_name = MODELS[model].rec_name
        named = vals.get(rec_name) if rec_name else None
        return str(named) if named else "(-1)"
    for record_id in ids:
        record = db.tables[model].get(record_id) if isinstance(record_id, int) else None
        if record is not None and record.get("active") is False:
            return db.rec_name(model, record)
    return None


def _refuse_nested(db: TrytonDatabase, model: str, action: object) -> bool:
    if not isinstance(action, list) or not action:
        return False
    if action[0] == "create" and len(action) > 1 and isinstance(action[1], list):
        return _refuse_readonly_in(db, model, action[1], None)
    if action[0] == "write" and len(action) > 1 and isinstance(action[1], list):
        return _refuse_readonly_in(db, model, action[2::2], action[1])
    return True


def call_wizard(
    db: TrytonDatabase,
    wizards: dict[str, PayWizard],
    name: str,
    method: str,
    params: list[RpcValue],
) -> object:
    """Run `wizard.<name>.<create|execute|delete>`."""
    wizard = wizards.get(name)
    if wizard is None:
        raise server_error(repr(name))  # the pool's KeyError
    if method not in ("create", "execute", "delete"):
        raise HttpRefusal(403)
    args, context = split_context(params)
    if method == "create":
        return wizard.create()
    if method == "delete":
        wizard.delete(_arg(args, 0))
        return None
    return wizard.execute(db, _arg(args, 0), _arg(args, 1), _arg(args, 2), context)


def known_methods() -> list[str]:
    """Return every callable method name (what `system.listMethods` lists)."""
    names = [
        f"model.{model.name}.{method}"
        for model in MODELS.values()
        for method in (*model.storage, *model.buttons)
    ]
    names += [f"wizard.account.invoice.pay.{m}" for m in ("create", "execute", "delete")]
    return names
