"""Every package's `__all__` names only things that exist, and each public name has a docstring."""

import importlib
import pkgutil
import types

import pytest

import mediator


def _modules() -> list[str]:
    names = ["mediator"]
    for info in pkgutil.walk_packages(mediator.__path__, "mediator."):
        names.append(info.name)
    return sorted(names)


@pytest.mark.parametrize("name", _modules())
def test_all_is_honest(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    if exported is None:
        assert name.rsplit(".", 1)[-1].startswith("_") or name.endswith("__main__"), (
            f"{name} declares no __all__"
        )
        return
    for attr in exported:
        assert hasattr(module, attr), f"{name}.__all__ names {attr!r}, which does not exist"
        obj = getattr(module, attr)
        if callable(obj) or isinstance(obj, type):
            assert obj.__doc__, f"{name}.{attr} has no docstring"


@pytest.mark.parametrize("name", _modules())
def test_all_is_complete_and_exports_nothing_private(name: str) -> None:
    """Like httpx's test_exported_members: every public name a module defines (a package:
    every public name it binds) is in `__all__`, and no private name is."""
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    if exported is None or name.rsplit(".", 1)[-1].startswith("_"):
        return  # a private module's names serve its package
    assert not [attr for attr in exported if attr.startswith("_")], f"{name} exports private"
    is_package = hasattr(module, "__path__")
    missing = []
    for attr, obj in vars(module).items():
        if attr.startswith("_") or isinstance(obj, types.ModuleType):
            continue
        defined_here = getattr(obj, "__module__", None) == name
        public = (is_package or defined_here) and (callable(obj) or isinstance(obj, type))
        if public and attr not in exported:
            missing.append(attr)
    assert not missing, f"{name} defines public names missing from __all__: {missing}"
