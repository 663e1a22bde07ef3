"""Exports read back by software we did not write: QuakeML by ObsPy, GeoJSON and CSV by the stdlib."""
from __future__ import annotations

import csv
import io
import json

import pytest

from central.exports import to_csv, to_geojson, to_quakeml
from central.store import EventStore

from .test_store import T0, alarm, location


@pytest.fixture
def events():
    store = EventStore(":memory:")
    e1 = store.add_location(location("a", 1, "a-1", err=4.0, mag=4.3))
    store.add_location(location("a", 2, "a-1", err=3.0, mag=4.4, update=2, lat=32.71))
    store.add_alarm(alarm("a", 3, "a-1"))
    store.add_classification(e1, "classifier-test", {"earthquake": 0.05, "collapse": 0.9, "explosion": 0.05}, 120)
    store.add_location(location("b", 1, "b-1", t=T0 + 600, lat=33.0, lon=131.0, err=None, mag=None))
    out = [store.event(e["id"]) for e in store.events()]
    store.close()
    return out


def test_quakeml_reads_back_in_obspy(events):
    obspy = pytest.importorskip("obspy")
    cat = obspy.read_events(io.BytesIO(to_quakeml(events).encode()), format="QUAKEML")
    assert len(cat) == 2
    by_id = {str(e.resource_id).rsplit("/", 1)[1]: e for e in cat}
    ev = by_id[str(events[1]["id"])]                   # newest first: the first event is second
    assert len(ev.origins) == 2
    pref = ev.preferred_origin()
    assert pref.latitude == pytest.approx(32.71) and pref.longitude == pytest.approx(130.7)
    assert pref.depth == pytest.approx(10_000.0) and pref.depth_errors.uncertainty == pytest.approx(8_000.0)
    assert pref.origin_uncertainty.horizontal_uncertainty == pytest.approx(3_000.0)
    assert pref.time.timestamp == pytest.approx(T0, abs=1e-5)
    assert pref.quality.used_phase_count == 40
    assert ev.preferred_magnitude().mag == pytest.approx(4.4) and ev.preferred_magnitude().magnitude_type == "Mdas"
    assert ev.event_type == "mine collapse" and ev.event_type_certainty == "known"
    other = by_id[str(events[0]["id"])]
    assert other.preferred_magnitude() is None and other.event_type is None
    assert other.preferred_origin().origin_uncertainty is None


def test_csv_and_geojson(events):
    rows = list(csv.DictReader(io.StringIO(to_csv(events))))
    assert [int(r["event"]) for r in rows] == [e["id"] for e in events]
    assert rows[1]["class"] == "collapse" and rows[1]["level"] == "stop" and float(rows[1]["mag"]) == 4.4
    assert rows[0]["mag"] == "" and rows[1]["origin_time"].startswith("2022-11-01T00:00:00")
    gj = json.loads(to_geojson(events))
    assert gj["type"] == "FeatureCollection" and len(gj["features"]) == 2
    lon, lat, z = gj["features"][1]["geometry"]["coordinates"]
    assert (lat, lon, z) == (32.71, 130.7, -10_000.0)
