"""Queued writes of one model go to Tryton together: grouped by model, in chunks.

A list ``create`` or ``write`` per model spends one round trip on many records; a command the
connector refuses before sending (a bad model name, a missing reference) keeps its refusal in
its place and is not sent.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

from mediator.codecs.tryton.errors import RETRY_CODES
from mediator.errors import MediatorError, RemoteRejected

__all__ = ["by_model", "item_error"]


class _OfModel(Protocol):
    @property
    def model(self) -> str: ...


C = TypeVar("C", bound=_OfModel)


def by_model(
    commands: Sequence[C], check: Callable[[C], MediatorError | None], size: int
) -> tuple[list[object], list[tuple[str, list[int]]]]:
    """Each command's refusal by `check` in its place (None where it passed), and the indexes
    of those that passed, grouped per model in chunks of at most `size`, in order."""
    results: list[object] = [None] * len(commands)
    groups: dict[str, list[int]] = {}
    for index, command in enumerate(commands):
        problem = check(command)
        if problem is not None:
            results[index] = problem
        else:
            groups.setdefault(command.model, []).append(index)
    chunks = [
        (model, indexes[start : start + size])
        for model, indexes in groups.items()
        for start in range(0, len(indexes), size)
    ]
    return results, chunks


def item_error(exc: MediatorError) -> bool:
    """Whether Tryton read a chunk and refused one of its records (an error envelope, not a
    failure or a transient refusal): each record is then tried alone."""
    return isinstance(exc, RemoteRejected) and exc.status == 200 and exc.code not in RETRY_CODES
