"""Hypocenter from P picks on a fiber: oct-tree grid search with origin time eliminated.

    picks (lat, lon, elev, time) -> local ENU frame -> weight / thin redundant channels
        -> oct-tree over (east, north, depth) -> best node + likelihood-weighted uncertainty

The search runs in a local east-north-up frame around the picks (:class:`edge.geodesy.LocalFrame`)
over the picks' bounding box widened by ``margin_km`` and depths 0..``max_depth_km``. Epicentral
distance is the flat distance in that frame: for points within 150 km of the frame origin it
differs from the WGS84 geodesic by < 0.015 km (0.035 km within 200 km; measured against ObsPy's
``gps2dist_azimuth``), far below the fine cell, so the flat frame is fine to ~150 km from the
fiber. (The mean-sphere haversine, :func:`edge.geodesy.epicentral_km`, is off by up to 0.3 %.)
Travel times come from the model's table (``tp``, bilinear) plus the elevation correction of
each pick.

Katakami et al. (BSSA 2025) locate with Hypomh, whose Gaussian likelihood with the origin time
integrated out is the weighted-L2 misfit after removing the mean residual; ``norm="l2"`` is
that. The default ``"l1"`` takes the weighted median instead, which bad picks (a train, a
late onset) barely move.

Example
-------
>>> from edge.geodesy import resample_polyline
>>> from edge.location import Locator
>>> loc = Locator()                                   # default JMA2001-like model
>>> lat, lon, elev, _ = resample_polyline([32.4, 32.8, 33.3], [130.58, 130.69, 130.55], 10.0,
...                                       spacing_m=200.0)
>>> t = loc.synthetic_times(lat, lon, elev, source=(32.6, 130.8, 8.0), origin_time=1667260800.0)
>>> sol = loc.locate(lat, lon, elev, t)
>>> from edge.geodesy import epicentral_km
>>> bool(epicentral_km(sol.lat, sol.lon, 32.6, 130.8) < 1.0), abs(sol.depth_km - 8.0) < 1.0
(True, True)
>>> sol.n_picks, sorted(sol.to_json())[:3]
(300, ['depth_km', 'depth_max_km', 'depth_min_km'])
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from edge.exceptions import ConfigError
from edge.geodesy import EARTH_RADIUS_KM, LocalFrame
from edge.location_picks import LocatorPicks, prepare_picks
from edge.location_misfit import log_likelihood, predict_p
from edge.location_search import COARSE, E, H, MISFIT, N, N_COLUMNS, SCORE, T0, Z, grid_search, octree_search
from edge.location_uncertainty import linearised_covariance, posterior
from edge.picks_io import format_time
from edge.traveltime import TravelTimeTable, load_or_build_table
from edge.velocity import VelocityModel

__all__ = ["LocatorConfig", "Location", "Locator"]

_MAX_GRID_NODES = 20_000_000  # exhaustive peer: 2 float64 arrays of this many nodes = 320 MB
# Room for the final descent's splits; a move splits a few leaves (32 nodes in all on the bench's
# event), and the search stops short rather than overflow.
_POLISH_CELLS = 4096


@dataclass(frozen=True)
class LocatorConfig:
    """Settings of the locator. Lengths in km, times in s.

    Attributes
    ----------
    margin_km : horizontal search beyond the picks' bounding box.
    max_depth_km : deepest source searched (rounded up to whole root cells).
    fine_km : edge of the finest cells (horizontal and depth); the answer's resolution.
    norm : "l1" (weighted median origin time, mean absolute residual; robust to bad picks) or
        "l2" (weighted mean, RMS; Hypomh's Gaussian likelihood).
    pick_sigma_s : pick plus model error of one independent observation; sets the likelihood
        and hence the uncertainty.
    max_picks : above this many picks, each ``bin_km`` square keeps an evenly spaced subset
        (DAS channels metres apart are redundant).
    bin_km : picks in one square of this size share one observation's weight (1 / picks kept
        there, times their own weight): neighbouring channels share site and path errors, so
        hundreds of channels are not hundreds of independent picks. This keeps the
        uncertainty honest and stops dense stretches of fiber outvoting sparse ones.
    root_km : edge of the oct-tree's starting cells (rounded to ``fine_km`` times a power of 2).
    coarse_beam : cells split per oct-tree level while the children are judged on the coarse
        picks (the best-scoring of their level); cheap, and wide enough to keep the source's basin
        among look-alike valleys (Moho kinks, the near-mirror of a gently bent fiber).
    beam : the same for a split whose children are judged on all picks (by default the last one,
        into the finest cells). A relocation evaluates a fixed number of nodes: the roots, 8 per
        split cell, and at most ``max_polish`` moves of the final descent.
    coarse_picks : cells larger than ``full_pick_km`` are judged on at most this many picks,
        one per region (the pick with the median time there, so a wild pick is not chosen),
        carrying the region's weight; they only steer the search and carry the uncertainty.
    full_pick_km : cells of this edge or smaller are judged on all picks (>= ``fine_km``;
        default: only the finest cells).
    max_polish : moves of the final descent on the ``fine_km`` lattice (from the best finest
        cell to its best neighbour while that improves the misfit).
    penalty_s : residual charged to a pick without a predicted time (outside the table).
    """

    margin_km: float = 150.0
    max_depth_km: float = 80.0
    fine_km: float = 0.5
    norm: str = "l1"
    pick_sigma_s: float = 0.1
    max_picks: int = 500
    bin_km: float = 1.0
    root_km: float = 16.0
    beam: int = 64
    coarse_beam: int = 96
    coarse_picks: int = 24
    full_pick_km: float = 0.5
    max_polish: int = 16
    penalty_s: float = 2.0

    def __post_init__(self) -> None:
        if self.norm not in ("l1", "l2"):
            raise ConfigError(f"norm must be 'l1' or 'l2', got {self.norm!r}")
        positive = ("max_depth_km", "fine_km", "pick_sigma_s", "bin_km", "root_km", "full_pick_km",
                    "penalty_s")
        for name in positive:
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ConfigError(f"locator {name} must be finite and > 0, got {value!r}")
        if not (isinstance(self.margin_km, (int, float)) and math.isfinite(self.margin_km)
                and self.margin_km >= 0):
            raise ConfigError(f"locator margin_km must be finite and >= 0, got {self.margin_km!r}")
        for name, low in (("max_picks", 4), ("beam", 1), ("coarse_beam", 1), ("coarse_picks", 4),
                          ("max_polish", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(f"locator {name} must be an integer >= {low}, got {value!r}")
        if self.root_km < self.fine_km or self.full_pick_km < self.fine_km:
            raise ConfigError(f"root_km {self.root_km} and full_pick_km {self.full_pick_km} must be "
                              f">= fine_km {self.fine_km}")

    @classmethod
    def from_dict(cls, d: dict) -> LocatorConfig:
        """Build from a TOML table (unknown keys are an error)."""
        unknown = set(d) - {f.name for f in fields(cls)}
        if unknown:
            raise ConfigError(f"unknown locator settings: {', '.join(sorted(unknown))}")
        return cls(**d)

    @property
    def root_cell_km(self) -> float:
        """Root cell edge actually used: ``fine_km`` times the power of 2 nearest ``root_km``."""
        return self.fine_km * 2.0 ** max(0, round(math.log2(self.root_km / self.fine_km)))


@dataclass(frozen=True)
class Location:
    """A hypocenter with its misfit and uncertainty.

    Attributes
    ----------
    origin_time : POSIX s.
    lat, lon : degrees; depth_km : km below sea level.
    east_km, north_km : position in the locator's frame (``LocalFrame.around`` the picks).
    misfit : mean absolute (l1) or RMS (l2) weighted residual after origin-time removal, s.
    n_picks : picks used (after thinning).
    err_major_km, err_minor_km, err_azimuth_deg : horizontal 1-sigma ellipse of the likelihood
        (azimuth of the major axis, degrees east of north in [0, 180)).
    err_z_km : 1-sigma depth spread; depth_min_km, depth_max_km : its 95 % interval.
    evaluations : nodes evaluated.
    residuals : per pick used, observed - origin - predicted, s (NaN: no prediction).
    pick_index : index into the caller's arrays of each pick used.
    """

    origin_time: float
    lat: float
    lon: float
    depth_km: float
    east_km: float
    north_km: float
    misfit: float
    n_picks: int
    err_major_km: float
    err_minor_km: float
    err_azimuth_deg: float
    err_z_km: float
    depth_min_km: float
    depth_max_km: float
    evaluations: int
    residuals: np.ndarray
    pick_index: np.ndarray

    @property
    def err_h_km(self) -> float:
        """The ``location`` message's horizontal error: the ellipse's semi-major axis, km."""
        return self.err_major_km

    def to_json(self, *, residuals: bool = False) -> dict:
        """JSON-ready dict: the scalars, ``err_h_km``, ``origin_time_utc`` (ISO-8601) and, if
        asked, the residuals and pick indices. Non-finite numbers become None (JSON has no NaN)."""
        def number(v):
            return float(v) if np.isfinite(v) else None

        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("residuals", "pick_index")}
        out = {k: (int(v) if k in ("n_picks", "evaluations") else number(v)) for k, v in out.items()}
        out["err_h_km"] = number(self.err_h_km)
        out["origin_time_utc"] = format_time(self.origin_time) if np.isfinite(self.origin_time) else None
        if residuals:
            out["residuals"] = [None if not np.isfinite(r) else round(float(r), 5) for r in self.residuals]
            out["pick_index"] = [int(i) for i in self.pick_index]
        return out


class Locator:
    """Grid-search locator over a travel-time table; reusable across relocations.

    Parameters
    ----------
    model : velocity model (default: the JMA2001-like model); ignored if ``table`` is given.
    config : locator settings.
    table : a prebuilt :class:`TravelTimeTable` (its distance axis must start at 0 km).
    cache_dir : where :func:`load_or_build_table` caches the table.
    """

    def __init__(self, model: VelocityModel | None = None, *, config: LocatorConfig | None = None,
                 table: TravelTimeTable | None = None, cache_dir: str | Path | None = None) -> None:
        self.config = config or LocatorConfig()
        if table is None:
            table = load_or_build_table(model or VelocityModel.default(), cache_dir=cache_dir)
        if abs(float(table.distance_km[0])) > 1e-9:
            raise ConfigError("travel-time table distance axis must start at 0 km")
        if float(table.depth_km[-1]) < self.config.max_depth_km:
            raise ConfigError(f"table reaches {table.depth_km[-1]:g} km depth, "
                              f"below max_depth_km {self.config.max_depth_km:g} is needed")
        self.table = table
        self._tp = np.ascontiguousarray(table.tp, dtype=np.float64)
        self._axes = (1.0 / float(table.distance_km[1] - table.distance_km[0]), float(table.depth_km[0]),
                      1.0 / float(table.depth_km[1] - table.depth_km[0]))
        self._inv_vrec2 = 1.0 / float(table.vp_receiver_kms) ** 2

    # ---- public ---------------------------------------------------------------------------
    def locate(self, lat, lon, elev_m, time, weight=None) -> Location:
        """Locate from P picks by the oct-tree search.

        Parameters
        ----------
        lat, lon : array_like (n,)
            Pick positions, degrees.
        elev_m : array_like (n,) or float or None
            Pick elevations, m above sea level (None: 0).
        time : array_like (n,)
            P arrival times, POSIX s.
        weight : array_like (n,), optional
            Relative pick weights (> 0), e.g. from SNR.

        Raises
        ------
        ConfigError
            Fewer than 4 picks, mismatched lengths, NaN/Inf, non-positive weights.
        """
        cfg = self.config
        picks = prepare_picks(lat, lon, elev_m, time, weight, cfg, self.table.receiver_depth_km)
        c = self._search(picks)
        # The answer is the best finest cell: on the fine lattice, judged on all picks.
        pool = np.flatnonzero(c["h"] == c["h"].min())
        best = int(pool[np.argmin(c["misfit"][pool])])
        leaf = c["leaf"]
        # The leaves' likelihood comes from the coarse picks, on which every cell was judged:
        # mixing misfits of different pick sets would let a coarse cell that never saw the
        # wild picks outweigh the true optimum.
        boxes = (c["e"][leaf], c["n"][leaf], c["z"][leaf], c["h"][leaf], c["logl"][leaf])
        return self._result(picks, c["e"][best], c["n"][best], c["z"][best], c["misfit"][best],
                            c["t0"][best], boxes, c["h"].size)

    def locate_exhaustive(self, lat, lon, elev_m, time, *, step_km: float, bounds=None,
                          weight=None) -> Location:
        """The plain full-grid peer of :meth:`locate`: same picks, weights and misfit.

        Nodes sit at (k + 1/2) ``step_km`` in the frame (depth from 0), so with ``step_km`` equal
        to ``fine_km`` they are exactly the oct-tree's finest cell centres.

        Parameters
        ----------
        step_km : float
            Node spacing in all three directions, km.
        bounds : (east_min, east_max, north_min, north_max, depth_min, depth_max), optional
            Box in the locator's frame, km (the one ``Location.east_km`` / ``north_km`` use);
            default: the oct-tree's whole box. At most 20 million nodes.
        """
        cfg = self.config
        if not (np.isfinite(step_km) and step_km > 0):
            raise ConfigError(f"step_km must be finite and > 0, got {step_km!r}")
        picks = prepare_picks(lat, lon, elev_m, time, weight, cfg, self.table.receiver_depth_km)
        if bounds is None:
            bounds = self._box(picks.east, picks.north)
        if len(bounds) != 6 or not np.all(np.isfinite(bounds)):
            raise ConfigError(f"bounds must be 6 finite numbers, got {bounds!r}")
        axes = [np.arange(math.ceil(lo / step_km - 0.5), math.floor(hi / step_km - 0.5) + 1) * step_km
                + 0.5 * step_km for lo, hi in zip(bounds[0::2], bounds[1::2])]
        shape = tuple(a.size for a in axes)
        if min(shape) < 1 or math.prod(shape) > _MAX_GRID_NODES:
            raise ConfigError(f"exhaustive grid of shape {shape} is empty or over {_MAX_GRID_NODES} nodes")
        misfit, t0 = np.empty(shape), np.empty(shape)
        grid_search(*axes, picks.full, self._model(picks), picks.r_buf, picks.w_buf, misfit, t0)
        best = np.unravel_index(int(np.argmin(misfit)), shape)
        e, nn, z = np.meshgrid(*axes, indexing="ij")
        logl = log_likelihood(misfit, picks.w_sum, cfg.pick_sigma_s, cfg.norm == "l1")
        boxes = (e.ravel(), nn.ravel(), z.ravel(), np.full(e.size, step_km), logl.ravel())
        return self._result(picks, axes[0][best[0]], axes[1][best[1]], axes[2][best[2]], misfit[best],
                            t0[best], boxes, misfit.size)

    @staticmethod
    def frame_of(lat, lon, elev_m=None) -> LocalFrame:
        """The local frame the locator uses for these picks (``east_km``, ``north_km`` and the
        exhaustive peer's ``bounds`` are in it)."""
        lat = np.atleast_1d(np.asarray(lat, float))
        elev = np.broadcast_to(np.asarray(0.0 if elev_m is None else elev_m, float), lat.shape)
        return LocalFrame.around(lat, lon, elev)

    def synthetic_times(self, lat, lon, elev_m, *, source: tuple[float, float, float],
                        origin_time: float = 0.0) -> np.ndarray:
        """P times (POSIX s) this locator predicts at picks for ``source`` = (lat, lon, depth_km):
        flat distance in the frame around the picks, table time plus elevation correction, exactly
        as the kernels compute them (for tests and benchmarks)."""
        lat, lon = np.atleast_1d(np.asarray(lat, float)), np.atleast_1d(np.asarray(lon, float))
        elev = np.broadcast_to(np.asarray(0.0 if elev_m is None else elev_m, float), lat.shape)
        frame = self.frame_of(lat, lon, elev)
        e, n, _ = frame.to_enu(lat, lon, elev)
        se, sn, _ = frame.to_enu(source[0], source[1], 0.0)
        return origin_time + self._predict(np.hypot(e - se, n - sn), source[2], elev)

    # ---- internals ------------------------------------------------------------------------
    def _search(self, picks: LocatorPicks) -> dict[str, np.ndarray]:
        """Run the oct-tree; every evaluated cell's centre, edge, misfit, origin time, score,
        misfit on the coarse picks, its log-likelihood and whether it is a leaf."""
        cfg = self.config
        h0 = cfg.root_cell_km
        lo_e, hi_e, lo_n, hi_n, lo_z, hi_z = self._box(picks.east, picks.north)
        counts = [round((hi - lo) / h0) for lo, hi in ((lo_e, hi_e), (lo_n, hi_n), (lo_z, hi_z))]
        grid = (lo_e, lo_n, lo_z, h0, *counts)
        levels = round(math.log2(h0 / cfg.fine_km))
        capacity = math.prod(counts) + 8 * max(cfg.beam, cfg.coarse_beam) * levels + _POLISH_CELLS
        cells = np.empty((capacity, N_COLUMNS))
        child = np.empty(capacity, dtype=np.int64)
        search = (cfg.fine_km, cfg.full_pick_km, cfg.beam, cfg.coarse_beam, cfg.max_polish)
        n = octree_search(grid, search, picks.coarse, picks.full, self._model(picks), picks.r_buf,
                          picks.w_buf, cells, child)
        columns = (("e", E), ("n", N), ("z", Z), ("h", H), ("misfit", MISFIT), ("t0", T0),
                   ("score", SCORE), ("coarse", COARSE))
        out = {name: cells[:n, col] for name, col in columns}
        out["leaf"] = child[:n] < 0
        out["logl"] = log_likelihood(out["coarse"], picks.w_sum, cfg.pick_sigma_s, cfg.norm == "l1")
        return out

    def _model(self, picks: LocatorPicks) -> tuple:
        cfg = self.config
        return (self._tp, *self._axes, self._inv_vrec2, picks.use_elev, cfg.norm == "l1", cfg.penalty_s)

    def _predict(self, dist_km: np.ndarray, depth_km: float, elev_m: np.ndarray) -> np.ndarray:
        """P time (s) as the kernels predict it (:func:`predict_p`)."""
        dz = self.table.receiver_depth_km + np.asarray(elev_m, dtype=float) / 1000.0
        return predict_p(dist_km, depth_km, dz, self._tp, *self._axes, self._inv_vrec2)

    def search_box(self, lat, lon, elev_m=None) -> tuple[float, float, float, float, float, float]:
        """The oct-tree's box for these picks, (east_min, east_max, north_min, north_max,
        depth_min, depth_max) in km of :meth:`frame_of` (the exhaustive peer's default)."""
        lat = np.atleast_1d(np.asarray(lat, float))
        elev = np.broadcast_to(np.asarray(0.0 if elev_m is None else elev_m, float), lat.shape)
        east, north, _ = self.frame_of(lat, lon, elev).to_enu(lat, lon, elev)
        return self._box(east, north)

    def _box(self, east: np.ndarray, north: np.ndarray) -> tuple[float, ...]:
        """Search box snapped outward to multiples of the root cell, so that finest cell centres
        fall on (k + 1/2) fine_km whatever the picks."""
        m, h0 = self.config.margin_km, self.config.root_cell_km
        lo_e = math.floor((east.min() - m) / h0) * h0
        hi_e = math.ceil((east.max() + m) / h0) * h0
        lo_n = math.floor((north.min() - m) / h0) * h0
        hi_n = math.ceil((north.max() + m) / h0) * h0
        return lo_e, hi_e, lo_n, hi_n, 0.0, math.ceil(self.config.max_depth_km / h0 - 1e-9) * h0

    def _result(self, picks: LocatorPicks, e: float, n: float, z: float, misfit: float, t0: float,
                boxes: tuple[np.ndarray, ...], evaluations: int) -> Location:
        """The Location of node (e, n, z); ``boxes`` = (e, n, z, h, log_l) of the leaves."""
        # The epicentre is the sea-level point below (e, n): away from the frame origin the local
        # vertical tilts from the frame's up (1.3 deg at 150 km), so up must follow the surface.
        up = -(e * e + n * n) / (2.0 * EARTH_RADIUS_KM) - picks.frame.elev0_m / 1000.0
        lat, lon, _ = picks.frame.to_geographic(e, n, up)
        de, dn = e - picks.east_used, n - picks.north_used
        dist = np.hypot(de, dn)
        dz = self.table.receiver_depth_km + picks.elev_used / 1000.0
        pred, dtd, dtz = predict_p(dist, float(z), dz, self._tp, *self._axes, self._inv_vrec2, gradient=True)
        residuals = picks.time_used - t0 - pred
        nearest_km = float(np.sqrt(dist.min() ** 2 + z * z))
        local = linearised_covariance(de, dn, dtd, dtz, picks.full[4], self.config.pick_sigma_s,
                                      max(nearest_km, self.config.fine_km))
        post = posterior(*boxes, best=(e, n, z), local_cov=local,
                         depth_range=(0.0, self._box(picks.east, picks.north)[5]))
        return Location(
            origin_time=picks.t_ref + float(t0), lat=float(lat), lon=float(lon), depth_km=float(z),
            east_km=float(e), north_km=float(n), misfit=float(misfit), n_picks=int(picks.index.size),
            err_major_km=post.major_km, err_minor_km=post.minor_km, err_azimuth_deg=post.azimuth_deg,
            err_z_km=post.z_km, depth_min_km=post.depth_lo_km, depth_max_km=post.depth_hi_km,
            evaluations=int(evaluations), residuals=residuals, pick_index=picks.index)
