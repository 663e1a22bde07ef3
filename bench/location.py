"""Hypocenter locator: oct-tree relocation time with 500 picks, beside its plain full-grid peer.

Prints, on one core, for each norm (l1, l2):

1. the oct-tree relocation (``edge.location.Locator.locate``) with 500 picks on a ~100 km
   route (Kumamoto-like bends, 0.02 s pick noise): median of ``--runs`` wall times after a
   warm-up call, and whether the 10 ms budget is met;
2. the exhaustive peer (``locate_exhaustive``): every node of the same 0.5 km lattice, same
   picks and misfit, over a 30 x 30 x 40 km box around the source (measured), and that time
   scaled by node count to the oct-tree's whole search box (150 km margin, 0-80 km);
3. the distance between the two solutions on that event, then over ``--events`` random events
   (peer grids of 6 km around the truth and around the oct-tree's answer): how often the
   oct-tree lands within one fine cell of the peer's optimum, and the worst misfit excess.

``python -m bench.location [--runs N] [--events N] [--seed S]``
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from edge.geodesy import destination, epicentral_km, resample_polyline
from edge.location import Locator, LocatorConfig

T0 = 1_667_260_800.0
ROUTE = ([33.30, 33.10, 32.95, 32.79, 32.65, 32.52, 32.40], [130.55, 130.62, 130.68, 130.69, 130.67, 130.66, 130.58])
MIDDLE = (32.85, 130.66)
BUDGET_MS = 10.0


def _picks(loc: Locator, source, rng) -> tuple[np.ndarray, ...]:
    """500 channels (one every ~208 m) with noisy P times from ``source``."""
    lat, lon, elev, dist_m = resample_polyline(*ROUTE, 10.0, spacing_m=100.0)
    keep = np.round(np.linspace(0, lat.size - 1, 500)).astype(int)
    lat, lon, elev = lat[keep], lon[keep], elev[keep]
    t = loc.synthetic_times(lat, lon, elev, source=source, origin_time=T0) + rng.normal(0, 0.02, lat.size)
    return lat, lon, elev, t


def _median_ms(fn, runs: int) -> float:
    fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))


def _distance_km(a, b) -> float:
    return float(np.linalg.norm([a.east_km - b.east_km, a.north_km - b.north_km, a.depth_km - b.depth_km]))


def timing(norm: str, runs: int, seed: int) -> None:
    """Relocation time against the full-grid peer on one event."""
    loc = Locator(config=LocatorConfig(norm=norm))
    rng = np.random.default_rng(seed)
    source = (*(float(x) for x in destination(*MIDDLE, 70.0, 30.0)), 12.0)
    lat, lon, elev, t = _picks(loc, source, rng)
    sol = loc.locate(lat, lon, elev, t)
    ms = _median_ms(lambda: loc.locate(lat, lon, elev, t), runs)
    e, n, _ = loc.frame_of(lat, lon, elev).to_enu(source[0], source[1], 0.0)
    bounds = (e - 15, e + 15, n - 15, n + 15, 0.0, 40.0)
    start = time.perf_counter()
    peer = loc.locate_exhaustive(lat, lon, elev, t, step_km=loc.config.fine_km, bounds=bounds)
    peer_s = time.perf_counter() - start
    box = loc.search_box(lat, lon, elev)
    whole = np.prod([(hi - lo) / loc.config.fine_km for lo, hi in zip(box[0::2], box[1::2])])
    whole_s = peer_s / peer.evaluations * whole
    print(f"-- {norm}: {sol.n_picks} picks, event 30 km ENE of the route's middle at 12 km --")
    print(f"oct-tree  {ms:8.2f} ms  ({sol.evaluations} nodes)   budget {BUDGET_MS:g} ms: "
          f"{'met' if ms <= BUDGET_MS else 'NOT met'}")
    print(f"peer      {peer_s * 1e3:8.0f} ms  ({peer.evaluations} nodes of 0.5 km, 30 x 30 x 40 km box; "
          f"{peer_s / peer.evaluations * 1e6:.2f} us/node)   ratio {peer_s * 1e3 / ms:,.0f}x")
    print(f"peer, whole search box ({whole:.3g} nodes): ~{whole_s:,.0f} s "
          f"(scaled)   ratio ~{whole_s * 1e3 / ms:,.0f}x")
    print(f"oct-tree vs peer: {_distance_km(sol, peer):.2f} km apart, misfit {sol.misfit:.4f} vs {peer.misfit:.4f} s; "
          f"vs truth: {float(epicentral_km(sol.lat, sol.lon, source[0], source[1])):.2f} km epicentre, "
          f"{sol.depth_km - source[2]:+.2f} km depth, origin {sol.origin_time - T0:+.3f} s")


def agreement(norm: str, events: int, seed: int) -> None:
    """How often the oct-tree's node is within one fine cell of the full grid's optimum."""
    loc = Locator(config=LocatorConfig(norm=norm))
    fine = loc.config.fine_km
    rng = np.random.default_rng(seed)
    within = 0
    excess = []
    errors = []
    for _ in range(events):
        source = (*(float(x) for x in destination(*MIDDLE, rng.uniform(0, 360), rng.uniform(5, 100))),
                  float(rng.uniform(3, 40)))
        lat, lon, elev, t = _picks(loc, source, rng)
        sol = loc.locate(lat, lon, elev, t)
        e, n, _ = loc.frame_of(lat, lon, elev).to_enu(source[0], source[1], 0.0)
        peers = [loc.locate_exhaustive(lat, lon, elev, t, step_km=fine,
                                       bounds=(x - 3, x + 3, y - 3, y + 3, max(0.0, z - 3), z + 3))
                 for x, y, z in ((e, n, source[2]), (sol.east_km, sol.north_km, sol.depth_km))]
        peer = min(peers, key=lambda p: p.misfit)
        gap = np.abs([sol.east_km - peer.east_km, sol.north_km - peer.north_km, sol.depth_km - peer.depth_km])
        within += bool(gap.max() <= fine + 1e-9)
        excess.append(sol.misfit / peer.misfit - 1.0)
        errors.append(float(epicentral_km(sol.lat, sol.lon, source[0], source[1])))
    print(f"{norm}: {events} random events (5-100 km, 3-40 km deep): within one fine cell of the peer "
          f"{within}/{events}; misfit excess median {np.median(excess):.2%}, worst {max(excess):.2%}; "
          f"epicentre error vs truth median {np.median(errors):.2f} km, 90 % {np.percentile(errors, 90):.2f} km")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.location", description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=50, help="timed relocations per norm (default 50)")
    p.add_argument("--events", type=int, default=20, help="random events for the agreement table (default 20)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    print("== hypocenter locator: oct-tree vs full-grid peer (one core) ==")
    for norm in ("l1", "l2"):
        timing(norm, args.runs, args.seed)
    print("-- agreement with the full-grid peer --")
    for norm in ("l1", "l2"):
        agreement(norm, args.events, args.seed + 1)


if __name__ == "__main__":
    main()
