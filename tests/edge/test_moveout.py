"""Coherent-noise rejection: trains and traffic never become P candidates, earthquakes do."""
from __future__ import annotations

import numpy as np
import pytest

from edge.detection import Detector
from edge.moveout import MoveoutConfig, MoveoutFilter
from sim.traffic import MovingLoad

from .conftest import T0, first_pick_residuals, run_detector, simulate, true_snr

ALONG = np.arange(1000) * 0.01          # 10 km of 10 m channels


def _stream(picks: list[tuple[int, float]], along=ALONG, config=None) -> tuple[set, MoveoutFilter]:
    """Feed (channel, time) picks in time order, judging every 0.1 s of data time; return accepted ids."""
    f = MoveoutFilter(along, config)
    accepted: set[int] = set()
    order = sorted(range(len(picks)), key=lambda k: picks[k][1])
    next_judge = picks[order[0]][1]
    for k in order:
        c, t = picks[k]
        while next_judge < t:
            accepted.update(p for p, _ in f.judge(next_judge)[0])
            next_judge += 0.1
        f.add(c, t, k)
    accepted.update(p for p, _ in f.judge(np.inf)[0])
    return accepted, f


class TestSyntheticPicks:
    def test_train_front_rejected(self):
        """Picks sweeping the fiber at train speeds (20-90 m/s) never pass, with jitter or without."""
        rng = np.random.default_rng(0)
        for speed_mps in (20.0, 60.0, 90.0):
            chans = np.arange(100, 700)
            t = T0 + ALONG[chans] * 1e3 / speed_mps + rng.normal(0, 0.05, chans.size)
            accepted, f = _stream(list(zip(chans, t)))
            assert accepted == set(), speed_mps
            assert f.rejected == chans.size

    def test_p_wave_and_broadside_accepted(self):
        """Picks sweeping at P apparent velocities, or arriving at once, on 70 % of the channels,
        pass (almost) all."""
        rng = np.random.default_rng(1)
        chans = np.flatnonzero(rng.random(1000) < 0.7)
        for slowness in (0.0, 0.12, -0.2, 0.45):
            t = T0 + slowness * ALONG[chans] + rng.normal(0, 0.01, chans.size)
            accepted, _ = _stream(list(zip(chans, t)))
            assert len(accepted) >= 0.95 * chans.size, slowness

    def test_random_triggers_rejected(self):
        """A thousand uncorrelated noise triggers in a minute make no P candidate."""
        rng = np.random.default_rng(2)
        picks = list(zip(rng.integers(0, 1000, 1000), T0 + rng.uniform(0, 60, 1000)))
        accepted, _ = _stream(picks)
        assert accepted == set()

    def test_p_wave_through_a_train(self):
        """A P front crossing the stretch where a train triggers picks passes; the train's do not."""
        rng = np.random.default_rng(3)
        train_ch = np.arange(400, 460)
        train = list(zip(train_ch, T0 + 5 + ALONG[train_ch - 400] * 1e3 / 80.0 + rng.normal(0, 0.05, 60)))
        p_ch = np.setdiff1d(np.arange(0, 1000, 2), train_ch)
        p = list(zip(p_ch, T0 + 6 + 0.1 * ALONG[p_ch] + rng.normal(0, 0.01, p_ch.size)))
        accepted, _ = _stream(train + p)
        # a train pick that happens to fall on the P front at its channel is indistinguishable from
        # a P pick there (and harmless); every other train pick is rejected
        p_time_at = lambda c: T0 + 6 + 0.1 * ALONG[c]  # noqa: E731
        on_front = {k for k, (c, t) in enumerate(train) if abs(t - p_time_at(c)) <= 0.15}
        assert len(on_front) < 10
        assert not (accepted & set(range(len(train)))) - on_front
        assert len(accepted - set(range(len(train)))) >= 0.95 * len(p)

    def test_bounded_and_resettable(self):
        """The pending list is bounded (oldest dropped and counted) and a reset forgets everything."""
        f = MoveoutFilter(ALONG, capacity=10)
        for k in range(25):
            f.add(k * 30, T0 + k, k)
        assert f.n_pending == 10 and f.overflow == 15
        f.reset()
        assert f.n_pending == 0 and np.all(np.isnan(f.recent))

    def test_config_validated(self):
        """Impossible moveout settings are rejected."""
        with pytest.raises(ValueError):
            MoveoutConfig(min_channels=1)
        with pytest.raises(ValueError):
            MoveoutConfig(tol_s=0.0)


def _train_at(x_km: float, t: float, speed_mps: float = 75.0, **kw) -> MovingLoad:
    return MovingLoad(t_start=t, x_start_km=x_km, speed_mps=speed_mps, length_m=400.0, strain=6e-8,
                      vibration_rms=3e-7, x_min_km=-5.0, x_max_km=50.0, **kw)


def test_earthquake_during_a_passing_train(near_event):
    """With a train in the middle of the fiber at the P time, the channels away from it are picked as
    without the train (within one sample, and within 0.05 s of the true P), and nothing from the train
    becomes a P candidate."""
    origin_after_s = 28.0
    # the train's centre is at the middle of the 15 km fiber when the P arrives there (~3 s later)
    train = _train_at(7.5, T0 + origin_after_s + 3.0)
    rec = simulate(loads=[train])                  # the near_event scene with the train added
    picks, _ = run_detector(rec)
    quiet, _ = run_detector(near_event)
    res, res_quiet = first_pick_residuals(picks, rec), first_pick_residuals(quiet, near_event)
    snr = true_snr(near_event)
    x_train = train.position_km(rec.p_time) - rec.along_km[0]   # where the train is at each channel's P
    away = np.abs(rec.along_km - x_train) > 1.5
    sel = np.flatnonzero((snr > 5) & away)
    assert len(sel) > 80
    same = [c for c in sel if c in res and c in res_quiet and abs(res[c] - res_quiet[c]) <= 0.011]
    assert len(same) >= 0.95 * len(sel)
    good = [c for c in sel if c in res and abs(res[c]) <= 0.05]
    assert len(good) >= 0.9 * len(sel)
    # nothing from the train became a P candidate: no accepted pick before that channel's P
    assert all(p.time > rec.p_time[p.channel] - 0.5 for p in picks)


@pytest.mark.slow
def test_noise_hour_with_trains_has_no_p_candidate():
    """One simulated hour of the Kyushu reach (975 channels, trains both ways, road traffic): 0 candidates."""
    from sim.scenarios import scenario
    from edge.replay import channel_along_km, run_chunks
    items = scenario("noise", hours=1.0, record_s=600.0, seed=0)
    accepted, triggers, seconds = 0, 0, 0.0
    for item in items:
        scene = item.scene()
        layout = scene.layout
        det = Detector(fs_hz=scene.fs_hz, along_km=channel_along_km(layout.lat, layout.lon, layout.elev_m))
        accepted += len(run_chunks(det, scene.iter_chunks(int(10 * scene.fs_hz)), t0=scene.t0,
                                   fs_hz=scene.fs_hz))
        triggers += det.stats()["triggers"]
        seconds += item.duration_s
        assert any(ld.kind == "train" for ld in item.loads)
    assert seconds >= 3600.0
    assert triggers > 1000          # the trains and traffic did trigger, many times
    assert accepted == 0
