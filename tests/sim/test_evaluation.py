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
from sim.evaluation import mirror_across_fiber

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
