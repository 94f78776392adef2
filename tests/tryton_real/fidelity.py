"""Compare two runs of one scenario, step by step, and say precisely where they differ."""

from __future__ import annotations

from .scenario import Run, answer_shape, facts_of


def differences(real: Run, other: Run) -> list[str]:
    """Every way `other` (the sandbox) answers unlike `real`, as readable one-line findings."""
    found: list[str] = []
    for step in real.answers:
        if step not in other.answers:
            found.append(f"{step}: no answer (the scenario stopped before this step)")
            continue
        expected, got = answer_shape(real.answers[step]), answer_shape(other.answers[step])
        for part in ("status", "content_type", "www_authenticate", "error_head"):
            if expected[part] != got[part]:
                found.append(f"{step}: {part} is {got[part]!r}, real server {expected[part]!r}")
        found.extend(_compare(step, expected["body"], got["body"]))
    real_facts, other_facts = facts_of(real), facts_of(other)
    for key, value in real_facts.items():
        if other_facts.get(key, "<missing>") != value:
            found.append(f"fact {key}: {other_facts.get(key, '<missing>')!r}, real {value!r}")
    return found


def _compare(path: str, expected: object, got: object) -> list[str]:
    if isinstance(expected, dict) and isinstance(got, dict):
        found = []
        missing, extra = sorted(expected.keys() - got.keys()), sorted(got.keys() - expected.keys())
        if missing:
            found.append(f"{path}: keys missing {missing}")
        if extra:
            found.append(f"{path}: extra keys {extra}")
        for key in sorted(expected.keys() & got.keys()):
            found.extend(_compare(f"{path}.{key}", expected[key], got[key]))
        return found
    if isinstance(expected, list) and isinstance(got, list):
        if len(expected) != len(got):
            return [f"{path}: {len(got)} items, real server {len(expected)}"]
        found = []
        for index, (left, right) in enumerate(zip(expected, got, strict=True)):
            found.extend(_compare(f"{path}[{index}]", left, right))
        return found
    if expected != got:
        return [f"{path}: {_brief(got)}, real server {_brief(expected)}"]
    return []


def _brief(shape: object) -> str:
    text = repr(shape)
    return text if len(text) <= 80 else text[:77] + "..."
