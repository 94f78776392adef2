"""Small pieces of HTML: escaping, times and ages, money, and the parts every page repeats.

Pages are f-strings of these pieces. Every value that comes from outside (an entity key, an
error text, a reason typed by an operator) passes through `esc` before it is placed in
markup: there is no template engine to forget it for us, so the rule is one function deep.
No element carries a ``style`` attribute and no script is inline, so the pages keep to the
strict Content-Security-Policy the dashboard sends (see `guard.py`).
"""

from __future__ import annotations

import datetime
import html

__all__ = ["age", "attrs", "esc", "hidden", "money", "when"]


def esc(value: object) -> str:
    """`value` as text safe inside an element or a quoted attribute."""
    return html.escape("" if value is None else str(value), quote=True)


def attrs(**values: object) -> str:
    """Attributes from keywords (``data_flow`` becomes ``data-flow``); None and False are left
    out, True is the bare name."""
    parts = []
    for name, value in values.items():
        if value is None or value is False:
            continue
        key = name.rstrip("_").replace("_", "-")
        parts.append(key if value is True else f'{key}="{esc(value)}"')
    return " ".join(parts)


def hidden(name: str, value: object) -> str:
    """A hidden form field."""
    return f'<input type="hidden" name="{esc(name)}" value="{esc(value)}">'


def age(seconds: float | None) -> str:
    """A duration as a person reads it: ``45 s``, ``12 min``, ``3 h 5 min``, ``2 d 4 h``."""
    if seconds is None:
        return "—"
    s = max(0, int(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86_400:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 86_400} d {s % 86_400 // 3600} h"


def when(timestamp: float | None) -> str:
    """An epoch time as a ``<time>`` element in UTC (a dash for None)."""
    if timestamp is None:
        return "—"
    moment = datetime.datetime.fromtimestamp(timestamp, datetime.UTC)
    return (
        f'<time datetime="{moment.isoformat(timespec="seconds")}">'
        f"{moment:%Y-%m-%d %H:%M:%S} UTC</time>"
    )


def money(amount: int | None, currency: str | None) -> str:
    """Minor units as an amount (``12,500.00 USD``); currencies with no minor unit are not
    told apart here: the approvals that carry money are in two-decimal currencies."""
    if amount is None:
        return "—"
    return f"{amount / 100:,.2f} {esc(currency or '')}".strip()
