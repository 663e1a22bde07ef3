"""Detection chain at interrogator scale: 10,000 channels x 1 kHz, against ObsPy and xdas.

Prints, on one core and in one run:

1. the STA/LTA kernel (``edge.stalta.sta_lta_update``) over a 10,000 x 1,000 float32 block, beside
   ObsPy's C ``recursive_sta_lta`` looped over the channels block by block and over one long trace,
   and beside xdas's streaming ``STALTA`` atom on the same block;
2. the whole chain (``edge.detection.Detector``, no stacking) as a real-time factor, beside the same
   steps done per channel the ObsPy way;
3. resident memory of the chain over 10 minutes of stream, in a fresh process (``bench.rss_probe``);
4. the chain with its default adaptive stacking.

Figures are best-of-n wall times (``time.perf_counter``) after a warm-up call; nothing is asserted.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

N_CHANNELS = 10_000
FS = 1000.0
BLOCK = 1000                 # samples per kernel call / per chain block (1 s at 1 kHz)
NSTA, NLTA = 50, 1000        # kernel benchmark windows, samples
TARGETS = {"obspy_blocks": 8.0, "obspy_long": 2.0, "xdas": 10.0, "obspy_chain": 10.0}


def _best(fn, repeats: int) -> float:
    """Shortest wall time of ``repeats`` calls of ``fn``, s."""
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def _noise(n_t: int, n_ch: int, seed: int, scale: float = 1.0) -> np.ndarray:
    a = np.random.default_rng(seed).standard_normal((n_t, n_ch), dtype=np.float32)
    a *= np.float32(scale)
    return a


# --- 1. the STA/LTA kernel ---------------------------------------------------------------------
def kernel_rate(x: np.ndarray, *, cf_dtype=np.float32, repeats: int = 7) -> float:
    """Samples/s of ``sta_lta_update`` over block ``x`` (n_t, n_ch), state carried across calls."""
    from edge.stalta import sta_lta_update
    n_ch = x.shape[1]
    sta, lta, count = np.zeros(n_ch), np.zeros(n_ch), np.zeros(n_ch, np.int64)
    cf = np.empty(x.shape, cf_dtype)
    sta_lta_update(x, NSTA, NLTA, sta, lta, count, cf)          # compile / load the cache
    return x.size / _best(lambda: sta_lta_update(x, NSTA, NLTA, sta, lta, count, cf), repeats)


def obspy_blocks_rate(x: np.ndarray, repeats: int = 3) -> float:
    """Samples/s of ObsPy's ``recursive_sta_lta`` called once per channel on this block.

    Each channel's samples are copied to a contiguous float64 1-D array outside the timer (ObsPy
    converts to that anyway); the call restarts the recursion every time, so it is not even a
    stateful stream, and with ``nlta`` = block length its output is all zeros.
    """
    from obspy.signal.trigger import recursive_sta_lta
    traces = list(np.ascontiguousarray(x.T, dtype=np.float64))

    def run():
        for tr in traces:
            recursive_sta_lta(tr, NSTA, NLTA)
    run()
    return x.size / _best(run, repeats)


def obspy_long_rate(n: int = 10_000_000, repeats: int = 3) -> float:
    """Samples/s of ObsPy's ``recursive_sta_lta`` over one trace of ``n`` samples (its best case)."""
    from obspy.signal.trigger import recursive_sta_lta
    tr = np.random.default_rng(1).standard_normal(n)
    recursive_sta_lta(tr[:BLOCK * 2], NSTA, NLTA)
    return n / _best(lambda: recursive_sta_lta(tr, NSTA, NLTA), repeats)


def xdas_rate(x: np.ndarray, repeats: int = 4) -> float:
    """Samples/s of xdas's ``STALTA(method="recursive")`` atom, streamed chunk by chunk.

    The block is wrapped in DataArrays ("time", "distance") with consecutive time coordinates
    (built outside the timer); ``atom(da, chunk_dim="time")`` is the atom's chunked call, which
    judges the seam and carries the running sums from chunk to chunk. One worker (``parallel=1``).
    """
    import xdas as xd
    from xdas.atoms import STALTA
    n_t, n_ch = x.shape
    dt = 1.0 / FS

    def chunk(k: int):
        start = k * n_t * dt
        return xd.DataArray(x, coords={
            "time": {"tie_indices": [0, n_t - 1], "tie_values": [start, start + (n_t - 1) * dt],
                     "sampling_interval": dt},
            "distance": {"tie_indices": [0, n_ch - 1], "tie_values": [0.0, (n_ch - 1) * 10.0],
                         "sampling_interval": 10.0}})
    chunks = [chunk(k) for k in range(repeats + 1)]
    atom = STALTA(sta=NSTA * dt, lta=NLTA * dt, method="recursive", parallel=1)
    atom(chunks[0], chunk_dim="time")                           # warm-up chunk: compile, initialise
    if (atom.nsta, atom.nlta) != (NSTA, NLTA):
        raise RuntimeError(f"xdas windows {atom.nsta}, {atom.nlta} differ from {NSTA}, {NLTA}")
    it = iter(chunks[1:])
    wall = _best(lambda: atom(next(it), chunk_dim="time"), repeats)
    if int(atom.count) != (repeats + 1) * n_t:
        raise RuntimeError("xdas atom did not carry its state across chunks")
    return x.size / wall


# --- 2. the whole chain ------------------------------------------------------------------------
def chain_rate(*, stack: int | None = 1, spacing_m: float = 10.0, duration_s: int = 30, pool_s: int = 3) -> dict:
    """Real-time factor of the Detector fed ``duration_s`` of 1-s noise blocks (after 3 s warm-up)."""
    from edge.detection import Detector, DetectorConfig
    pool = [_noise(BLOCK, N_CHANNELS, seed=10 + k, scale=1e-9) for k in range(pool_s)]
    det = Detector(DetectorConfig(stack=stack), fs_hz=FS, along_km=np.arange(N_CHANNELS) * spacing_m * 1e-3)
    t0 = 1.7e9
    for k in range(3):
        det.process(pool[k % pool_s], t0 + k)
    t0 += 3
    t = time.perf_counter()
    for k in range(duration_s):
        det.process(pool[k % pool_s], t0 + k)
    wall = time.perf_counter() - t
    return {"realtime_factor": duration_s / wall, "samples_per_s": duration_s * FS * N_CHANNELS / wall,
            "stack": det.grid.stack, "n_channels": det.grid.n_channels, "gaps": det.gaps,
            "healthy": det.health.counts()["healthy"], "triggers": det.triggers}


def obspy_chain_rate(*, n_channels: int = 500, duration_s: int = 10, lowpass: str = "cheby2") -> float:
    """Samples/s of the same steps done per channel the ObsPy way, each channel in one call.

    ``lowpass_cheby_2(freq=50, maxorder=12)`` then ``[::10]`` is what ``Trace.decimate(10)`` does
    (``lowpass="butter"``: ``lowpass(freq=40, corners=4)`` instead), then ``bandpass(1, 10 Hz,
    corners=2)``, ``recursive_sta_lta`` with the chain's windows (0.3 s / 6 s) and ``trigger_onset``
    with its thresholds. One call over the whole record per channel is ObsPy's best case: a stream
    would also have to carry the filter states itself. No health, AIC picks or moveout test.
    """
    from obspy.signal.filter import bandpass, lowpass_cheby_2
    from obspy.signal.filter import lowpass as butter_lowpass
    from obspy.signal.trigger import recursive_sta_lta, trigger_onset
    traces = np.ascontiguousarray(_noise(int(duration_s * FS), n_channels, seed=20, scale=1e-9).T, dtype=np.float64)

    def run():
        for tr in traces:
            if lowpass == "cheby2":
                y = lowpass_cheby_2(tr, 50.0, FS, maxorder=12)[::10]
            else:
                y = butter_lowpass(tr, 40.0, FS, corners=4)[::10]
            y = bandpass(y, 1.0, 10.0, FS / 10, corners=2)
            trigger_onset(recursive_sta_lta(y, 30, 600), 5.0, 1.5)
    return traces.size / _best(run, 1)


# --- 3. memory ---------------------------------------------------------------------------------
def rss_probe(duration_s: int = 600) -> dict:
    """Run ``bench.rss_probe`` in a fresh interpreter; return its JSON figures."""
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run([sys.executable, "-m", "bench.rss_probe", "--duration-s", str(duration_s)], cwd=root,
                         capture_output=True, text=True, timeout=600, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _verdict(ratio: float, key: str) -> str:
    target = TARGETS[key]
    return f">= {target:g}x: {'met' if ratio >= target else f'NOT met ({ratio / target:.0%} of target)'}"


def main() -> None:
    os.environ.setdefault("NUMBA_NUM_THREADS", "1")
    try:
        import obspy  # noqa: F401
        have_obspy = True
    except ImportError as exc:
        have_obspy = False
        print(f"ObsPy peers skipped: {exc} (install the 'test' extra)")
    print(f"== detection: {N_CHANNELS:,} channels x {FS:.0f} Hz (one core) ==")
    print(f"-- 1. recursive STA/LTA kernel, {N_CHANNELS:,} ch x {BLOCK:,} samples float32, "
          f"nsta={NSTA}, nlta={NLTA}; Msamples/s, best of n --")
    x = _noise(BLOCK, N_CHANNELS, seed=0)
    ours = kernel_rate(x)
    ours64 = kernel_rate(x, cf_dtype=np.float64)
    print(f"{'ours, sta_lta_update (cf float32, as in the chain)':58s} {ours / 1e6:8.1f}")
    print(f"{'ours, sta_lta_update (cf float64, as the peers write)':58s} {ours64 / 1e6:8.1f}")
    if have_obspy:
        peer = obspy_blocks_rate(x)
        print(f"{'(a) ObsPy recursive_sta_lta per channel, 1-s blocks':58s} {peer / 1e6:8.1f}   "
              f"ours/peer {ours / peer:6.1f}x  {_verdict(ours / peer, 'obspy_blocks')}")
        print("    (float64 1-D copy of each channel made outside the timer; restarts every call: "
              "not stateful, all-zero output)")
        peer = obspy_long_rate()
        print(f"{'(b) ObsPy recursive_sta_lta, one 10 M-sample trace':58s} {peer / 1e6:8.1f}   "
              f"ours/peer {ours / peer:6.1f}x  {_verdict(ours / peer, 'obspy_long')}")
    try:
        import xdas
        peer = xdas_rate(x)
        label = f"xdas {xdas.__version__} STALTA atom (recursive), chunked, 1 worker"
        print(f"{label:58s} {peer / 1e6:8.1f}   ours/peer {ours / peer:6.1f}x  {_verdict(ours / peer, 'xdas')}")
    except ImportError as exc:
        print(f"xdas peer skipped: {exc} (install the 'bench' extra)")
    del x

    print(f"-- 2. whole chain, {N_CHANNELS:,} raw ch x {FS:.0f} Hz, no stacking, 30 s of noise in 1-s blocks --")
    chain = chain_rate(stack=1)
    print(f"{'ours, Detector(stack=1)':58s} {chain['samples_per_s'] / 1e6:8.1f} Msamples/s "
          f"= {chain['realtime_factor']:5.1f} x real time  ({chain['healthy']:,}/{chain['n_channels']:,} channels "
          f"healthy, {chain['triggers']} triggers, {chain['gaps']} gaps)")
    if have_obspy:
        for lowpass, label in (("cheby2", "ObsPy per channel: lowpass_cheby_2 (= Trace.decimate)"),
                               ("butter", "ObsPy per channel: lowpass (Butterworth, 4 corners)")):
            peer = obspy_chain_rate(lowpass=lowpass)
            print(f"{label:58s} {peer / 1e6:8.1f} Msamples/s   ours/peer {chain['samples_per_s'] / peer:6.1f}x  "
                  f"{_verdict(chain['samples_per_s'] / peer, 'obspy_chain')}")
        print("    (peer: 500 ch x 10 s, one call per channel; + [::10], bandpass 1-10 Hz, recursive_sta_lta, "
              "trigger_onset; no health, picks or moveout)")

    print("-- 3. memory, fresh process, 600 s streamed in 1-s blocks from a 3-s pool --")
    mem = rss_probe()
    ratio = mem["rss_end_mib"] / mem["rss_1min_mib"]
    print(f"RSS before the chain {mem['rss_before_chain_mib']:6.0f} MiB (interpreter, libraries, "
          f"{mem['pool_mib']:.0f} MiB pool)")
    print(f"RSS at 1 min {mem['rss_1min_mib']:6.0f} MiB, at 10 min {mem['rss_end_mib']:6.0f} MiB, "
          f"ratio {ratio:.3f} (flat within 5 %: {'yes' if abs(ratio - 1) <= 0.05 else 'NO'})")
    chain_mib = mem["peak_mib"] - mem["rss_before_chain_mib"]
    print(f"peak RSS {mem['peak_mib']:6.0f} MiB, of which the chain {chain_mib:5.0f} MiB"
          f"{'' if mem['peak_reset'] else ' (peak not reset: includes start-up)'}; "
          f"pace {mem['realtime_factor']:.1f} x real time, {mem['gaps']} gaps")

    print("-- 4. default adaptive stacking (1 m channels) --")
    stacked = chain_rate(stack=None, spacing_m=1.0)
    label = f"ours, Detector() -> stack {stacked['stack']}, {stacked['n_channels']:,} processing ch"
    print(f"{label:58s} "
          f"{stacked['samples_per_s'] / 1e6:8.1f} Msamples/s = {stacked['realtime_factor']:5.1f} x real time")


if __name__ == "__main__":
    main()
