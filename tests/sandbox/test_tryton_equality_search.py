"""The Tryton sandbox's quick path for a one-clause equality search on a text field (a look-up
by reference) finds what its general domain matcher finds, in the same order."""

import pytest

from mediator.sandbox.tryton.database import TrytonDatabase
from mediator.sandbox.tryton.errors import RpcFault
from mediator.testing import FakeClock


@pytest.fixture
def db() -> TrytonDatabase:
    db = TrytonDatabase(FakeClock())
    db.create(
        "party.party",
        [
            {"name": "Zeta", "code": "C-1"},
            {"name": "Alpha", "code": "C-2"},
            {"name": "Alpha", "code": "C-3"},
            {"name": "Mid"},  # no code
        ],
    )
    return db


@pytest.mark.parametrize(
    ("field", "value"),
    [("code", "C-2"), ("code", "C-9"), ("code", ""), ("name", "Alpha"), ("name", "alpha")],
)
def test_quick_path_finds_what_the_matcher_finds(
    db: TrytonDatabase, field: str, value: str
) -> None:
    quick = db.search("party.party", [[field, "=", value]])
    general = db.search("party.party", ["AND", [field, "=", value]])  # not one clause: matcher
    assert quick == general
    assert all(db.tables["party.party"][i][field] == value for i in quick)


def test_quick_path_keeps_order_offset_and_limit(db: TrytonDatabase) -> None:
    everyone = db.search(
        "party.party", ["AND", ["name", "=", "Alpha"]], 0, None, [["code", "DESC"]]
    )
    assert (
        db.search("party.party", [["name", "=", "Alpha"]], 0, None, [["code", "DESC"]]) == everyone
    )
    assert (
        db.search("party.party", [["name", "=", "Alpha"]], 1, 1, [["code", "DESC"]]) == everyone[1:]
    )
    assert len(everyone) == 2


def test_an_unknown_field_is_still_refused(db: TrytonDatabase) -> None:
    with pytest.raises(RpcFault, match="nickname"):  # as trytond: a KeyError, a server error
        db.search("party.party", [["nickname", "=", "x"]])
