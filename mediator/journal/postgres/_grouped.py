"""The PostgreSQL journal's frequent writes as grouped ops: many callers', one statement.

Each class is one caller's write (its `__call__` runs it alone, as `_ops`' functions do);
`run_group` runs a group of them (see `_stages`) as one statement and hands each caller
exactly the result it would have had alone: its refused ids (fencing keeps reading the lease
rows FOR SHARE, in the same statement as `_ops`), its unparked entries, its CAS outcome. The
rare writes (append_dead, replay, release, compaction) stay plain ops in `_ops`.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import msgspec

from mediator.cluster.partitions import Fence
from mediator.journal.postgres import _ops
from mediator.journal.postgres._stages import Connection, GroupedOp
from mediator.journal.records import Entry, EntryState, FlowState, Watermark, XrefRecord

Refused = _ops.Refused


async def update_open(
    conn: Connection,
    ops: Sequence[_EntryOp],
    set_clause: str,
    *params: object,
) -> tuple[list[Refused], list[list[str]]]:
    # `_ops.update_open` over every op's ids at once, its outcome split back per op: each op's
    # refused (id, partition) pairs and the keys of the replays it changed.
    owner: dict[bytes, int] = {}
    for index, op in enumerate(ops):
        for entry_id in op.ids:
            owner[bytes.fromhex(entry_id)] = index
    fence = ops[0].fence
    statement = _ops.FENCED_UPDATE.format(done=_ops.DONE, set=set_clause)
    rows = await conn.fetch(statement, list(owner), *_ops.fence_params(fence), *params)
    refused: list[Refused] = [[] for _ in ops]
    replayed: list[list[str]] = [[] for _ in ops]
    for raw_id, partition, key, was_replay, allowed in rows:
        index = owner[bytes(raw_id)]
        if key is None:
            # (refused even when closed already: see `_ops.update_open`)
            if not allowed:
                refused[index].append((bytes(raw_id).hex(), int(partition)))
        elif was_replay:
            replayed[index].append(str(key))
    return refused, replayed


class _EntryOp(GroupedOp):
    """A state change of entries (ids checked by the caller), under the journal's fence."""

    __slots__ = ("fence", "ids")

    def __init__(self, ids: Sequence[str], fence: Fence | None) -> None:
        self.ids = list(ids)
        self.fence = fence

    def touches(self) -> Sequence[Hashable]:
        return [("entry", i) for i in self.ids]

    def _group(self, *what: Hashable) -> Hashable:
        # one journal's ops share its fence; the identity keeps two fences apart all the same
        return (type(self).__name__, id(self.fence), *what)


class SetState(_EntryOp):
    """Move open entries to `state` (IN_FLIGHT counts an attempt); result: the refused ids."""

    __slots__ = ("state",)
    family = "state"

    def __init__(self, ids: Sequence[str], state: EntryState, fence: Fence | None) -> None:
        super().__init__(ids, fence)
        self.state = state

    def group(self) -> Hashable:
        return self._group(self.state)

    @classmethod
    async def run_group(cls, conn: Connection, now: float, ops: Sequence[SetState]) -> list[object]:
        state = ops[0].state
        bump = 1 if state is EntryState.IN_FLIGHT else 0
        refused, _ = await update_open(
            conn, ops,
            "state = $5, updated_at = $6, attempts = e.attempts + $7, due_at = NULL",
            int(state), now, bump,
        )  # fmt: skip
        return list(refused)


class Park(SetState):
    """Hold open entries behind their entity's dead letter; result: the refused ids."""

    __slots__ = ()
    family = "park"
    # parking and unparking one entity key must keep their callers' order
    excludes = frozenset({"done"})

    def __init__(self, ids: Sequence[str], fence: Fence | None) -> None:
        super().__init__(ids, EntryState.PARKED, fence)


class SetDone(_EntryOp):
    """Close entries as delivered; result: (the entries unparked because a replay among them
    was the last thing their entity waited for, the refused ids)."""

    __slots__ = ()
    family = "done"
    # a dead letter or a park of the same entity key, before or after, changes what unparks
    excludes = frozenset({"dead", "park"})

    def group(self) -> Hashable:
        return self._group()

    @classmethod
    async def run_group(cls, conn: Connection, now: float, ops: Sequence[SetDone]) -> list[object]:
        refused, replayed = await update_open(
            conn, ops, "state = $5, updated_at = $6, due_at = NULL", DONE, now
        )
        # A key's parked entries go to the last caller (in batch order) that closed a replay of
        # it: run one by one, every earlier one found the key still held by that replay.
        last: dict[str, int] = {}
        for index, keys in enumerate(replayed):
            for key in keys:
                last[key] = index
        unparked: list[list[Entry]] = [[] for _ in ops]
        if last:
            for entry in await _ops.unpark(conn, now, list(last)):
                unparked[last[entry.key]].append(entry)
        return [(tuple(u), r) for u, r in zip(unparked, refused, strict=True)]


DONE = int(EntryState.DONE)


def _each(n: int, cast: str) -> str:
    # the value of parameter $n (an array in the ops' order, one id each) for the row changed
    return f"(${n}::{cast}[])[array_position($1::bytea[], e.id)]"


class SetRetry(_EntryOp):
    """Schedule an open entry's next attempt at `at`; result: the refused ids."""

    __slots__ = ("at", "error", "error_class")
    family = "retry"

    def __init__(
        self, entry_id: str, at: float, error: str, error_class: str, fence: Fence | None
    ) -> None:
        super().__init__([entry_id], fence)
        self.at, self.error, self.error_class = at, error, error_class

    def group(self) -> Hashable:
        return self._group()

    @classmethod
    async def run_group(cls, conn: Connection, now: float, ops: Sequence[SetRetry]) -> list[object]:
        refused, _ = await update_open(
            conn, ops,
            f"state = $5, updated_at = $6, due_at = {_each(7, 'float8')}, "
            f"error = {_each(8, 'text')}, error_class = {_each(9, 'text')}",
            int(EntryState.RETRY), now,
            [o.at for o in ops], [o.error for o in ops], [o.error_class for o in ops],
        )  # fmt: skip
        return list(refused)


class SetDead(_EntryOp):
    """Make an open entry a dead letter; result: the refused ids."""

    __slots__ = ("error", "error_class", "reason", "system")
    family = "dead"
    excludes = frozenset({"done"})  # a dead letter holds its key: see SetDone

    def __init__(
        self,
        entry_id: str,
        reason: str,
        error_class: str,
        system: str | None,
        error: str,
        fence: Fence | None,
    ) -> None:
        super().__init__([entry_id], fence)
        self.reason, self.error_class, self.system, self.error = reason, error_class, system, error

    def group(self) -> Hashable:
        return self._group()

    @classmethod
    async def run_group(cls, conn: Connection, now: float, ops: Sequence[SetDead]) -> list[object]:
        refused, _ = await update_open(
            conn, ops,
            f"state = $5, updated_at = $6, due_at = NULL, reason = {_each(7, 'text')}, "
            f"error = {_each(8, 'text')}, error_class = {_each(9, 'text')}, "
            f"system = {_each(10, 'text')}",
            int(EntryState.DEAD), now, [o.reason for o in ops], [o.error for o in ops],
            [o.error_class for o in ops], [o.system for o in ops],
        )  # fmt: skip
        return list(refused)


class SaveFlow(GroupedOp):
    """Write a flow's state if its stored version is `expected` (0: absent); result: the
    `FlowState` written, or None."""

    __slots__ = ("entity", "expected", "flow", "state")
    family = "flow"

    def __init__(self, flow: str, entity: str, state: bytes, expected: int) -> None:
        self.flow, self.entity, self.state, self.expected = flow, entity, state, expected

    def group(self) -> Hashable:
        return "flow"

    def touches(self) -> Sequence[Hashable]:
        return [("flow", self.flow, self.entity)]

    @classmethod
    async def run_group(cls, conn: Connection, now: float, ops: Sequence[SaveFlow]) -> list[object]:
        rows = await conn.fetch(
            _SAVE_FLOWS,
            [o.flow for o in ops], [o.entity for o in ops], [o.state for o in ops],
            [o.expected for o in ops], now,
        )  # fmt: skip
        saved = {int(row[0]) for row in rows}
        return [
            FlowState(flow=o.flow, entity=o.entity, state=o.state, version=o.expected + 1,
                      updated_at=now) if n in saved else None
            for n, o in enumerate(ops, 1)
        ]  # fmt: skip


# Each row's CAS at once: the absent ones inserted (a row present meanwhile loses), the others
# updated where the version still matches; the numbers of the rows written come back.
_SAVE_FLOWS = """
WITH given AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[], $4::int8[])
        WITH ORDINALITY AS g(flow, entity, state, expected, n)
), inserted AS (
    INSERT INTO flows (flow, entity, state, version, updated_at)
    SELECT flow, entity, state, 1, $5 FROM given WHERE expected = 0
    ON CONFLICT DO NOTHING
    RETURNING flow, entity
), updated AS (
    UPDATE flows f SET state = g.state, version = f.version + 1, updated_at = $5
    FROM given g
    WHERE g.expected > 0 AND f.flow = g.flow AND f.entity = g.entity AND f.version = g.expected
    RETURNING f.flow, f.entity
)
SELECT g.n FROM given g JOIN (SELECT * FROM inserted UNION ALL SELECT * FROM updated) w
    ON w.flow = g.flow AND w.entity = g.entity
"""


class RecordXref(GroupedOp):
    """Record a mapping, replacing this entity's older id in that system and any other entity
    that held this system id; result: the record with its time."""

    __slots__ = ("record",)
    family = "xref"

    def __init__(self, record: XrefRecord) -> None:
        self.record = record

    def group(self) -> Hashable:
        return "xref"

    def touches(self) -> Sequence[Hashable]:
        r = self.record
        return [
            ("xref", r.entity_type, r.canonical_id, r.system),
            ("xref-id", r.system, r.entity_type, r.system_id),
        ]

    @classmethod
    async def run_group(
        cls, conn: Connection, now: float, ops: Sequence[RecordXref]
    ) -> list[object]:
        # Two statements, not one: the sub-statements of one WITH do not see each other's rows,
        # so the insert would meet the system id the delete removes.
        records = [o.record for o in ops]
        columns = (
            [r.entity_type for r in records], [r.canonical_id for r in records],
            [r.system for r in records], [r.system_id for r in records],
        )  # fmt: skip
        await conn.execute(
            "DELETE FROM xref x USING unnest($1::text[], $2::text[], $3::text[]) "
            "AS g(system, entity_type, system_id) "
            "WHERE x.system = g.system AND x.entity_type = g.entity_type "
            "AND x.system_id = g.system_id",
            columns[2], columns[0], columns[3],
        )  # fmt: skip
        await conn.execute(
            "INSERT INTO xref (entity_type, canonical_id, system, system_id, recorded_at) "
            "SELECT *, $5::float8 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) "
            "ON CONFLICT (entity_type, canonical_id, system) "
            "DO UPDATE SET system_id = excluded.system_id, recorded_at = excluded.recorded_at",
            *columns, now,
        )  # fmt: skip
        return [msgspec.structs.replace(r, recorded_at=now) for r in records]


class SetWatermark(GroupedOp):
    """Advance a named cursor; result: None."""

    __slots__ = ("mark",)
    family = "watermark"

    def __init__(self, mark: Watermark) -> None:
        self.mark = mark

    def group(self) -> Hashable:
        return "watermark"

    def touches(self) -> Sequence[Hashable]:
        return [("watermark", self.mark.name)]

    @classmethod
    async def run_group(
        cls, conn: Connection, now: float, ops: Sequence[SetWatermark]
    ) -> list[object]:
        await conn.execute(
            "INSERT INTO watermarks (name, value, updated_at) "
            "SELECT *, $3::float8 FROM unnest($1::text[], $2::text[]) "
            "ON CONFLICT (name) DO UPDATE SET value = excluded.value, "
            "updated_at = excluded.updated_at",
            [o.mark.name for o in ops], [o.mark.value for o in ops], now,
        )  # fmt: skip
        return [None for _ in ops]
