"""The paper's evaluation harness: the mirror diagnostic against plane geometry, and ``python -m edge
evaluate`` end to end on the first kyushu-2022 events."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from edge.geodesy import LocalFrame, epicentral_km
from edge.replay import channel_along_km
from edge.gate import pga_gal
from sim.evaluation import EventResult, mirror_across_fiber, stop_level_tradeoff

FRAME = LocalFrame(33.0, 130.5)


def _fiber(east_km: np.ndarray, north_km: np.ndarray):
    lat, lon, _ = FRAME.to_geographic(east_km, north_km)
    return lat, lon, channel_along_km(lat, lon)


def test_mirror_of_a_straight_fiber_is_the_reflection():
    """A fiber along a line at 20 deg from east: the epicentre 30 km off it reflects to 30 km on the
    other side, along the normal, and the reach is straight (bend 0)."""
    s = np.arange(-100.0, 100.0, 0.1)
    u = np.array([np.cos(np.radians(20)), np.sin(np.radians(20))])
    normal = np.array([-u[1], u[0]])
    lat, lon, along = _fiber(s * u[0] + 5.0, s * u[1] - 3.0)
    src = np.array([5.0, -3.0]) + 10.0 * u + 30.0 * normal
    src_lat, src_lon, _ = FRAME.to_geographic(*src)
    mlat, mlon, bend = mirror_across_fiber(float(src_lat), float(src_lon), lat, lon, along, hypo_min_km=31.6)
    expect_lat, expect_lon, _ = FRAME.to_geographic(*(src - 60.0 * normal))
    assert float(epicentral_km(mlat, mlon, expect_lat, expect_lon)) < 0.2
    assert float(epicentral_km(mlat, mlon, src_lat, src_lon)) == pytest.approx(60.0, abs=0.3)
    assert bend < 0.05


def test_mirror_reports_the_bend_of_the_reach():
    """An L-shaped fiber with its corner next to the event: the reach is far from a line."""
    leg = np.arange(0.0, 60.0, 0.1)
    lat, lon, along = _fiber(np.r_[-leg[::-1], np.zeros(leg.size)], np.r_[np.zeros(leg.size), leg])
    src_lat, src_lon, _ = FRAME.to_geographic(8.0, -8.0)
    _, _, bend = mirror_across_fiber(float(src_lat), float(src_lon), lat, lon, along, hypo_min_km=12.0)
    assert bend > 3.0                  # two 21-km legs at a right angle: ~4 km RMS off their best line


def test_cli_evaluate_json_has_the_issue_keys():
    r = subprocess.run([sys.executable, "-m", "edge", "evaluate", "--scenarios", "kyushu-2022", "--limit", "2",
                        "--json"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    events, summary = lines[:-1], lines[-1]
    assert len(events) == 2 and {"err_2s", "err_mirror_2s", "bend_km", "level", "curvature_a"} <= set(events[0])
    assert {"n_near", "frac_near_within_12km_at_2s", "median_error_km_at_2s", "false_stops", "missed_stops",
            "mag_mae_m4plus", "frac_near_within_12km_at_2s_or_mirror"} <= set(summary)
    assert summary["n_near"] == sum(e["distance_km"] < 100 for e in events)
    assert summary["frac_near_within_12km_at_2s_or_mirror"] >= summary["frac_near_within_12km_at_2s"]
    # at the configured stop level the trade-off replays exactly what the edge did
    at_40 = next(row for row in summary["stop_level_tradeoff"] if row["pga_stop_gal"] == 40.0)
    assert (at_40["false_stops"], at_40["missed_stops"]) == (summary["false_stops"], summary["missed_stops"])
    assert summary["false_stops_within_factor2"] <= summary["false_stops"]
    # the magnitude with the true hypocenter, to tell the relation's scatter from the location's error
    assert all(e["mag_err_true_hypo"] is None or abs(e["mag_err_true_hypo"]) < 1.5 for e in events)
    assert "mag_mae_m4plus_true_hypocenter" in summary


def _result(warrants: bool, decisions: list, fallback: bool = False) -> EventResult:
    nan = float("nan")
    return EventResult(name="e", magnitude=5.0, depth_km=10.0, distance_km=20.0, err_1s=nan, err_2s=nan, err_3s=nan,
                       err_latest_2s=nan, depth_err_2s=nan, mag_est=nan, mag_err=nan, curvature_a=nan, level="none",
                       warrants_stop=warrants, first_detection_s=nan, n_locations=len(decisions),
                       true_pga_gal=nan, fallback_stop=fallback, decisions=decisions)


def test_stop_level_tradeoff_counts_what_each_level_would_have_stopped():
    # predicted PGA of each decision from the same rule the gate uses
    m, dist, depth = 5.0, 30.0, 10.0
    predicted = float(pga_gal(m, dist, depth))
    results = [
        _result(False, [(True, m, dist, depth)]),              # trusted: stops below `predicted` only
        _result(True, [(False, 7.0, 5.0, 10.0)]),              # untrusted: never stops, whatever it predicts
        _result(True, [(True, float("nan"), 5.0, 10.0)], fallback=True),   # the fallback stops at every level
        _result(False, []),
    ]
    below, above = stop_level_tradeoff(results, levels=(0.9 * predicted, 1.1 * predicted))
    assert (below["false_stops"], below["missed_stops"]) == (1, 1)
    assert (above["false_stops"], above["missed_stops"]) == (0, 1)


def test_unperturbed_earth_makes_the_locator_model_exact_but_for_statics():
    from edge.location import Locator
    from sim.scenarios import scenario
    item = scenario("random", seed=1, n_events=100)[1]           # M5.7, 73 km from the fiber
    table = Locator().table
    spread = {}
    for perturbation in (None, 0.0):
        scene = item.scene(perturbation=perturbation)
        wf, src = scene.wavefields[0], scene.wavefields[0].source
        epi = epicentral_km(src.lat, src.lon, scene.layout.lat, scene.layout.lon)
        first = np.argsort(wf.p.time)[:3000]                        # the reach a 2-s location sees
        residual = wf.p.time[first] - src.origin_time - table.travel_time_p(epi[first], src.depth_km)
        spread[perturbation] = np.percentile(residual, 95) - np.percentile(residual, 5)
    # +-5 % lateral velocity at 70-100 km: a few tenths of a second across the reach; without it only the
    # statics (0.04 s smooth, 5 ms jitter) and the fiber's elevation remain
    assert spread[None] > 0.15
    assert spread[0.0] < 0.5 * spread[None]
