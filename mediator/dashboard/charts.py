"""Inline SVG charts: an hour of deliveries per minute, and a quota's burn-down.

Drawn on the server as a few dozen rectangles with presentation attributes (no ``style``,
no script, so the pages keep their strict Content-Security-Policy), each with a text
alternative: a chart is a picture of numbers the page also says in words.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from mediator.dashboard.html import esc

__all__ = ["burn_down", "minute_bars"]

_W, _H = 180, 36


def minute_bars(counts: Sequence[int], *, label: str) -> str:
    """Bars of `counts` (one per minute, oldest first), scaled to the busiest minute."""
    top = max(counts, default=0)
    width = _W / max(len(counts), 1)
    bars = []
    for i, count in enumerate(counts):
        if count <= 0:
            continue
        height = max(1.0, (_H - 2) * count / top)
        bars.append(
            f'<rect x="{i * width:.2f}" y="{_H - height:.2f}" width="{max(width - 0.6, 0.6):.2f}" '
            f'height="{height:.2f}"><title>{count}</title></rect>'
        )
    return (
        f'<svg class="bars" viewBox="0 0 {_W} {_H}" width="{_W}" height="{_H}" role="img" '
        f'aria-label="{esc(label)}"><line x1="0" y1="{_H - 0.5}" x2="{_W}" y2="{_H - 0.5}" '
        f'class="axis"/>{"".join(bars)}</svg>'
    )


def burn_down(*, used: int, allowance: int, shares: Mapping[str, float], label: str) -> str:
    """A bar of the allowance, filled to what is used, with a mark at each priority class's
    share (where that class stops spending)."""
    fraction = 0.0 if allowance <= 0 else min(used / allowance, 1.0)
    marks = "".join(
        f'<line class="share" x1="{_W * share:.2f}" y1="0" x2="{_W * share:.2f}" y2="16">'
        f"<title>{esc(name)} stops at {share:.0%}</title></line>"
        for name, share in sorted(shares.items(), key=lambda item: item[1])
        if share < 1.0
    )
    return (
        f'<svg class="burn" viewBox="0 0 {_W} 16" width="{_W}" height="16" role="img" '
        f'aria-label="{esc(label)}"><rect class="track" x="0" y="3" width="{_W}" height="10"/>'
        f'<rect class="used" x="0" y="3" width="{_W * fraction:.2f}" height="10"/>{marks}</svg>'
    )
