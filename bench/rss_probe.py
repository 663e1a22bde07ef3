"""Memory of the detection chain over a long stream, measured in a fresh process.

``python -m bench.rss_probe [--duration-s 600] [--pool-s 3] [--channels 10000] [--stack 1] [--spacing-m 10]``
streams noise through :class:`edge.detection.Detector` in 1-s blocks and prints one JSON line:
resident memory (VmRSS) before the chain, after 1 minute and after the whole stream, and the peak
(VmHWM), all in MiB. A fresh process, because the parent's heap (earlier benchmarks, their pools)
would hide what the chain itself holds.
"""
from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np


def _status_mib() -> dict[str, float]:
    """VmRSS and VmHWM of this process, MiB (Linux ``/proc/self/status``)."""
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) / 1024.0
    return out


def _reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0), so the peak excludes start-up transients."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def probe(*, duration_s: int, pool_s: int, n_channels: int, stack: int | None, spacing_m: float,
          fs_hz: float = 1000.0) -> dict:
    """Stream ``duration_s`` of noise; return RSS figures (MiB) and the pace (x real time)."""
    from edge.detection import Detector, DetectorConfig
    n = int(fs_hz)
    rng = np.random.default_rng(0)
    pool = []
    for _ in range(pool_s):
        a = rng.standard_normal((n, n_channels), dtype=np.float32)
        a *= np.float32(1e-9)                     # in place: no float64 temporary in the peak
        pool.append(a)
    pool_mib = sum(a.nbytes for a in pool) / 2**20
    before = _status_mib()["VmRSS"]
    peak_reset = _reset_peak()
    det = Detector(DetectorConfig(stack=stack), fs_hz=fs_hz, along_km=np.arange(n_channels) * spacing_m * 1e-3)
    t0 = 1.7e9
    rss = {}
    t = time.perf_counter()
    for k in range(duration_s):
        det.process(pool[k % pool_s], t0 + k)
        if k + 1 in (60, duration_s):
            rss[k + 1] = _status_mib()["VmRSS"]
    wall = time.perf_counter() - t
    end = _status_mib()
    return {"pool_mib": pool_mib, "rss_before_chain_mib": before, "rss_1min_mib": rss[60],
            "rss_end_mib": rss[duration_s], "peak_mib": end["VmHWM"], "peak_reset": peak_reset,
            "duration_s": duration_s, "wall_s": wall, "realtime_factor": duration_s / wall,
            "gaps": det.gaps, "stack": det.grid.stack, "health": det.health.counts()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration-s", type=int, default=600)
    ap.add_argument("--pool-s", type=int, default=3)
    ap.add_argument("--channels", type=int, default=10_000)
    ap.add_argument("--stack", type=int, default=1, help="0: the adaptive default (~10 m)")
    ap.add_argument("--spacing-m", type=float, default=10.0)
    args = ap.parse_args()
    os.environ.setdefault("NUMBA_NUM_THREADS", "1")
    if args.duration_s < 60:
        raise SystemExit("--duration-s must be at least 60 (RSS is read at 1 minute)")
    print(json.dumps(probe(duration_s=args.duration_s, pool_s=args.pool_s, n_channels=args.channels,
                           stack=args.stack or None, spacing_m=args.spacing_m)))


if __name__ == "__main__":
    main()
