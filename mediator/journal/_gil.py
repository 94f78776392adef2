"""The interpreter's GIL switch interval while a journal is open.

The journal's writer thread shares the GIL with the event loop. Each statement gives the GIL
up while SQLite works; coming back while the loop is busy (waking the appenders of the last
batch), the writer waits until the loop lets go, which CPython forces only once the switch
interval has passed: 5 ms by default, several times per transaction, while the writer (the
journal's bottleneck) could have been writing. So while a journal is open the interval is
lowered, to 100 µs by default, and put back when the last journal closes. `open_journal`'s
`switch_interval=None` leaves it alone (a host that manages it itself).

Measured with bench/journal's appends (60,000 on a 1,000,000-entry file, FULL, five
interleaved runs each, medians): at 1,000 producers 34k appends/s at 5 ms, 36k at 1 ms, 46k
at 200 µs, 52k at 100 µs, 41k at 50 µs; at 100 producers 21k at 5 ms and 29k at 100 µs;
one producer unchanged. The cost is more frequent hand-overs between threads that both want
to run Python, a few microseconds each.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

DEFAULT = 100e-6

_holders = 0
_original = 0.0


@contextlib.contextmanager
def lowered_switch_interval(seconds: float | None) -> Iterator[None]:
    """Hold the switch interval at most `seconds` for the block (None: leave it alone)."""
    global _holders, _original
    if seconds is None:
        yield
        return
    if _holders == 0:
        _original = sys.getswitchinterval()
    _holders += 1
    sys.setswitchinterval(min(seconds, sys.getswitchinterval()))
    try:
        yield
    finally:
        _holders -= 1
        if _holders == 0:
            sys.setswitchinterval(_original)
