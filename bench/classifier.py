"""``python -m bench.classifier``: event-classifier inference time per measurement, one thread.

The shipped ONNX models (seismometer, C = 3, and DAS, C = 1) through onnxruntime on one thread, as
central runs them, on simulated measurements of all three classes; side by side in the same run: the
same network in PyTorch on one thread (when the ``train`` extra is installed), the peer it was
exported from (its trained weights when the .pt lies beside the model; the cost does not depend on
them). Batches of 1 (one measurement as it arrives) and 64 (central's batch). Target
(issue 7): <= 5 ms per measurement on one thread.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np


def _per_measurement_ms(fn, data: np.ndarray, batch: int, repeat: int) -> float:
    """Best of ``repeat`` passes over ``data`` in batches of ``batch``: ms per measurement."""
    best = np.inf
    for _ in range(repeat):
        t = time.perf_counter()
        for b in range(0, len(data), batch):
            fn(data[b:b + batch])
        best = min(best, time.perf_counter() - t)
    return 1e3 * best / len(data)


def _torch_peer(onnx_path: Path, channels: int):
    """The same network in PyTorch (one thread), or None without torch."""
    try:
        import torch

        from models.classifier.net import EventClassifierNet
    except ImportError:
        return None
    pt = onnx_path.with_suffix(".pt")
    net = EventClassifierNet(channels)
    if pt.exists():
        net.load_state_dict(torch.load(pt, map_location="cpu"))
    torch.set_num_threads(1)
    net.eval()

    def run(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return torch.softmax(net.logits(torch.from_numpy(x)), dim=-1).numpy()
    return run


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.classifier", description=__doc__.split("\n\n")[0])
    p.add_argument("--events", type=int, default=9, help="simulated events (measurements: ~10 a kind each)")
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)
    from models.classifier.runtime import SHIPPED, ClassifierSession
    from sim.event_classes import ClassSetConfig, generate
    with tempfile.TemporaryDirectory() as tmp:
        generate(ClassSetConfig(n_events=args.events, mix=(1, 1, 1), seed=11, sites_seed=3, label_noise=0.0),
                 Path(tmp))
        data = {3: np.load(Path(tmp) / "seismometer.npz")["data"], 1: np.load(Path(tmp) / "das.npz")["data"]}
    rows = {}
    for channels, path in SHIPPED.items():
        kind = "seismometer" if channels == 3 else "das"
        x = data[channels]
        session = ClassifierSession(path, threads=1)
        peer = _torch_peer(path, channels)
        for batch in (1, 64):
            ort_ms = _per_measurement_ms(lambda d: session.probabilities(d, batch=batch), x, batch, args.repeat)
            torch_ms = _per_measurement_ms(peer, x, batch, args.repeat) if peer else None
            rows[f"{kind}_batch{batch}"] = {"measurements": int(len(x)), "onnxruntime_ms": round(ort_ms, 3),
                                            "torch_ms": None if torch_ms is None else round(torch_ms, 3)}
            ratio = f", PyTorch {torch_ms:.2f} ms ({torch_ms / ort_ms:.1f}x)" if torch_ms else ", PyTorch: not installed"
            print(f"{kind:<11} batch {batch:>2}: onnxruntime {ort_ms:.2f} ms per measurement{ratio} "
                  f"({len(x)} measurements, one thread; target <= 5 ms)")
    print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
