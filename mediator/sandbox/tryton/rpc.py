"""Dispatching `model.<model>.<method>` and `wizard.<name>.<method>` calls to the database.

Only methods in a model's `__rpc__` (ModelStorage's and its buttons) are callable, others
answer 403; the context must be the last positional parameter, else 422 "Missing context
argument", as trytond's `RPC.convert` demands. Creates and writes over RPC may not set a
read-only field (nested one2many values included): trytond 8.2 refuses them with a UserError
before it touches anything, even when the value is unchanged or null.
"""

from __future__ import annotations

from mediator.codecs import RpcValue
from mediator.sandbox.tryton.database import Record, TrytonDatabase
from mediator.sandbox.tryton.errors import HttpRefusal, user_error
from mediator.sandbox.tryton.invoices import PayWizard, run_button
from mediator.sandbox.tryton.projects import invoice_projects
from mediator.sandbox.tryton.schema import MODELS

__all__ = ["call_model", "call_wizard", "split_context"]


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
        raise HttpRefusal(403, f"Calling method {method} on {model} is not allowed.")
    args, context = split_context(params)
    if method == "create":
        vals_list = _arg(args, 0, [])
        _refuse_readonly_in(model, vals_list if isinstance(vals_list, list) else [])
        return db.create(model, vals_list)
    if method == "read":
        return db.read(model, _arg(args, 0, []), _arg(args, 1))
    if method == "write":
        _refuse_readonly_in(model, args[1::2])
        db.write(model, list(args), context)
        return None
    if method == "delete":
        db.delete(model, _arg(args, 0, []), context)
        return None
    if method in ("search", "search_read"):
        ids = db.search(model, _arg(args, 0, []), _arg(args, 1, 0), _arg(args, 2), _arg(args, 3))
        if method == "search":
            return ids
        return db.read(model, ids, _arg(args, 4))
    if method == "search_count":
        return len(db.search(model, _arg(args, 0, [])))
    if model == "res.user" and method == "get_preferences":
        return preferences
    if model == "project.work" and method == "invoice":
        invoice_projects(db, _arg(args, 0, []))
        return None
    run_button(db, method, _arg(args, 0, []))
    return None


def _refuse_readonly_in(model: str, vals_list: list[RpcValue]) -> bool:
    """Refuse a read-only field in any of `vals_list`; False if the look stopped early."""
    return all(_refuse_readonly(model, vals) for vals in vals_list)  # lazy: stops at False


def _refuse_readonly(model: str, vals: object) -> bool:
    """Refuse a read-only field in `vals`, looking in field order as trytond does.

    Return False at an unknown field: trytond's KeyError for it comes first, and the database
    raises it in the same order, so the look stops there.
    """
    if not isinstance(vals, dict):
        return False  # the database refuses the malformed call itself
    definition = MODELS[model]
    for name, value in vals.items():
        spec = definition.fields.get(name)
        if spec is None:
            return False
        if spec.readonly:
            raise user_error(
                f'You are not allowed to modify the field "{spec.string}" of "{definition.string}".'
            )
        if spec.kind == "one2many" and spec.relation is not None and isinstance(value, list):
            for action in value:
                if not _refuse_nested(spec.relation, action):
                    return False
    return True


def _refuse_nested(model: str, action: object) -> bool:
    if not isinstance(action, list) or not action:
        return False
    if action[0] == "create" and len(action) > 1 and isinstance(action[1], list):
        return _refuse_readonly_in(model, action[1])
    if action[0] == "write":
        return _refuse_readonly_in(model, action[2::2])
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
    if wizard is None or method not in ("create", "execute", "delete"):
        raise HttpRefusal(403, f"Calling wizard {name}.{method} is not allowed.")
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
