"""Fusion of segments: picks of two boxes on a bent line, events near their boundary. Each box alone
sees the P front on its own stretch; the fused location from both must be better on average (the
issue's figure; printed with -s)."""
from __future__ import annotations

import numpy as np
import pytest

from central.fusion import FusionSettings, fuse_event, fusion_locator
from central.store import EventStore
from edge.geodesy import destination, epicentral_km
from edge.location import Locator
from edge.wire import decode_message, encode_message, message

from .test_store import location

T0 = 1_667_260_800.0
N_CH = 200           # per box, 100 m apart: 20 km segments


def line() -> tuple[np.ndarray, np.ndarray]:
    """A 40 km line bent at its middle: box a runs north, box b north-east from the bend."""
    lat_a, lon_a = destination(32.60, 130.70, 0.0, np.arange(N_CH) * 0.1)
    lat_b, lon_b = destination(float(lat_a[-1]), float(lon_a[-1]), 45.0, np.arange(1, N_CH + 1) * 0.1)
    return np.concatenate([lat_a, lat_b]), np.concatenate([lon_a, lon_b])


def store_box_event(store, box, ch0, lat, lon, channels, times, src_seq):
    """Box ``box`` (channels ch0.. with coordinates lat, lon) says hello; its picks of event
    ``{box}-{src_seq}`` on ``channels`` (relative) at ``times`` are returned as a decoded message."""
    hello = message("hello", box, 1, software="t", segment=[ch0, ch0 + lat.size - 1], fs=100.0, lat=lat, lon=lon,
                    elev_m=np.zeros(lat.size))
    store.record_hello(decode_message(encode_message(hello)))
    n = channels.size
    picks = message("picks", box, 10 + src_seq, event=f"{box}-{src_seq}", t_ref=float(times.min()),
                    channel=(ch0 + channels).astype("<i4"), dt=(times - times.min()).astype("<f4"),
                    snr=np.full(n, 8.0, "<f4"), amp=np.full(n, 1e-6, "<f4"))
    return decode_message(encode_message(picks))


def test_fused_location_beats_each_box():
    rng = np.random.default_rng(4)
    lat, lon = line()
    edge_locator = Locator()
    settings = FusionSettings()
    fused_locator = fusion_locator(settings)
    store = EventStore(":memory:")
    rows = []
    for k, (az, dist, depth) in enumerate([(100, 8, 8), (120, 15, 12), (280, 10, 6), (300, 20, 15),
                                           (90, 25, 10), (260, 6, 20)]):
        src_lat, src_lon = (float(x) for x in destination(float(lat[N_CH]), float(lon[N_CH]), az, dist))
        times = edge_locator.synthetic_times(lat, lon, 0.0, source=(src_lat, src_lon, depth), origin_time=T0)
        times = times + rng.normal(0, 0.03, times.size)
        # each box sees the front only within ~1.5 s of its first pick (the edge's early answer)
        errs, event_id = [], None
        for b, box in enumerate(("a", "b")):
            sl = slice(b * N_CH, (b + 1) * N_CH)
            t = times[sl]
            seen = np.flatnonzero(t <= t.min() + 1.5)
            own = edge_locator.locate(lat[sl][seen], lon[sl][seen], 0.0, t[seen])
            errs.append(float(epicentral_km(own.lat, own.lon, src_lat, src_lon)))
            event_id = store.add_location(location(box, 100 + k, f"{box}-{k}", t=own.origin_time, lat=own.lat,
                                                   lon=own.lon, err=own.err_h_km))
            store.add_picks(store_box_event(store, box, b * N_CH, lat[sl], lon[sl], seen, t[seen], k))
        origin = fuse_event(store, event_id, fused_locator, settings)
        assert origin is not None and origin["n_boxes"] == 2
        fused = float(epicentral_km(origin["lat"], origin["lon"], src_lat, src_lon))
        assert store.event(event_id)["lat"] == origin["lat"]          # the fused origin is preferred
        rows.append((az, dist, depth, *errs, fused))
    rows = np.array(rows)
    print("\nfusion: az dist depth | error box a, box b, fused (km)")
    for r in rows:
        print(f"  {r[0]:5.0f} {r[1]:4.0f} {r[2]:4.0f} | {r[3]:6.2f} {r[4]:6.2f} {r[5]:6.2f}")
    mean_a, mean_b, mean_fused = rows[:, 3].mean(), rows[:, 4].mean(), rows[:, 5].mean()
    print(f"  mean: box a {mean_a:.2f}, box b {mean_b:.2f}, fused {mean_fused:.2f} km")
    assert mean_fused < min(mean_a, mean_b)
    assert mean_fused < 3.0


def test_one_box_or_few_picks_is_not_fused():
    store = EventStore(":memory:")
    lat, lon = line()
    e = store.add_location(location("a", 1, "a-0"))
    store.add_picks(store_box_event(store, "a", 0, lat[:N_CH], lon[:N_CH], np.arange(N_CH),
                                    T0 + np.linspace(0, 3, N_CH), 0))
    assert fuse_event(store, e, Locator(), FusionSettings()) is None                  # one box
    assert fuse_event(store, e, Locator(), FusionSettings(min_boxes=1)) is not None   # allowed alone
    assert fuse_event(store, e, Locator(), FusionSettings(min_boxes=1, min_picks=10_000)) is None


def test_picks_on_undescribed_channels_are_left_out():
    from central.fusion import event_picks_with_coordinates
    store = EventStore(":memory:")
    lat, lon = line()
    e = store.add_location(location("a", 1, "a-0"))
    picks = store_box_event(store, "a", 0, lat[:N_CH], lon[:N_CH], np.arange(N_CH) + 150,
                            T0 + np.linspace(0, 3, N_CH), 0)       # 150 of them beyond the box's hello
    store.add_picks(picks)
    p = event_picks_with_coordinates(store, e)
    assert p["time"].size == 50 and p["n_unplaced"] == 150
    assert p["lat"][0] == pytest.approx(lat[150])


def test_later_picks_and_s_picks_do_not_pull_the_fused_origin():
    """What the boxes really send: every block's P candidates, so after P the same channels pick S and
    coda again, and on a quarter of the channels P was missed and the first pick is S. Fusion keeps
    the first pick per channel and drops what a first solution shows seconds late."""
    lat, lon = line()
    loc = Locator()
    settings = FusionSettings()
    src = (float(lat[N_CH]) + 0.05, float(lon[N_CH]) + 0.08, 10.0)
    tp = loc.synthetic_times(lat, lon, 0.0, source=src, origin_time=T0)
    ts = T0 + (tp - T0) * 6.0 / 3.5             # S at vp/vs = 1.71
    rng = np.random.default_rng(1)
    missed = rng.random(lat.size) < 0.25
    first = np.where(missed, ts, tp) + rng.normal(0, 0.03, lat.size)
    store = EventStore(":memory:")
    e = None
    for b, box in enumerate(("a", "b")):
        sl = slice(b * N_CH, (b + 1) * N_CH)
        e = store.add_location(location(box, 1, f"{box}-0", t=T0, lat=src[0], lon=src[1]))
        store.add_picks(store_box_event(store, box, b * N_CH, lat[sl], lon[sl], np.arange(N_CH), first[sl], 0))
        later = store_box_event(store, box, b * N_CH, lat[sl], lon[sl], np.arange(N_CH), ts[sl] + 0.5, 1)
        store.add_picks({**later, "event": f"{box}-0"})     # S and coda picks of the same event
    origin = fuse_event(store, e, fusion_locator(settings), settings)
    assert origin is not None
    assert float(epicentral_km(origin["lat"], origin["lon"], src[0], src[1])) < 2.0
    assert origin["misfit"] < 0.1
    assert origin["n_picks"] <= int((~missed).sum()) + 5
