"""Pick quality of the detection chain on the simulator's scenario sets (not a speed figure).

Per event of the ``kyushu-2022`` set: the channels whose 1-10 Hz P peak stands more than 5 times
above the noise, the fraction of them picked within 0.05 s of the true P, and the median pick
residual; then the P candidates made by an hour of the ``noise`` set (trains both ways, road
traffic, unhealthy channels), which must be zero.

``python -m bench.picking [--events N] [--hours H]``
"""
from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.signal import butter, sosfilt

from edge.detection import Detector
from edge.replay import channel_along_km, run_chunks


def _run(scene) -> tuple[list, Detector]:
    layout = scene.layout
    det = Detector(fs_hz=scene.fs_hz, along_km=channel_along_km(layout.lat, layout.lon, layout.elev_m))
    picks = run_chunks(det, scene.iter_chunks(int(10 * scene.fs_hz)), t0=scene.t0, fs_hz=scene.fs_hz)
    return picks, det


def _snr(data: np.ndarray, fs: float, t0: float, p_time: np.ndarray) -> np.ndarray:
    sos = butter(2, [1.0, 10.0], btype="bandpass", fs=fs, output="sos")
    x = sosfilt(sos, data.astype(np.float64), axis=0)
    idx = np.round((p_time - t0) * fs).astype(int)
    n = int(fs)
    out = np.zeros(x.shape[1])
    for c, i in enumerate(idx):
        if i - 6 * n >= 0 and i + n <= x.shape[0]:
            noise = x[i - 6 * n:i - n // 2, c].std()
            out[c] = np.abs(x[i:i + n, c]).max() / noise if noise > 0 else 0.0
    return out


def event_table(n_events: int, seed: int = 0) -> None:
    """Accuracy per event of the kyushu-2022 set."""
    from sim.scenarios import scenario
    print(f"-- picks vs true P, kyushu-2022 (seed {seed}): 975 channels, 100 Hz, 100 m --")
    print(f"{'event':34s} {'SNR>5 ch':>9s} {'<=0.05 s':>9s} {'median':>8s}")
    for item in scenario("kyushu-2022", seed=seed)[:n_events]:
        scene = item.scene()
        rec = scene.to_record()
        p_time = np.asarray(scene.truth_arrays()["p_time"], dtype=float)
        picks, _ = _run(scene)
        first: dict[int, float] = {}
        for p in sorted(picks, key=lambda p: p.time):
            r = p.time - p_time[p.channel]
            if abs(r) <= 2.0:
                first.setdefault(p.channel, r)
        sel = np.flatnonzero(_snr(rec.strain_rate, rec.fs, rec.t0, p_time) > 5)
        good = sum(1 for c in sel if c in first and abs(first[c]) <= 0.05)
        med = np.median([first[c] for c in sel if c in first]) if sel.size else np.nan
        print(f"{item.name:34s} {sel.size:9d} {good / max(1, sel.size):9.2f} {med:+8.3f}")


def noise_hours(hours: float, seed: int = 0) -> None:
    """P candidates (must be 0) from hours of trains and traffic."""
    from sim.scenarios import scenario
    t = time.perf_counter()
    accepted = triggers = rejected = 0
    for item in scenario("noise", hours=hours, seed=seed):
        picks, det = _run(item.scene())
        accepted += len(picks)
        triggers += det.stats()["triggers"]
        rejected += det.stats()["rejected"]
    print(f"-- noise set, {hours:g} h, seed {seed} (trains both ways every ~5 min, road traffic) --")
    print(f"triggers {triggers}, picks rejected by the moveout test {rejected}, P candidates {accepted} "
          f"({time.perf_counter() - t:.0f} s)")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.picking", description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=26, help="kyushu-2022 events to run (default all 26)")
    p.add_argument("--hours", type=float, default=1.0, help="hours of the noise set (default 1)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    print("== picking quality (simulated truth) ==")
    event_table(args.events, args.seed)
    noise_hours(args.hours, args.seed)


if __name__ == "__main__":
    main()
