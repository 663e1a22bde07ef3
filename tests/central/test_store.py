"""The SQLite event store: schema migrations, de-duplication across restarts, association of box
events into central events (and keeping simultaneous distant events apart), batches, box health."""
from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from central.store import MIGRATIONS, SCHEMA_VERSION, AssociationConfig, EventStore, StoreError
from edge.geodesy import destination, epicentral_km
from edge.wire import decode_message, encode_message, message

T0 = 1_667_260_800.0


def location(box, seq, event, *, t=T0, lat=32.7, lon=130.7, err=5.0, mag=4.0, update=1, **kw):
    m = message("location", box, seq, event=event, origin_time=t, lat=lat, lon=lon, depth_km=10.0, err_h_km=err,
                err_z_km=8.0, misfit=0.1, n_picks=40, curvature_a=0.01, mag=mag, update=update,
                data_time=t + 8, since_first_pick_s=2.0, **kw)
    return decode_message(encode_message(m))     # exactly what the collector hands on


def alarm(box, seq, event, level="stop"):
    m = message("alarm", box, seq, event=event, level=level, reason="test", segment=[0, 99], data_time=T0 + 8,
                since_first_pick_s=1.5, issued=T0 + 9)
    return decode_message(encode_message(m))


def test_new_file_has_the_current_schema_and_refuses_a_newer_one(tmp_path):
    path = tmp_path / "s.sqlite"
    store = EventStore(path)
    assert store.version == SCHEMA_VERSION == len(MIGRATIONS)
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(StoreError, match="newer"):
        EventStore(path)


def test_migration_runs_in_place_and_keeps_data(tmp_path, monkeypatch):
    """A file at version 1 is migrated by a later script without losing rows, in one transaction."""
    path = tmp_path / "s.sqlite"
    store = EventStore(path)
    store.add_location(location("a", 1, "a-1"))
    store.close()
    monkeypatch.setattr("central.store.MIGRATIONS", [*MIGRATIONS, "ALTER TABLE events ADD COLUMN note TEXT;"])
    monkeypatch.setattr("central.store.SCHEMA_VERSION", len(MIGRATIONS) + 1)
    store = EventStore(path)
    assert store.version == len(MIGRATIONS) + 1
    assert store.events()[0]["note"] is None and len(store.events()) == 1
    store.close()
    # a failing script leaves the file at its old version, untouched
    monkeypatch.setattr("central.store.MIGRATIONS", [*MIGRATIONS, "ALTER TABLE events ADD COLUMN note TEXT;",
                                                     "CREATE TABLE x (a); SELECT no_such_function();"])
    monkeypatch.setattr("central.store.SCHEMA_VERSION", len(MIGRATIONS) + 2)
    with pytest.raises(sqlite3.OperationalError):
        EventStore(path)
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS) + 1
    assert not db.execute("SELECT name FROM sqlite_master WHERE name='x'").fetchall()


def test_resent_messages_are_stored_once_across_restarts(tmp_path):
    path = tmp_path / "s.sqlite"
    store = EventStore(path)
    assert store.add_location(location("a", 1, "a-1")) is not None
    assert store.add_alarm(alarm("a", 2, "a-1")) is not None
    store.close()
    store = EventStore(path)                      # central restarted; the box resends what it had not seen acked
    assert store.add_location(location("a", 1, "a-1")) is None
    assert store.add_alarm(alarm("a", 2, "a-1")) is None
    assert store.counts()["origins"] == 1 and store.counts()["alarms"] == 1


def test_boxes_seeing_one_event_share_it_and_the_best_origin_wins():
    store = EventStore(":memory:")
    e1 = store.add_location(location("a", 1, "a-1", err=8.0))
    lat, lon = destination(32.7, 130.7, 90.0, 10.0)
    e2 = store.add_location(location("b", 1, "b-1", t=T0 + 1.0, lat=float(lat), lon=float(lon), err=3.0, mag=4.2))
    assert e1 == e2
    ev = store.event(e1)
    assert ev["boxes"] == ["a", "b"] and ev["n_boxes"] == 2
    assert ev["err_h_km"] == 3.0 and ev["mag"] == pytest.approx(4.2)
    # box a's newer answer supersedes its older one even when box b's is still the best overall
    store.add_location(location("a", 2, "a-1", err=6.0, update=2))
    assert store.event(e1)["err_h_km"] == 3.0
    store.add_location(location("a", 3, "a-1", err=2.0, update=3))
    assert store.event(e1)["err_h_km"] == 2.0
    # a fused origin is preferred whatever its uncertainty
    store.add_origin(e1, {"origin_time": T0, "lat": 32.71, "lon": 130.75, "depth_km": 9.0, "err_h_km": 2.5,
                          "n_picks": 300}, method="fused")
    assert store.event(e1)["err_h_km"] == 2.5 and store.event(e1)["lat"] == 32.71


def test_simultaneous_distant_events_stay_apart():
    """Two earthquakes 2 s apart, 150 km apart on one line: two events, not one."""
    store = EventStore(":memory:", association=AssociationConfig())
    lat, lon = destination(32.7, 130.7, 0.0, 150.0)
    e1 = store.add_location(location("a", 1, "a-1"))
    e2 = store.add_location(location("c", 1, "c-1", t=T0 + 2.0, lat=float(lat), lon=float(lon)))
    assert e1 != e2
    # and the same box's two events far apart in time are two events too
    e3 = store.add_location(location("a", 2, "a-2", t=T0 + 120.0))
    assert e3 not in (e1, e2)


def _line_store(**kw) -> EventStore:
    """A store that knows three boxes along a meridian (lat 32.5-33.1 at lon 130.7, 20 km each) and
    a homogeneous 6 km/s half-space for P."""
    store = EventStore(":memory:", association=AssociationConfig(**kw),
                       travel_time_p=lambda epi, depth: np.hypot(epi, depth) / 6.0)
    for k, box in enumerate("abc"):
        lat = np.linspace(32.5 + 0.2 * k, 32.7 + 0.2 * k, 200)
        store.record_hello(message("hello", box, 1, software="t", segment=[200 * k, 200 * k + 199], fs=100.0,
                                   lat=lat, lon=np.full(200, 130.7), elev_m=np.zeros(200)))
    return store


def _located(box, seq, *, t, lat, first_detection, lon=130.7):
    m = message("location", box, seq + 1, event=f"{box}-1", origin_time=t, lat=lat, lon=lon, depth_km=10.0,
                err_h_km=5.0, err_z_km=8.0, misfit=0.1, n_picks=40, curvature_a=None, mag=4.0, update=1,
                data_time=first_detection + 2.0, since_first_pick_s=2.0)
    return decode_message(encode_message(m))


def _p_time(lat_event, lat_box_near, depth=10.0):
    epi = float(np.min(epicentral_km(lat_event, 130.75, np.array([lat_box_near]), np.array([130.7]))))
    return float(np.hypot(epi, depth) / 6.0)


@pytest.mark.parametrize("first_box_is_the_bad_one", [False, True])
def test_a_badly_located_box_joins_by_its_arrival_times(first_box_is_the_bad_one):
    """An event under box a (lat 32.6); box c, 30 km up the line, locates it 55 km off with its origin
    7 s early (an off-end event for c). Its first detection fits the event's P arrival at its
    nearest channel, so it joins, whichever box reported first; without travel times it cannot."""
    good = _located("a", 1, t=T0, lat=32.6, lon=130.75, first_detection=T0 + _p_time(32.6, 32.6))
    bad = _located("c", 1, t=T0 - 7.0, lat=32.1, first_detection=T0 + _p_time(32.6, 32.9))
    order = [bad, good] if first_box_is_the_bad_one else [good, bad]
    store = _line_store()
    assert len({store.add_location(m) for m in order}) == 1
    assert len(store.events()) == 1 and store.events()[0]["n_boxes"] == 2
    plain = EventStore(":memory:", association=AssociationConfig())
    assert len({plain.add_location(m) for m in order}) == 2


def test_a_simultaneous_event_elsewhere_on_the_line_does_not_join_by_arrival_times():
    """Box c's own event 2 s after box a's, under c (lat 33.1, 56 km away): its arrivals do not fit a's
    event (P from a's would reach c 2.2 s later than c detected)."""
    store = _line_store()
    e1 = store.add_location(_located("a", 1, t=T0, lat=32.6, lon=130.75, first_detection=T0 + _p_time(32.6, 32.6)))
    e2 = store.add_location(_located("c", 1, t=T0 + 2.0, lat=33.1, lon=130.75,
                                     first_detection=T0 + 2.0 + _p_time(33.1, 33.1)))
    assert e1 != e2


def test_alarm_raises_the_event_level_and_never_lowers_it():
    store = EventStore(":memory:")
    e = store.add_location(location("a", 1, "a-1"))
    store.add_alarm(alarm("a", 2, "a-1", "advisory"))
    assert store.event(e)["level"] == "advisory"
    store.add_alarm(alarm("a", 3, "a-1", "stop"))
    store.add_alarm(alarm("a", 4, "a-1", "advisory"))
    ev = store.event(e)
    assert ev["level"] == "stop" and [a["level"] for a in ev["alarms"]] == ["advisory", "stop", "advisory"]


def test_alarm_before_any_location_gets_an_event_that_the_location_joins():
    store = EventStore(":memory:")
    e = store.add_alarm(alarm("a", 1, "a-1"))          # the amplitude fallback can precede a location
    assert store.events() == []                       # not located yet: not listed
    assert store.add_location(location("a", 2, "a-1")) == e
    assert store.events()[0]["level"] == "stop"


def test_a_box_alarm_on_centrals_alert_joins_that_event():
    """A box raises ``central-<id>`` on central's alert: its alarm belongs to event <id>, not a new one."""
    store = EventStore(":memory:")
    e1 = store.add_location(location("a", 1, "a-1"))
    assert store.add_alarm(alarm("b", 1, f"central-{e1}", level="advisory")) == e1
    assert store.add_alarm(alarm("b", 2, "central-999", level="advisory")) != e1   # unknown: kept apart
    assert store.events()[0]["level"] == "advisory" and len(store.events()) == 1


def test_picks_of_events_are_kept_noise_picks_are_not():
    store = EventStore(":memory:")
    e = store.add_location(location("a", 1, "a-1"))
    n = 1000
    picks = message("picks", "a", 2, event="a-1", t_ref=T0, channel=np.arange(n, dtype="<i4"),
                    dt=np.linspace(0, 3, n).astype("<f4"), snr=np.full(n, 9, "<f4"), amp=np.full(n, 1e-6, "<f4"))
    picks = decode_message(encode_message(picks))
    assert store.add_picks(picks) == n
    assert store.add_picks(picks) == 0                 # resent
    noise = decode_message(encode_message({**picks, "seq": 3, "event": None}))
    assert store.add_picks(noise) == 0
    got = store.event(e)["picks"]
    assert len(got) == n and got[-1]["time"] == pytest.approx(T0 + 3.0, abs=1e-5)


def test_a_failed_call_inside_a_batch_rolls_back_only_itself(tmp_path):
    path = tmp_path / "s.sqlite"
    store = EventStore(path)
    store.begin()
    store.add_location(location("a", 1, "a-1"))
    bad = location("a", 2, "a-1")
    bad["n_picks"] = object()                          # sqlite cannot bind it: this call fails
    with pytest.raises(sqlite3.Error):
        store.add_location(bad)
    store.add_alarm(alarm("a", 3, "a-1"))
    reader = EventStore(path, readonly=True)
    assert reader.counts()["origins"] == 0             # not committed yet: invisible to readers
    store.commit()
    assert reader.counts()["origins"] == 1 and reader.counts()["alarms"] == 1
    reader.close()
    store.close()


def test_heartbeats_update_health_and_are_sampled_once_a_minute():
    store = EventStore(":memory:")
    hello = decode_message(encode_message(message(
        "hello", "a", 1, software="t", segment=[0, 2], fs=100.0, lat=np.array([32.0, 32.1, 32.2]),
        lon=np.array([130.0, 130.0, 130.1]), elev_m=np.zeros(3))))
    store.record_hello(hello, now=T0)
    for i in range(180):
        hb = message("heartbeat", "a", 2 + i, health={"frames": i, "lag_s": 0.01})
        store.record_heartbeat(decode_message(encode_message(hb)), now=T0 + i)
    (box,) = store.boxes()
    assert box["health"]["frames"] == 179 and box["heartbeats"] == 180
    assert box["segment_last"] == 2 and box["lat_last"] == 32.2 and box["lon_last"] == 130.1
    assert store.counts()["box_health"] == 3
