"""Fusion of segments: one location from the picks of every box that saw an event.

A box sees the P front cross only its own stretch of fiber, so an event near a segment boundary or
beside a short segment is poorly constrained in one box's picks (the curvature of the arrival times
along a few km of fiber). Central has all boxes' picks with their channel coordinates (from each
box's ``hello``) and relocates with all of them, using the edge's own locator (same travel-time
table, same misfit) on a search box around all the picks. The fused origin is stored as method
``fused`` and becomes the event's preferred origin.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from central.store import EventStore
from edge.exceptions import DasEewError
from edge.location import Locator, LocatorConfig

__all__ = ["FusionSettings", "event_picks_with_coordinates", "fuse_event"]

log = logging.getLogger("central.fusion")


@dataclass(frozen=True)
class FusionSettings:
    """When and how central relocates an event with all boxes' picks."""

    min_boxes: int = 2          # boxes with picks of the event before fusing (1 = also single-box events)
    min_picks: int = 20         # picks with known coordinates
    every_s: float = 1.0        # s: at most one relocation per event this often (new picks only)
    max_picks: int = 1000       # the locator's thinning (the edge keeps 500 from one segment)
    margin_km: float = 150.0    # search beyond the picks' bounding box
    max_residual_s: float = 1.0  # s: after a first solution, picks this far off it are dropped and it is redone
    max_misfit_s: float = 0.5   # s: a fused solution fitting its picks worse than this is not stored


def event_picks_with_coordinates(store: EventStore, event_id: int) -> dict[str, np.ndarray]:
    """The event's first pick per channel from all boxes with each channel's coordinates; picks on
    channels a box's hello did not describe are left out (counted in ``n_unplaced``).

    Only the first: a box's ``picks`` messages carry every P candidate of every block, and after its
    P trigger has closed a channel picks S or coda too (they pass the moveout test: they are seismic).
    The edge's own locator keeps the first pick per channel; so does fusion.
    """
    rows = store.event_picks(event_id)          # in time order
    geometry: dict[str, tuple | None] = {}
    out = {k: [] for k in ("box", "lat", "lon", "elev_m", "time", "snr")}
    unplaced = 0
    seen: set[tuple[str, int]] = set()
    for r in rows:
        key = (r["box"], r["channel"])
        if key in seen:
            continue
        seen.add(key)
        if r["box"] not in geometry:
            geometry[r["box"]] = store.box_channels(r["box"])
        g = geometry[r["box"]]
        i = None if g is None else r["channel"] - g[0]
        if i is None or not 0 <= i < g[1].size:
            unplaced += 1
            continue
        out["box"].append(r["box"])
        out["lat"].append(g[1][i])
        out["lon"].append(g[2][i])
        out["elev_m"].append(g[3][i])
        out["time"].append(r["time"])
        out["snr"].append(r["snr"])
    arrays = {k: np.asarray(v, dtype=object if k == "box" else float) for k, v in out.items()}
    arrays["n_unplaced"] = unplaced
    return arrays


def fuse_event(store: EventStore, event_id: int, locator: Locator, settings: FusionSettings) -> dict | None:
    """Relocate ``event_id`` with all its boxes' picks; store and return the fused origin, or None
    when there are too few boxes or picks (or the locator refuses them)."""
    p = event_picks_with_coordinates(store, event_id)
    n_boxes = len(set(p["box"]))
    if n_boxes < settings.min_boxes or p["time"].size < settings.min_picks:
        return None
    # SNR weights, capped so that a few very strong channels do not outvote the geometry
    weight = np.clip(np.nan_to_num(p["snr"], nan=1.0), 1.0, 20.0)
    try:
        loc = locator.locate(p["lat"], p["lon"], p["elev_m"], p["time"], weight)
        # Cleaning: a first pick on a channel where P was missed is S or coda, seconds late (and after
        # a central restart the P picks sent meanwhile are gone: picks are lossy, so a box may be
        # left with late picks only). Late picks pull the origin time late, so the all-picks solution
        # shows them as late and the true P picks as early: drop the late ones first, relocate, then
        # judge every pick against the newer solution (a P pick dropped by the biased one comes back).
        for two_sided in (False, True):
            predicted = locator.synthetic_times(p["lat"], p["lon"], p["elev_m"], origin_time=loc.origin_time,
                                                source=(loc.lat, loc.lon, loc.depth_km))
            residual = p["time"] - predicted
            keep = (np.abs(residual) if two_sided else residual) <= settings.max_residual_s
            if keep.all() or keep.sum() < settings.min_picks:
                break
            loc = locator.locate(p["lat"][keep], p["lon"][keep], p["elev_m"][keep], p["time"][keep], weight[keep])
    except DasEewError as exc:
        log.warning("fusion of event %s failed: %s", event_id, exc)
        return None
    if not loc.misfit <= settings.max_misfit_s:
        log.info("fusion of event %s not kept: misfit %.2f s > %.2f s", event_id, loc.misfit, settings.max_misfit_s)
        return None
    origin = {"origin_time": float(loc.origin_time), "lat": float(loc.lat), "lon": float(loc.lon),
              "depth_km": float(loc.depth_km), "err_h_km": float(loc.err_h_km),
              "err_z_km": _finite(loc.err_z_km), "misfit": float(loc.misfit), "n_picks": int(loc.n_picks),
              "mag": None}
    origin["id"] = store.add_origin(event_id, origin, method="fused")
    origin["n_boxes"] = n_boxes
    return origin


def fusion_locator(settings: FusionSettings, base: LocatorConfig | None = None) -> Locator:
    """The edge's locator with a pick budget and search box for a whole line."""
    from dataclasses import replace
    cfg = replace(base or LocatorConfig(), max_picks=settings.max_picks, margin_km=settings.margin_km)
    return Locator(config=cfg)


def _finite(x) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)
