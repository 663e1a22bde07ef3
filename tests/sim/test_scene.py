"""Scenes: determinism, chunk invariance, causality, noise, channel health and trains."""
from __future__ import annotations

import json

import numpy as np
import pytest

from edge.record import iter_record_chunks, read_record
from sim.noise import CLIPPED, DEAD, NoiseConfig
from sim.scene import Scene
from sim.source import make_source
from sim.traffic import MovingLoad

T0 = 1.7e9


def event(**kw):
    base = dict(origin_time=T0 + 10.0, lat=32.60, lon=130.85, depth_km=10.0, magnitude=3.5,
                rng=np.random.default_rng(5))
    base.update(kw)
    return make_source(**base)


class TestDeterminism:
    def test_same_seed_same_data(self, short_layout):
        """Two scenes with the same seed give identical samples; another seed does not."""
        a = Scene(layout=short_layout, t0=T0, duration_s=20, sources=[event()], seed=7).to_record()
        b = Scene(layout=short_layout, t0=T0, duration_s=20, sources=[event()], seed=7).to_record()
        c = Scene(layout=short_layout, t0=T0, duration_s=20, sources=[event()], seed=8).to_record()
        assert np.array_equal(a.strain_rate, b.strain_rate)
        assert not np.array_equal(a.strain_rate, c.strain_rate)

    @pytest.mark.parametrize("chunk", [1, 37, 250, 2000])
    def test_chunk_size_invariance(self, short_layout, chunk):
        """The data do not depend on the chunk size the caller asks for."""
        ref = Scene(layout=short_layout, t0=T0, duration_s=12, sources=[event()], seed=3).to_record().strain_rate
        scene = Scene(layout=short_layout, t0=T0, duration_s=12, sources=[event()], seed=3)
        got = np.concatenate([blk for _, blk in scene.iter_chunks(chunk)])
        assert np.array_equal(got, ref)

    def test_streamed_write_equals_memory(self, short_layout, tmp_path):
        """Writing block by block gives the same record as building it in memory, with the truth."""
        scene = Scene(layout=short_layout, t0=T0, duration_s=15, sources=[event()], seed=3)
        path = scene.write(tmp_path / "r.npz", chunk_samples=128)
        rec = read_record(path)
        ref = Scene(layout=short_layout, t0=T0, duration_s=15, sources=[event()], seed=3).to_record()
        assert np.array_equal(rec.strain_rate, ref.strain_rate)
        truth = json.loads(str(rec.truth["json"]))
        assert truth["events"][0]["magnitude"] == 3.5
        assert len(truth["events"][0]["p_arrival"]) == short_layout.n_channels
        assert rec.truth["p_time"] == pytest.approx(np.array(truth["events"][0]["p_arrival"]))
        assert sum(len(b) for _, b in iter_record_chunks(path, 100)) == rec.n_samples


class TestPhysics:
    def test_nothing_before_true_p(self, short_layout, quiet):
        """Pulses are causal: with noise off there is no signal before the true P on any channel."""
        scene = Scene(layout=short_layout, t0=T0, duration_s=25, sources=[event()], seed=1, noise=quiet)
        rec = scene.to_record()
        t = rec.times()
        p = scene.wavefields[0].p.time
        peak = np.abs(rec.strain_rate).max()
        before = np.where(t[:, None] < p[None, :] - 0.011, np.abs(rec.strain_rate), 0.0).max()
        after = np.where((t[:, None] >= p[None, :]) & (t[:, None] < p[None, :] + 1.0),
                         np.abs(rec.strain_rate), 0.0).max()
        assert before <= 1e-6 * peak
        assert after > 1e-3 * peak

    def test_s_stronger_than_p_for_earthquake(self, short_layout, quiet):
        """A double couple at local distance: peak S strain rate exceeds peak P (typical S/P 3-10)."""
        scene = Scene(layout=short_layout, t0=T0, duration_s=30, sources=[event()], seed=1, noise=quiet)
        rec = scene.to_record()
        t = rec.times()[:, None]
        wf = scene.wavefields[0]
        p_win = (t >= wf.p.time) & (t < wf.s.time)
        s_win = (t >= wf.s.time) & (t < wf.s.time + 3.0)
        ratio = np.abs(rec.strain_rate * s_win).max() / np.abs(rec.strain_rate * p_win).max()
        assert 1.5 < ratio < 30

    def test_amplitude_grows_with_magnitude(self, short_layout, quiet):
        """Peak strain rate grows with magnitude, by less than the moment (corner-frequency scaling)."""
        peaks = []
        for m in (2.0, 3.0, 4.0):
            rec = Scene(layout=short_layout, t0=T0, duration_s=25, sources=[event(magnitude=m)], seed=1,
                        noise=quiet).to_record()
            peaks.append(np.abs(rec.strain_rate).max())
        r1, r2 = peaks[1] / peaks[0], peaks[2] / peaks[1]
        assert 1.5 < r1 < 31.6 and 1.5 < r2 < 31.6

    def test_noise_level(self, short_layout):
        """Pre-event noise is a few 1e-9 to 1e-8 1/s RMS, as on railway fibers at 100 Hz."""
        rec = Scene(layout=short_layout, t0=T0, duration_s=8, seed=2,
                    noise=NoiseConfig(dead_fraction=0, noisy_fraction=0, clipped_fraction=0)).to_record()
        rms = np.sqrt(np.mean(rec.strain_rate[200:] ** 2))
        assert 1e-9 < rms < 5e-8


class TestChannelHealth:
    def test_dead_and_clipped(self, short_layout):
        """Dead channels are zero; clipped channels never exceed the clip level and reach it."""
        cfg = NoiseConfig(dead_fraction=0.1, clipped_fraction=0.1, noisy_fraction=0.05, clip_level=1e-8)
        scene = Scene(layout=short_layout, t0=T0, duration_s=20, sources=[event(magnitude=4.0)], seed=4,
                      noise=cfg)
        rec = scene.to_record()
        state = scene.fiber_noise.state
        assert np.sum(state == DEAD) >= 5 and np.sum(state == CLIPPED) >= 5
        assert np.all(rec.strain_rate[:, state == DEAD] == 0)
        clipped = np.abs(rec.strain_rate[:, state == CLIPPED])
        assert clipped.max() == pytest.approx(1e-8, rel=1e-6)
        assert np.all(clipped <= 1e-8 * (1 + 1e-6))
        truth = scene.truth()
        assert truth["channel_state"].count("dead") == int(np.sum(state == DEAD))


class TestTrains:
    def test_train_moves_at_its_speed(self, short_layout, quiet):
        """The train's strain-rate peak moves along the fiber at the train's speed."""
        train = MovingLoad(t_start=T0, x_start_km=float(short_layout.along_km[0]), speed_mps=70.0)
        rec = Scene(layout=short_layout, t0=T0, duration_s=60, loads=[train], seed=1, noise=quiet).to_record()
        env = np.abs(rec.strain_rate)
        from scipy.ndimage import uniform_filter1d
        env = uniform_filter1d(env, 100, axis=0)
        chans = np.arange(5, short_layout.n_channels - 5, 5)
        t_peak = rec.times()[np.argmax(env[:, chans], axis=0)]
        speed = np.polyfit(t_peak - T0, short_layout.along_km[chans] * 1e3, 1)[0]
        assert speed == pytest.approx(70.0, rel=0.1)

    def test_speed_limit(self):
        """Vehicles faster than 90 m/s are refused."""
        from edge.exceptions import ConfigError
        with pytest.raises(ConfigError, match="speed"):
            MovingLoad(t_start=0, x_start_km=0, speed_mps=120.0)
