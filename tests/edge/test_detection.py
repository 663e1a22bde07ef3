"""The detection chain: frame-size invariance, accuracy on simulated events, adaptation, gaps, health."""
from __future__ import annotations

import logging
import tracemalloc

import numpy as np
import pytest

from edge.detection import Detector, DetectorConfig, processing_grid
from edge.exceptions import ConfigError, RecordError
from edge.health import CLIPPED, DEAD, HEALTHY, NOISY, NONFINITE

from .conftest import T0, first_pick_residuals, run_detector, simulate, true_snr


def _accuracy(rec, picks, snr_min=5.0, tol_s=0.05, stack=1):
    """Fraction of channels with SNR > snr_min picked within tol_s (with stacking: the group centres,
    which is where a stacked channel's pick is reported)."""
    snr = true_snr(rec)
    res = first_pick_residuals(picks, rec)
    sel = np.flatnonzero(snr > snr_min)
    sel = sel[sel % stack == stack // 2]
    good = [c for c in sel if c in res and abs(res[c]) <= tol_s]
    return len(good) / max(1, len(sel)), len(sel), res


class TestFrameSizeInvariance:
    def test_same_picks_whatever_the_frames(self):
        """1-sample frames, odd frames and 10-s frames give exactly the same picks and counters."""
        rec = simulate(fs_hz=200.0, length_km=10.0, duration_s=40.0)
        ref, det_ref = run_detector(rec, frame=2000)
        assert len(ref) > 20
        one, det_one = run_detector(rec, frame=1)
        rng = np.random.default_rng(0)
        odd, det_odd = run_detector(rec, frames=(int(k) for k in rng.integers(1, 700, 10_000)))
        assert one == ref
        assert odd == ref
        for det in (det_one, det_odd):
            s, r = det.stats(), det_ref.stats()
            for key in ("triggers", "accepted", "rejected", "picks_below_snr", "channels"):
                assert s[key] == r[key], key

    def test_memory_fixed_by_config(self):
        """Streaming more data allocates nothing that stays: Python heap growth stays below 64 kB."""
        n_ch, fs = 500, 1000.0
        det = Detector(DetectorConfig(), fs_hz=fs, along_km=np.arange(n_ch) * 0.01)
        pool = (np.random.default_rng(1).standard_normal((3000, n_ch)) * 1e-9).astype(np.float32)
        t = T0
        for k in range(20):
            det.process(pool[(k % 3) * 1000:(k % 3 + 1) * 1000], t)
            t += 1.0
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        for k in range(200):
            det.process(pool[(k % 3) * 1000:(k % 3 + 1) * 1000], t)
            t += 1.0
        grown = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
        assert grown < 64_000


class TestAccuracy:
    def test_picks_within_50_ms_of_true_p(self, near_event):
        """Picks within 0.05 s of the true P on >= 90 % of the channels with SNR > 5."""
        picks, det = run_detector(near_event)
        frac, n_sel, res = _accuracy(near_event, picks)
        assert n_sel > 50
        assert frac >= 0.90, f"{frac:.3f} of {n_sel} channels"
        # and the picks are not late on average by more than the pulse's rise
        assert abs(np.median(list(res.values()))) < 0.04

    def test_pick_fields(self, near_event):
        """Every pick carries channel, time, SNR, peak amplitude, polarity and the moveout slowness."""
        picks, _ = run_detector(near_event)
        p = picks[0]
        assert 0 <= p.channel < near_event.data.shape[1]
        assert p.snr >= DetectorConfig().min_snr and p.amplitude > 0 and p.polarity in (-1, 0, 1)
        assert abs(p.slowness_s_per_km) <= 0.5 and p.trigger_time >= p.time
        j = p.to_json()
        assert {"channel", "time", "snr", "amplitude", "polarity"} <= set(j)

    def test_polarity_follows_the_data(self, near_event):
        """Flipping the sign of the data flips every pick's polarity and nothing else."""
        picks, _ = run_detector(near_event)
        flipped = simulate()
        flipped.data = -flipped.data
        picks_f, _ = run_detector(flipped)
        assert [(p.channel, p.time) for p in picks] == [(p.channel, p.time) for p in picks_f]
        assert all(a.polarity == -b.polarity for a, b in zip(picks, picks_f))
        assert sum(abs(p.polarity) for p in picks) > 0.9 * len(picks)


@pytest.mark.parametrize("fs_hz,spacing_m,length_km", [(50.0, 100.0, 15.0), (250.0, 25.0, 6.0),
                                                       (1000.0, 10.0, 4.0), (2000.0, 1.0, 1.2)])
def test_defaults_adapt_to_rate_and_spacing(fs_hz, spacing_m, length_km, caplog):
    """50 Hz-2 kHz and 1-100 m channels work with the defaults; the grid is logged."""
    rec = simulate(fs_hz=fs_hz, spacing_m=spacing_m, length_km=length_km, duration_s=40.0, east_km=3.0)
    with caplog.at_level(logging.INFO, logger="edge.detect"):
        picks, det = run_detector(rec)
    assert any(r.getMessage() == "processing_grid" for r in caplog.records)
    g = det.grid
    assert 50.0 <= g.fs_hz <= 150.0 and g.band_hz[1] <= 0.4 * g.fs_hz
    assert g.n_channels * spacing_m * g.stack >= 0.9 * length_km * 1e3
    frac, n_sel, _ = _accuracy(rec, picks, stack=g.stack)
    assert n_sel > 0
    assert frac >= 0.85, f"{frac:.3f} of {n_sel} channels at {fs_hz} Hz, {spacing_m} m"


class TestGaps:
    def test_gap_resets_and_recovers(self, near_event):
        """A gap is counted, the chain restarts, nothing is picked while it settles, the event after it is."""
        rec = near_event
        fs = int(rec.fs)
        det = Detector(fs_hz=rec.fs, along_km=rec.along_km)
        picks = det.process(rec.data[:3 * fs], rec.t0)
        # 2 s of data lost: the next frame starts 5 s after the stream began
        picks += det.process(rec.data[5 * fs:], rec.t0 + 5.0)
        picks += det.flush()
        assert det.gaps == 1
        settle_s = det.grid.settle / det.grid.fs_hz
        assert all(p.trigger_time >= rec.t0 + 5.0 + settle_s for p in picks)
        frac, _, _ = _accuracy(rec, picks)
        assert frac >= 0.9

    def test_overlap_and_jumps_back_are_gaps(self):
        """A frame that starts before the previous one ended is a gap too, never a crash."""
        det = Detector(fs_hz=100.0, along_km=np.arange(50) * 0.1)
        x = np.zeros((100, 50), np.float32)
        det.process(x, 100.0)
        det.process(x, 100.5)
        det.process(x, 50.0)
        assert det.gaps == 2

    def test_bad_blocks_are_clear_errors(self):
        """Wrong channel count or a non-finite start time raise RecordError."""
        det = Detector(fs_hz=100.0, along_km=np.arange(50) * 0.1)
        with pytest.raises(RecordError):
            det.process(np.zeros((10, 49), np.float32), 0.0)
        with pytest.raises(RecordError):
            det.process(np.zeros((10, 50), np.float32), float("nan"))


class TestChannelHealth:
    def _feed(self, det, blocks, t):
        picks = []
        for b in blocks:
            picks += det.process(b, t)
            t += len(b) / det.grid.fs_in_hz
        return picks, t

    def test_unhealthy_channels_excluded_counted_and_back(self):
        """Dead, NaN, clipped and noisy channels are excluded and counted, and return when healthy."""
        n_ch, fs = 200, 100.0
        rng = np.random.default_rng(5)
        det = Detector(fs_hz=fs, along_km=np.arange(n_ch) * 0.1)

        def block(bad: bool):
            x = (rng.standard_normal((100, n_ch)) * 1e-9).astype(np.float32)
            if bad:
                x[:, 10] = 0.0                                   # dead
                x[::7, 20] = np.nan                               # NaN bursts
                x[5, 21] = np.inf
                x[:, 30] = np.clip(x[:, 30] * 300, -2e-7, 2e-7)   # clipped
                x[:, 40] *= 30                                    # noisy
            return x

        picks, t = self._feed(det, [block(True) for _ in range(45)], T0)
        state = det.health.state
        assert state[10] == DEAD and state[20] == NONFINITE and state[21] == NONFINITE
        assert state[30] == CLIPPED and state[40] == NOISY
        assert np.all(state[[0, 50, 100, 199]] == HEALTHY)
        counts = det.health.counts()
        assert counts["dead"] == 1 and counts["nonfinite"] == 2 and counts["clipped"] == 1 and counts["noisy"] == 1
        assert det.stats()["nonfinite_samples"] == 45 * (15 + 1)
        assert picks == []
        # the faults clear: every channel comes back by itself
        picks, t = self._feed(det, [block(False) for _ in range(40)], t)
        assert np.all(det.health.state == HEALTHY) and np.all(det.health.usable == 1)
        assert np.all(np.isfinite(det._lta)) and np.all(np.isfinite(det._zi))

    def test_sim_unhealthy_channels(self):
        """On a simulated record with its dead and noisy channels, those are the ones excluded."""
        from sim.noise import DEAD as SIM_DEAD, NOISY as SIM_NOISY
        rec = simulate(magnitude=None, healthy=False, length_km=60.0, duration_s=45.0)
        _, det = run_detector(rec)
        dead = np.flatnonzero(rec.state == SIM_DEAD)
        noisy = np.flatnonzero(rec.state == SIM_NOISY)
        assert dead.size and noisy.size
        assert np.all(det.health.state[dead] == DEAD)
        assert np.all(det.health.state[noisy] == NOISY)
        ok = np.flatnonzero(rec.state == 0)
        assert np.mean(det.health.state[ok] == HEALTHY) > 0.99


class TestConfig:
    def test_invalid_settings(self):
        """Absurd settings are ConfigErrors naming the problem."""
        with pytest.raises(ConfigError):
            DetectorConfig(sta_s=5.0, lta_s=1.0)
        with pytest.raises(ConfigError):
            DetectorConfig(trigger_on=1.0, trigger_off=2.0)
        with pytest.raises(ConfigError):
            DetectorConfig.from_dict({"sta": 1.0})
        with pytest.raises(ConfigError):
            processing_grid(DetectorConfig(), fs_hz=5.0, n_channels=10, spacing_m=10.0)
        with pytest.raises(ConfigError):
            Detector(fs_hz=100.0, along_km=np.array([0.0, 0.2, 0.1]))

    def test_from_dict_sub_tables(self):
        """A TOML-like table with health and moveout sub-tables builds the nested config."""
        cfg = DetectorConfig.from_dict({"sta_s": 0.5, "band_hz": [2.0, 8.0], "moveout": {"tol_s": 0.2},
                                        "health": {"noisy_factor": 20.0}})
        assert cfg.sta_s == 0.5 and cfg.band_hz == (2.0, 8.0)
        assert cfg.moveout.tol_s == 0.2 and cfg.health.noisy_factor == 20.0

    def test_grid_choices(self):
        """1 kHz -> 100 Hz, 1 m channels stacked to 10 m, 50 Hz left alone with its band kept."""
        g = processing_grid(DetectorConfig(), fs_hz=1000.0, n_channels=10_000, spacing_m=1.0)
        assert (g.decimation, g.fs_hz, g.stack, g.n_channels) == (10, 100.0, 10, 1000)
        g = processing_grid(DetectorConfig(), fs_hz=50.0, n_channels=100, spacing_m=100.0)
        assert (g.decimation, g.stack, g.band_hz) == (1, 1, (1.0, 10.0))
        g = processing_grid(DetectorConfig(stack=1), fs_hz=2000.0, n_channels=100, spacing_m=1.0)
        assert (g.decimation, g.stack) == (20, 1)
