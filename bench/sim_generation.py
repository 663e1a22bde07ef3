"""Simulator throughput at interrogator scale: 10,000 channels x 1 kHz, and the emulator's pace.

Prints samples/s generated on one core (noise + trains + one event in view), the same noise made the
plain SciPy way (``sosfilt`` over the block) as a peer, and whether the ZeroMQ emulator keeps real time
while a subscriber in another process drains the stream.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np

N_CHANNELS = 10_000
FS = 1000.0


def _scene(duration_s: float, with_event: bool = True):
    from sim.scenarios import kyushu_reach, train_schedule
    from sim.scene import Scene
    from sim.source import make_source
    layout = kyushu_reach(spacing_m=9.0, last_channel=N_CHANNELS - 1)   # 10,000 of the ~10,600 channels
    t0 = 1.7e9
    rng = np.random.default_rng(0)
    sources = [make_source(origin_time=t0 + 2.0, lat=float(layout.lat[5000]) - 0.1, lon=float(layout.lon[5000]) + 0.1,
                           depth_km=10.0, magnitude=4.0, rng=rng)] if with_event else []
    loads = train_schedule(rng, layout, t0, duration_s, headway_s=300.0)   # busier than Kyushu's ~12 min
    return Scene(layout=layout, t0=t0, duration_s=duration_s, fs_hz=FS, sources=sources, loads=loads, seed=1)


def generation_rate(duration_s: float = 10.0) -> dict:
    """Samples/s of the scene generator (warm: kernels compiled, first block excluded)."""
    scene = _scene(duration_s + 1.0)
    it = scene.iter_chunks(int(FS))
    next(it)                                      # compile and warm up
    t = time.perf_counter()
    n = 0
    for _, blk in it:
        n += blk.size
    wall = time.perf_counter() - t
    return {"samples": n, "wall_s": wall, "samples_per_s": n / wall}


def scipy_noise_rate(duration_s: float = 3.0) -> dict:
    """Peer: the same two noise processes made with numpy + scipy.signal.sosfilt per block."""
    from scipy.signal import butter, sosfilt
    rng = np.random.default_rng(0)
    sos = butter(2, [1.0, 15.0], btype="band", fs=FS, output="sos")
    zi = np.zeros((sos.shape[0], 2, N_CHANNELS))
    last = np.zeros(N_CHANNELS, dtype=np.float32)
    t = time.perf_counter()
    n = 0
    for _ in range(int(duration_s)):
        w1 = rng.standard_normal((int(FS), N_CHANNELS), dtype=np.float32)
        w2 = rng.standard_normal((int(FS), N_CHANNELS), dtype=np.float32)
        inst = np.diff(np.vstack([last[None], w1]), axis=0)
        last = w1[-1]
        amb, zi = sosfilt(sos, w2, axis=0, zi=zi)
        out = (inst + amb).astype(np.float32)
        n += out.size
    wall = time.perf_counter() - t
    return {"samples_per_s": n / wall}


_SUB = r"""
import sys, zmq
ctx = zmq.Context(); s = ctx.socket(zmq.SUB); s.setsockopt(zmq.SUBSCRIBE, b"das"); s.setsockopt(zmq.RCVHWM, 100000)
s.connect(sys.argv[1]); n = 0; last = -1; gaps = 0
while s.poll(5000):
    parts = s.recv_multipart(); n += 1
print(n)
"""


def emulator_realtime(duration_s: float = 10.0) -> dict:
    """Stream ``duration_s`` of 10,000 x 1 kHz at speed 1 to a subscriber process; report lag."""
    import zmq
    from sim.emulator import StreamConfig, stream_scene
    scene = _scene(duration_s)
    next(_scene(1.0).iter_chunks(100))            # compile outside the timed run
    ctx = zmq.Context()
    pub = ctx.socket(zmq.PUB)
    pub.setsockopt(zmq.SNDHWM, 100000)
    port = pub.bind_to_random_port("tcp://127.0.0.1")
    sub = subprocess.Popen([sys.executable, "-c", _SUB, f"tcp://127.0.0.1:{port}"], stdout=subprocess.PIPE,
                           text=True)
    time.sleep(1.5)
    stats = stream_scene(scene, pub, StreamConfig(frame_s=0.1, speed=1.0))
    received = int(sub.communicate(timeout=60)[0].strip() or 0)
    pub.close(linger=0)
    ctx.term()
    return {"frames_sent": stats.frames_sent, "frames_received": received, "wall_s": stats.wall_s,
            "data_s": duration_s, "max_lag_s": stats.max_lag_s,
            "keeps_real_time": stats.max_lag_s < 0.5 and stats.wall_s < duration_s * 1.05}


def main() -> None:
    os.environ.setdefault("NUMBA_NUM_THREADS", "1")
    print("== simulator: 10,000 channels x 1 kHz (one core) ==")
    gen = generation_rate()
    peer = scipy_noise_rate()
    print(f"scene generation (noise + trains + M4 event): {gen['samples_per_s'] / 1e6:8.1f} Msamples/s "
          f"= {gen['samples_per_s'] / (N_CHANNELS * FS):5.2f} x real time")
    print(f"peer, noise alone with numpy + scipy sosfilt:   {peer['samples_per_s'] / 1e6:8.1f} Msamples/s "
          f"(ours / peer = {gen['samples_per_s'] / peer['samples_per_s']:.2f})")
    emu = emulator_realtime()
    print(f"emulator at speed 1 over ZeroMQ loopback: {emu['data_s']:.0f} s of data in {emu['wall_s']:.2f} s wall, "
          f"max lag {emu['max_lag_s']:.3f} s, {emu['frames_received']}/{emu['frames_sent']} frames received; "
          f"keeps real time: {'yes' if emu['keeps_real_time'] else 'NO'}")
