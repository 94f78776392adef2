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
import threading
from collections.abc import Iterator

DEFAULT = 100e-6

_lock = threading.Lock()
_holders = 0
_original = 0.0  # the interval before the first journal opened
_ours = 0.0  # the interval last set here


@contextlib.contextmanager
def lowered_switch_interval(seconds: float | None) -> Iterator[None]:
    """Hold the switch interval at most `seconds` for the block (None: leave it alone).

    The interval from before the first journal is put back when the last one closes, unless
    the host has set one of its own meanwhile."""
    global _holders, _original, _ours
    if seconds is None:
        yield
        return
    with _lock:
        if _holders == 0:
            _original = sys.getswitchinterval()
        _holders += 1
        sys.setswitchinterval(min(seconds, sys.getswitchinterval()))
        _ours = sys.getswitchinterval()
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0 and sys.getswitchinterval() == _ours:
                sys.setswitchinterval(_original)
