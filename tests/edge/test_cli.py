"""``python -m edge detect``: a real subprocess on a real record file."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

from edge.record import FiberRecord, write_record

from .conftest import simulate


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edge", *args], capture_output=True, text=True, timeout=300)


def test_detect_prints_json_picks(tmp_path, near_event):
    """One JSON object a line with channel, time, snr, amplitude, polarity and the record name."""
    scene = near_event.scene
    path = tmp_path / "event.npz"
    write_record(scene.to_record(), path)
    out = _run("detect", str(path), "--json")
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(lines) > 50
    for d in lines:
        assert {"channel", "time", "snr", "amplitude", "polarity", "record"} <= set(d)
        assert d["record"] == str(path)
    ch = np.array([d["channel"] for d in lines])
    t = np.array([d["time"] for d in lines])
    first = {}
    for c, tt in sorted(zip(ch, t), key=lambda x: x[1]):
        first.setdefault(c, tt)
    res = np.array([first[c] - near_event.p_time[c] for c in first])
    assert np.mean(np.abs(res) < 0.05) > 0.8


def test_detect_logs_grid_and_summary(tmp_path):
    """With --log-level info the effective processing grid and a per-record summary go to stderr."""
    rec = simulate(magnitude=None, fs_hz=500.0, spacing_m=20.0, length_km=2.0, duration_s=5.0)
    path = tmp_path / "noise.npz"
    write_record(rec.scene.to_record(), path)
    out = _run("--log-level", "info", "detect", str(path), "--json")
    assert out.returncode == 0, out.stderr
    logs = [json.loads(line) for line in out.stderr.splitlines()]
    grid = next(d for d in logs if d["event"] == "processing_grid")
    assert grid["decimation"] == 5 and grid["fs_hz"] == 100.0
    done = next(d for d in logs if d["event"] == "record_done")
    assert done["picks"] == 0 and done["gaps"] == 0


def test_detect_bad_inputs(tmp_path):
    """A missing or truncated record is a clear error (exit 2), not a traceback."""
    out = _run("detect", str(tmp_path / "missing.npz"))
    assert out.returncode == 2 and "error" in out.stderr and "Traceback" not in out.stderr
    rec = FiberRecord(strain_rate=np.zeros((100, 4), np.float32), fs=100.0, t0=0.0, lat=np.full(4, 33.0),
                      lon=130.0 + np.arange(4) * 1e-3, elev_m=np.zeros(4))
    path = tmp_path / "short.npz"
    write_record(rec, path)
    path.write_bytes(path.read_bytes()[:-300])
    out = _run("detect", str(path))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "usage" in _run("detect", "--help").stdout
