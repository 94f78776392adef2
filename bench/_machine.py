"""What machine a bench's figures came from: every bench puts `machine()` in its JSON.

Figures from a laptop and a loaded CI runner differ by more than any change under test, so
each report says where it was measured: the CPU model and how many cores this process may
use, the load at the start (other work on the machine slows every figure; the ratios to
same-run baselines less so), the memory, the OS and the Python. Read at run time from
/proc on Linux, with `platform` as the fallback elsewhere. Files in bench/ whose name starts
with `_` are helpers like this one: `make bench` runs the others.
"""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

__all__ = ["machine"]


def machine() -> dict[str, object]:
    """Return the machine's description, read now, for a bench's JSON report."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "cpu": _cpu_model(),
        "cores_usable": usable,
        "cores_total": os.cpu_count(),
        "load_average_1m_at_start": None if load is None else round(load[0], 2),
        "memory_gb": _memory_gb(),
        "os": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {sys.version.split()[0]}",
    }


def _cpu_model() -> str:
    for line in _read("/proc/cpuinfo").splitlines():
        if line.startswith(("model name", "Model", "Hardware")):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown"


def _memory_gb() -> float | None:
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            return round(int(line.split()[1]) / 1024 / 1024, 1)
    return None


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""
