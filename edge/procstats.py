"""Cheap process figures for the daemon's once-a-second heartbeat, without psutil.

On Linux one read of ``/proc/self/status`` gives the resident memory and the number of threads
(native ones too: ZeroMQ's I/O threads, Numba's workers), and ``/proc/self/fd`` the open file
descriptors. Elsewhere the figures degrade instead of failing: the peak RSS from
``getrusage``, Python's own thread count, no descriptor count. Nothing here raises.

Example
-------
>>> stats = ProcessStats()
>>> figures = stats.sample()        # call once a second
>>> sorted(figures)
['cpu_pct', 'open_fds', 'rss_mb', 'threads', 'uptime_s']
"""
from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path
from typing import TypedDict

try:
    import resource
except ImportError:                 # Windows
    resource = None

__all__ = ["ProcessSample", "ProcessStats"]


class ProcessSample(TypedDict):
    """One sample of :meth:`ProcessStats.sample`."""

    rss_mb: float | None        # resident memory, MiB (off Linux: the peak so far)
    cpu_pct: float | None       # CPU time / wall time since the previous sample, %; 100 = one core
    threads: int                # threads of the process (Python's own only, off Linux)
    open_fds: int | None        # open file descriptors (None off Linux)
    uptime_s: float             # since this ProcessStats was made, s


class ProcessStats:
    """Process figures sampled on demand; ``cpu_pct`` covers the time since the previous sample.

    Parameters
    ----------
    proc_self : the process's ``/proc`` directory. A test passes a directory without the files to
        see the fallbacks; the daemon leaves the default.

    Notes
    -----
    Make it when the process starts: ``uptime_s`` counts from here, and the first ``cpu_pct``
    covers the time since. CPU time is ``time.process_time()`` (all threads, user + system, ns
    resolution), so a daemon keeping two cores busy shows 200 %.
    """

    def __init__(self, *, proc_self: str | Path = "/proc/self"):
        self.proc_self = Path(proc_self)
        self._start = time.monotonic()
        self._last_wall = self._start
        self._last_cpu = time.process_time()

    def sample(self) -> ProcessSample:
        """The figures now (see :class:`ProcessSample`); never raises."""
        wall, cpu = time.monotonic(), time.process_time()
        d_wall = wall - self._last_wall
        cpu_pct = 100.0 * (cpu - self._last_cpu) / d_wall if d_wall > 0 else None
        self._last_wall, self._last_cpu = wall, cpu
        rss_mb, threads = self._status()
        return {"rss_mb": rss_mb if rss_mb is not None else _peak_rss_mb(),
                "cpu_pct": cpu_pct,
                "threads": threads if threads is not None else threading.active_count(),
                "open_fds": self._open_fds(),
                "uptime_s": wall - self._start}

    def _status(self) -> tuple[float | None, int | None]:
        """(VmRSS in MiB, Threads) from ``status``; None for whatever is missing or garbled."""
        rss_mb = threads = None
        try:
            with open(self.proc_self / "status", encoding="ascii", errors="replace") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        rss_mb = int(line.split()[1]) / 1024.0       # the kernel reports kB
                    elif line.startswith("Threads:"):
                        threads = int(line.split()[1])
        except (OSError, ValueError, IndexError):
            pass
        return rss_mb, threads

    def _open_fds(self) -> int | None:
        try:
            # listdir holds one descriptor on the directory while it reads it: not ours to count.
            return max(len(os.listdir(self.proc_self / "fd")) - 1, 0)
        except OSError:
            return None


def _peak_rss_mb() -> float | None:
    """Peak resident memory, MiB, from getrusage (kB on Linux and the BSDs, bytes on macOS)."""
    if resource is None:
        return None
    try:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    except (OSError, ValueError):
        return None
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024.0
