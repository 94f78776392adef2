"""Every package's `__all__` names only things that exist, and each public name has a docstring."""

import importlib
import pkgutil

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
