"""``python -m sim`` as a user runs it: real subprocesses, files on disk, clear errors."""
from __future__ import annotations

import json
import socket
import subprocess
import sys

import numpy as np
import pytest

from edge.record import read_record


def run(*args, check=True):
    proc = subprocess.run([sys.executable, "-m", "sim", *args], capture_output=True, text=True, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}: {proc.stderr}")
    return proc


class TestScenarioCommand:
    def test_writes_records_and_truth(self, tmp_path):
        """One record and truth JSON per event; records follow the fiber-record contract."""
        out = tmp_path / "k"
        proc = run("scenario", "kyushu-2022", "--seed", "1", "--out", str(out), "--limit", "2",
                   "--spacing-m", "500")
        rows = [json.loads(line) for line in proc.stdout.splitlines()]
        assert len(rows) == 2
        rec = read_record(out / rows[0]["record"])
        truth = json.loads((out / rows[0]["truth"]).read_text())
        assert rec.strain_rate.dtype == np.float32 and rec.fs == 100.0
        assert rec.n_channels == len(truth["events"][0]["p_arrival"]) == rows[0]["n_channels"]
        assert 85 <= rec.duration_s <= 100
        assert {"origin_time", "lat", "lon", "depth_km", "magnitude", "mechanism"} <= set(truth["events"][0])
        assert json.loads((out / "index.json").read_text())["scenario"] == "kyushu-2022"

    def test_plot(self, tmp_path):
        """The plot command draws a PNG of a record."""
        pytest.importorskip("matplotlib")
        out = tmp_path / "n"
        run("scenario", "random", "--n-events", "1", "--out", str(out), "--spacing-m", "1000")
        rec = next(out.glob("*.npz"))
        png = tmp_path / "r.png"
        run("plot", str(rec), "--out", str(png))
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    @pytest.mark.parametrize("args,needle", [
        (["scenario", "tohoku", "--out", "x"], "unknown scenario"),
        (["scenario", "random", "--out", "x", "--spacing-m", "-5"], "spacing"),
        (["scenario", "random", "--out", "x", "--fs", "1e6"], "sampling rate"),
        (["plot", "missing.npz", "--out", "x.png"], "missing.npz"),
    ])
    def test_bad_input_is_named(self, tmp_path, args, needle):
        """Bad input exits 2 with one line naming the problem, no traceback."""
        proc = run(*args, check=False)
        assert proc.returncode == 2
        assert needle in proc.stderr and "Traceback" not in proc.stderr

    def test_help_everywhere(self):
        """Every subcommand has --help."""
        for sub in ("scenario", "stream", "plot", "demo"):
            assert "usage" in run(sub, "--help").stdout


def test_stream_command_publishes(tmp_path):
    """``python -m sim stream`` publishes frames a SUB socket can decode."""
    import zmq
    from sim.emulator import decode_frame
    with socket.socket() as probe:          # a free port for the emulator to bind
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Paced at 5x real time (400 frames of 0.1 s = 8 s), so a subscriber that joins after the start
    # line still sees a long contiguous run: PUB drops whatever is sent before a subscriber is there.
    proc = subprocess.Popen([sys.executable, "-m", "sim", "stream", "--scenario", "noise", "--endpoint",
                             f"tcp://127.0.0.1:{port}", "--speed", "5", "--fs", "100", "--spacing-m", "100",
                             "--channels", "200", "--max-frames", "400", "--warmup-s", "1.0",
                             "--gap-probability", "0"], stdout=subprocess.PIPE, text=True)
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.SUBSCRIBE, b"das")
    try:
        # On a cold machine the emulator first compiles its kernels and builds travel-time tables:
        # wait for its start line (printed once it has bound) rather than guessing how long that takes.
        start = json.loads(proc.stdout.readline())
        assert start["event"] == "stream_start" and start["n_channels"] == 200
        sub.connect(f"tcp://127.0.0.1:{port}")
        frames = []
        while sub.poll(30000) and len(frames) < 50:
            frames.append(decode_frame(sub.recv_multipart()))
        assert len(frames) >= 50
        seq = [h["seq"] for h, _ in frames]
        assert seq == list(range(seq[0], seq[0] + len(seq)))
        assert all(d.shape == (10, 200) for _, d in frames)
    finally:
        proc.wait(timeout=120)
        sub.close()
        ctx.term()
    assert proc.returncode == 0


def test_segments_of_the_reach_tile_its_geometry(tmp_path):
    """``--first-channel`` / ``--channels`` cut the reach into segments (one interrogator and one
    edge each): their geometries are consecutive slices of the whole one."""
    from edge.channels import read_geometry

    def geometry(name, *extra):
        out = tmp_path / f"{name}.csv"
        subprocess.run([sys.executable, "-m", "sim", "stream", "--scenario", "noise", "--fs", "100",
                        "--spacing-m", "100", "--geometry-out", str(out), "--geometry-only", *extra], check=True)
        return read_geometry(out)

    whole = geometry("whole")
    a = geometry("a", "--channels", "300")
    b = geometry("b", "--first-channel", "300", "--channels", "300")
    assert a.n_channels == b.n_channels == 300
    np.testing.assert_array_equal(np.concatenate([a.lat, b.lat]), whole.lat[:600])
    np.testing.assert_array_equal(np.concatenate([a.lon, b.lon]), whole.lon[:600])
