"""The 282 catalog indicators per region and year of SafeNet (Hu et al., Sci. Rep. 2025), torch-free.

Used both in training and at central, so the same code computes the same numbers. For the year ``y``
of a region, the yearly and monthly windows hold the events of calendar year ``y`` (UTC), the
"last 100" window the last 100 complete events (M >= Mc) before ``year_start(y + 1)`` whatever their
year, and the inter-event statistics the region's whole history before ``year_start(y + 1)``: no event
after year ``y`` ever enters year ``y``'s features. Windows: ``year``, ``m01`` ... ``m12`` (calendar
months of year ``y``), ``last100``. Missing values (no event in the window, too few for b) are
``FILL_VALUE`` = 0.0, never NaN.

=========  =====================================  ====================================================  ============
index      name                                   formula                                               units
=========  =====================================  ====================================================  ============
0-64       mag_top{1..5}_{year,m01..m12}          5 largest magnitudes of the window, descending        magnitude
                                                  (window-major: year top1..top5, m01 top1..5, ...)
65-129     lunar_top{1..5}_{year,m01..m12}        sin(2 pi d / N) + 2 of the same events, d = days      1 (in [1, 3])
                                                  since the new moon 2000-01-06 18:14 UTC modulo the
                                                  synodic month N = 29.530589 d
130-177    count_{M0-3,M3-5,M5-7,M7+}_{m01..m12}  events per month with M <= 3, 3 < M <= 5,            events
                                                  5 < M < 7, M >= 7 (bin-major); M < 0 counts in M0-3
178-201    count_{deep,shallow}_{m01..m12}        events per month deeper than 70 km / not;             events
                                                  unknown depth (NaN) counts as shallow
202-215    b_{year,m01..m12,last100}              Aki-Utsu: log10(e) / (mean(M) - (Mc - dM / 2)),       1
                                                  events with M >= Mc - dM / 2, at least 5 of them
216-229    a_{year,m01..m12,last100}              log10 N(>= Mc) + b Mc (counts of the window,          1
                                                  not annualised)
230-243    mean_mag_{year,m01..m12,last100}       mean magnitude (all events; last100: complete ones)   magnitude
244-256    std_mag_{year,m01..m12}                standard deviation (ddof 0) of magnitude              magnitude
257-269    frac_M6_{year,m01..m12}                fraction of the window's events with M >= 6           1
270        eta_last100                            sum_i (log10 N_i - (a - b M_i))^2 / (n - 1), N_i =    1
                                                  events with M >= M_i, over the n events
271        delta_m_last100                        M_max,obs - a / b                                     magnitude
272        T_last100_days                         t_n - t_1                                             days
273        log10_sqrt_energy_rate_last100         log10(sum_i 10^((11.8 + 1.5 M_i) / 2) / T)           log10(erg^0.5/day)
274-277    interevent_mean_days_{M0-3,...,M7+}    mean time between successive events of the bin        days
                                                  (count bins as 130-177), region history
278-281    interevent_cv_{M0-3,...,M7+}           std (ddof 0) / mean of those inter-event times        1
=========  =====================================  ====================================================  ============

Choices where the paper is ambiguous
- Its list gives 283 items with delta-M. a/b is left out as a column: over the last 100 events it is
  exactly column 229 / column 215, and delta-M = M_max,obs - a/b (column 271) carries it.
- std and fraction M >= 6 (13 each): year + 12 months; b, a and mean magnitude (14): plus the last 100.
- eta, delta-M, T and energy (Panakkat & Adeli 2007 indicators) use the last 100 complete events; the
  inter-event times the region's history (events M >= 7 are too rare in one year).
- The energy rate is stored as log10 (it spans ~10 decades; min-max scaling of the raw value would put
  almost every sample at 0).
- Fill 0.0: the paper's "+ 2" on the lunar sine keeps real values in [1, 3] so 0 means "no event";
  magnitudes of the synthetic and CENC catalogs are > 0. A magnitude 0.0 event (the Swiss catalog has
  a few) is indistinguishable from "none", and delta-M = 0 from "unknown" (a neutral value).
- Mc (when ``mc`` is None): maximum curvature (mode of the dM-binned frequency-magnitude distribution)
  + 0.2 (Woessner & Wiemer 2005: maxc underestimates Mc), per region from its events before
  ``year_start(y + 1)`` (no look-ahead), the whole grid's when the region has fewer than 50 events.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.exceptions import ConfigError
from models.safenet.catalog import SECONDS_PER_DAY, Catalog, RegionGrid, year_start

FILL_VALUE = 0.0
SYNODIC_MONTH_DAYS = 29.530589
NEW_MOON_EPOCH = 947182440.0          # 2000-01-06 18:14 UTC, POSIX s
DEEP_KM = 70.0
LAST_N = 100
MIN_EVENTS_B = 5                      # b from fewer events is noise (standard error b / sqrt(n) > 45 %)
MIN_EVENTS_MC = 50                    # maximum curvature needs a populated histogram
MAXC_CORRECTION = 0.2
MAG_BINS = ("M0-3", "M3-5", "M5-7", "M7+")
MONTHS = tuple(f"m{i:02d}" for i in range(1, 13))
WINDOWS = ("year",) + MONTHS          # top-5, lunar, std, fraction
WINDOWS14 = WINDOWS + ("last100",)    # b, a, mean magnitude


def _names() -> tuple[str, ...]:
    n = [f"mag_top{k}_{w}" for w in WINDOWS for k in range(1, 6)]
    n += [f"lunar_top{k}_{w}" for w in WINDOWS for k in range(1, 6)]
    n += [f"count_{b}_{m}" for b in MAG_BINS for m in MONTHS]
    n += [f"count_{d}_{m}" for d in ("deep", "shallow") for m in MONTHS]
    n += [f"b_{w}" for w in WINDOWS14] + [f"a_{w}" for w in WINDOWS14] + [f"mean_mag_{w}" for w in WINDOWS14]
    n += [f"std_mag_{w}" for w in WINDOWS] + [f"frac_M6_{w}" for w in WINDOWS]
    n += ["eta_last100", "delta_m_last100", "T_last100_days", "log10_sqrt_energy_rate_last100"]
    n += [f"interevent_mean_days_{b}" for b in MAG_BINS] + [f"interevent_cv_{b}" for b in MAG_BINS]
    return tuple(n)


INDICATOR_NAMES: tuple[str, ...] = _names()
N_INDICATORS = len(INDICATOR_NAMES)
assert N_INDICATORS == 282, N_INDICATORS
_COL = {name: i for i, name in enumerate(INDICATOR_NAMES)}
# The slices catalog_indicators writes, checked against the names once.
assert [_COL[n] for n in ("lunar_top1_year", "count_M0-3_m01", "count_deep_m01", "b_year", "b_last100", "a_year",
                          "a_last100", "mean_mag_year", "mean_mag_last100", "std_mag_year", "frac_M6_year",
                          "eta_last100", "interevent_mean_days_M0-3", "interevent_cv_M0-3")] == \
    [65, 130, 178, 202, 215, 216, 229, 230, 243, 244, 257, 270, 274, 278]


# ------------------------------------------------------------------ Gutenberg-Richter estimators

def b_value_aki(m: np.ndarray, mc: float, dm: float = 0.1) -> float:
    """Aki-Utsu maximum-likelihood b-value: log10(e) / (mean(M) - (Mc - dM / 2)).

    Uses the magnitudes ``m >= mc - dm / 2`` (those that bin to >= Mc); ``dm = 0`` is Aki's formula for
    continuous magnitudes. NaN if no magnitude qualifies. Standard error ~ b / sqrt(n).
    """
    thr = mc - dm / 2.0
    m = np.asarray(m, float)
    m = m[m >= thr - 1e-9]
    excess = float(m.mean()) - thr if m.size else 0.0
    return float(np.log10(np.e) / excess) if excess > 1e-12 else float("nan")


def b_value_binned(m: np.ndarray, mc: float, dm: float = 0.1) -> float:
    """Exact MLE for magnitudes binned at ``dm`` (Bender 1983; Tinti & Mulargia 1987):
    b = ln(1 + dM / (mean(M) - Mc)) / (dM ln 10), magnitudes ``m >= mc - dm / 2``. NaN if undefined."""
    if dm <= 0:
        raise ConfigError(f"b_value_binned needs a magnitude bin dm > 0, got {dm}")
    m = np.asarray(m, float)
    m = m[m >= mc - dm / 2.0 - 1e-9]
    excess = float(m.mean()) - mc if m.size else 0.0
    return float(np.log1p(dm / excess) / (dm * np.log(10.0))) if excess > 1e-12 else float("nan")


def a_value(m: np.ndarray, mc: float, dm: float = 0.1, b: float | None = None) -> float:
    """a from N(>= Mc) = 10^(a - b Mc): log10 N + b Mc, N = count of ``m >= mc - dm / 2`` (the window's
    count, not annualised); ``b`` defaults to :func:`b_value_aki`. NaN if N = 0 or b undefined."""
    m = np.asarray(m, float)
    n = int(np.count_nonzero(m >= mc - dm / 2.0 - 1e-9))
    b = b_value_aki(m, mc, dm) if b is None else b
    return float(np.log10(n) + b * mc) if n and np.isfinite(b) else float("nan")


def lunar_day(time: np.ndarray) -> np.ndarray:
    """Days since the last new moon, in [0, N): mean synodic month N from the 2000-01-06 18:14 UTC new
    moon (within ~0.6 d of the true phase: the mean month ignores the lunar orbit's eccentricity)."""
    return np.mod((np.asarray(time, float) - NEW_MOON_EPOCH) / SECONDS_PER_DAY, SYNODIC_MONTH_DAYS)


def lunar_phase_feature(time: np.ndarray) -> np.ndarray:
    """sin(2 pi d / N) + 2 with d = :func:`lunar_day` (in [1, 3]; the paper's encoding)."""
    return np.sin(2.0 * np.pi * lunar_day(time) / SYNODIC_MONTH_DAYS) + 2.0


def magnitude_bin(m: np.ndarray) -> np.ndarray:
    """0: M <= 3, 1: 3 < M <= 5, 2: 5 < M < 7, 3: M >= 7 (the paper's bins)."""
    m = np.asarray(m, float)
    return np.where(m >= 7.0, 3, np.where(m > 5.0, 2, np.where(m > 3.0, 1, 0))).astype(np.int64)


# ------------------------------------------------------------------ completeness

def completeness_maxc(catalog: Catalog, grid: RegionGrid, years, *, dm: float = 0.1,
                      correction: float = MAXC_CORRECTION) -> np.ndarray:
    """Mc (n_regions, n_years) by maximum curvature + ``correction`` from each region's events before
    ``year_start(y + 1)``; the whole grid's estimate where a region has fewer than 50 events."""
    uy = np.asarray(sorted(set(int(y) for y in years)), np.int64)
    reg, t, m, _ = _in_regions(catalog, grid)
    return _maxc(reg, t, m, grid.regions.size, uy, dm, correction)[:, np.searchsorted(uy, list(years))]


def _maxc(reg, t, m, n_reg, uy, dm, correction):
    ends = np.asarray([year_start(y + 1) for y in uy])
    out = np.zeros((n_reg, uy.size))
    if not m.size:
        return out
    # Half-up rounding: np.round's half-to-even would pile magnitudes given to 0.01 (x.x5) into every
    # other 0.1 bin and move the mode.
    k = np.floor(m / dm + 0.5 + 1e-6).astype(np.int64)
    k0, nb = int(k.min()), int(k.max() - k.min()) + 1
    bucket = np.searchsorted(ends, t, side="right")   # first year-end after the event
    ok = bucket < uy.size
    hist = np.zeros((n_reg, uy.size, nb), np.int64)
    np.add.at(hist, (reg[ok], bucket[ok], k[ok] - k0), 1)
    hist = np.cumsum(hist, axis=1)
    whole = hist.sum(axis=0)
    mc_reg = (k0 + np.argmax(hist, axis=2)) * dm + correction
    mc_all = (k0 + np.argmax(whole, axis=1)) * dm + correction
    out = np.where(hist.sum(axis=2) >= MIN_EVENTS_MC, mc_reg, mc_all[None, :])
    return np.round(out, 6)


# ------------------------------------------------------------------ the indicators

def _in_regions(catalog: Catalog, grid: RegionGrid):
    lookup = np.full(grid.n_cells, -1, np.int64)
    lookup[grid.regions] = np.arange(grid.regions.size)
    cell = grid.cell_of(catalog.lat, catalog.lon)
    reg = np.where(cell >= 0, lookup[np.maximum(cell, 0)], -1)
    keep = reg >= 0
    return reg[keep], catalog.time[keep], catalog.magnitude[keep], catalog.depth_km[keep]


def _top_k(key, n_groups, m, t, k=5):
    """k largest magnitudes per group (ties: earlier first) and their times; NaN where absent."""
    mags, times = np.full((n_groups, k), np.nan), np.full((n_groups, k), np.nan)
    order = np.lexsort((t, -m, key))
    ks = key[order]
    rank = np.arange(ks.size) - np.searchsorted(ks, ks, side="left")
    sel = rank < k
    mags[ks[sel], rank[sel]] = m[order][sel]
    times[ks[sel], rank[sel]] = t[order][sel]
    return mags, times


def _moments(key, n_groups, m):
    n = np.bincount(key, minlength=n_groups).astype(float)
    s1, s2 = np.bincount(key, m, n_groups), np.bincount(key, m * m, n_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = s1 / n
        std = np.sqrt(np.maximum(s2 / n - mean * mean, 0.0))
    return n, mean, std


def _gr(n_c, mean_c, mc, dm):
    """Aki-Utsu b and a from counts and means of complete events (NaN where too few)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        excess = mean_c - (mc - dm / 2.0)
        b = np.where((n_c >= MIN_EVENTS_B) & (excess > 1e-12), np.log10(np.e) / excess, np.nan)
        a = np.log10(n_c) + b * mc
    return b, a


def _last_n(m, t, mc, dm):
    """b, a, mean, eta, delta-M, T (days), log10 sqrt-energy rate of one last-100 window (NaN: missing)."""
    out = np.full(7, np.nan)
    n = m.size
    if n:
        out[2] = m.mean()
    if n >= 2:
        out[5] = (t[-1] - t[0]) / SECONDS_PER_DAY
        if out[5] > 0:
            out[6] = np.log10(np.sum(10.0 ** ((11.8 + 1.5 * m) / 2.0)) / out[5])
    excess = out[2] - (mc - dm / 2.0)
    if n >= MIN_EVENTS_B and excess > 1e-12:
        b = np.log10(np.e) / excess
        a = np.log10(n) + b * mc
        ms = np.sort(m)
        n_ge = n - np.searchsorted(ms, ms, side="left")     # N_i = events with M >= M_i
        out[[0, 1, 4]] = b, a, ms[-1] - a / b
        out[3] = np.sum((np.log10(n_ge) - (a - b * ms)) ** 2) / (n - 1)
    return out


def catalog_indicators(catalog: Catalog, grid: RegionGrid, years, *, mc: float | np.ndarray | None = None,
                       dm: float = 0.1) -> np.ndarray:
    """The 282 indicators of every (active region, year): float32 (n_regions, n_years, 282).

    Parameters
    ----------
    catalog : events (any magnitudes; those outside the active regions are ignored).
    grid : the regions, axis 0 in ``grid.regions`` order.
    years : calendar years, axis 1; year ``y`` uses only events with time < ``year_start(y + 1)``.
    mc : completeness magnitude, a number or one per region; None: maximum curvature + 0.2 per region
        and year (module docstring).
    dm : magnitude bin (the catalog's rounding), magnitude units.

    Layout and formulas: module docstring and :data:`INDICATOR_NAMES`. Missing values: ``FILL_VALUE``.
    """
    if not dm > 0:
        raise ConfigError(f"catalog indicators: magnitude bin dm must be > 0, got {dm}")
    years = [int(y) for y in years]
    uy = np.asarray(sorted(set(years)), np.int64)
    n_reg, n_y = grid.regions.size, uy.size
    reg, t, m, depth = _in_regions(catalog, grid)
    if mc is None:
        mcs = _maxc(reg, t, m, n_reg, uy, dm, MAXC_CORRECTION)
    else:
        mc_arr = np.asarray(mc, float)
        if mc_arr.ndim > 1 or (mc_arr.ndim == 1 and mc_arr.size != n_reg) or not np.all(np.isfinite(mc_arr)):
            raise ConfigError(f"catalog indicators: mc must be a finite number or {n_reg} numbers, got {mc!r}")
        mcs = np.broadcast_to(mc_arr.reshape(-1, 1) if mc_arr.ndim else mc_arr, (n_reg, n_y)).astype(float)
    out = np.full((n_reg, n_y, N_INDICATORS), np.nan)

    # 1. Year and month windows: events of the requested calendar years, grouped by (region, year, month).
    months = t.astype("datetime64[s]").astype("datetime64[M]").astype(np.int64) if t.size else np.zeros(0, np.int64)
    ev_year, ev_month = months // 12 + 1970, months % 12
    yi = np.searchsorted(uy, ev_year)
    inyear = (yi < n_y) & (uy[np.minimum(yi, n_y - 1)] == ev_year) if n_y else np.zeros(t.size, bool)
    r1, y1, mo, m1, t1, d1 = reg[inyear], yi[inyear], ev_month[inyear], m[inyear], t[inyear], depth[inyear]
    gy = r1 * n_y + y1                                  # (region, year)
    gm = gy * 12 + mo                                   # (region, year, month)
    ny, nm = n_reg * n_y, n_reg * n_y * 12

    top_y, tt_y = _top_k(gy, ny, m1, t1)
    top_m, tt_m = _top_k(gm, nm, m1, t1)
    mags = np.concatenate([top_y.reshape(n_reg, n_y, 1, 5), top_m.reshape(n_reg, n_y, 12, 5)], axis=2)
    times = np.concatenate([tt_y.reshape(n_reg, n_y, 1, 5), tt_m.reshape(n_reg, n_y, 12, 5)], axis=2)
    out[..., 0:65] = mags.reshape(n_reg, n_y, 65)
    out[..., 65:130] = lunar_phase_feature(times).reshape(n_reg, n_y, 65)   # NaN stays NaN

    counts = np.bincount(gm * 4 + magnitude_bin(m1), minlength=nm * 4).reshape(n_reg, n_y, 12, 4)
    out[..., 130:178] = counts.transpose(0, 1, 3, 2).reshape(n_reg, n_y, 48)
    deep = np.nan_to_num(d1, nan=0.0) > DEEP_KM         # unknown depth counts as shallow
    dcounts = np.bincount(gm * 2 + np.where(deep, 0, 1), minlength=nm * 2).reshape(n_reg, n_y, 12, 2)
    out[..., 178:202] = dcounts.transpose(0, 1, 3, 2).reshape(n_reg, n_y, 24)

    n_y_, mean_y, std_y = _moments(gy, ny, m1)
    n_m_, mean_m, std_m = _moments(gm, nm, m1)
    big_y = np.bincount(gy, (m1 >= 6.0).astype(float), ny)
    big_m = np.bincount(gm, (m1 >= 6.0).astype(float), nm)
    with np.errstate(invalid="ignore", divide="ignore"):
        frac_y, frac_m = big_y / n_y_, big_m / n_m_

    def join(yv, mv):   # (year, m01..m12) side by side
        return np.concatenate([yv.reshape(n_reg, n_y, 1), mv.reshape(n_reg, n_y, 12)], axis=2)

    out[..., 230:243] = join(mean_y, mean_m)
    out[..., 244:257] = join(std_y, std_m)
    out[..., 257:270] = join(frac_y, frac_m)

    complete = m1 >= mcs[r1, y1] - dm / 2.0 - 1e-9
    nc_y, mc_y, _ = _moments(gy[complete], ny, m1[complete])
    nc_m, mc_m, _ = _moments(gm[complete], nm, m1[complete])
    mc_flat = mcs.reshape(-1)
    b_y, a_y = _gr(nc_y, mc_y, mc_flat, dm)
    b_m, a_m = _gr(nc_m, mc_m, np.repeat(mc_flat, 12), dm)
    out[..., 202:215] = join(b_y, b_m)
    out[..., 216:229] = join(a_y, a_m)

    # 2. Last 100 complete events before year_start(y + 1): one cheap look per region-year.
    ends = np.asarray([year_start(y + 1) for y in uy])
    order = np.argsort(reg, kind="stable")              # by region, time order kept
    bounds = np.searchsorted(reg[order], np.arange(n_reg + 1))
    for r in range(n_reg):
        idx = order[bounds[r]:bounds[r + 1]]
        tr, mr = t[idx], m[idx]
        stops = np.searchsorted(tr, ends, side="left")
        for j in range(n_y):
            sel = np.flatnonzero(mr[:stops[j]] >= mcs[r, j] - dm / 2.0 - 1e-9)[-LAST_N:]
            b, a, mean, eta, dmag, span, energy = _last_n(mr[sel], tr[sel], mcs[r, j], dm)
            out[r, j, [215, 229, 243, 270, 271, 272, 273]] = b, a, mean, eta, dmag, span, energy

        # 3. Inter-event times per magnitude bin over the region's history: the mean of successive
        # differences telescopes to (t_n - t_1) / (n - 1); cumulative sums of squares give the spread.
        mb = magnitude_bin(mr)
        for k in range(4):
            tk = tr[mb == k]
            if tk.size < 2:
                continue
            n = np.searchsorted(tk, ends, side="left")
            tk = tk / SECONDS_PER_DAY
            s2 = np.concatenate([[0.0, 0.0], np.cumsum(np.diff(tk) ** 2)])
            ok = n >= 2
            nn = np.maximum(n, 2)
            mean = (tk[nn - 1] - tk[0]) / (nn - 1)
            var = np.maximum(s2[nn] / (nn - 1) - mean * mean, 0.0)
            with np.errstate(invalid="ignore", divide="ignore"):
                cv = np.where(mean > 0, np.sqrt(var) / mean, np.nan)
            out[r, :, 274 + k] = np.where(ok, mean, np.nan)
            out[r, :, 278 + k] = np.where(ok, cv, np.nan)

    out = np.nan_to_num(out, nan=FILL_VALUE, posinf=FILL_VALUE, neginf=FILL_VALUE)
    return out[:, np.searchsorted(uy, years)].astype(np.float32)


# ------------------------------------------------------------------ scaling

@dataclass(frozen=True)
class FeatureScaler:
    """Per-column min-max scaling fitted on training samples: (x - min) / (max - min).

    ``clip`` (default True) bounds the result to [0, 1]: at central a value beyond the training range
    (a busier year than any seen) reaches the network as the largest it was trained on, not as an
    input it never saw. A constant column (max = min) maps to 0.
    """

    minimum: np.ndarray
    maximum: np.ndarray
    clip: bool = True
    compress: bool = False      # sign(x) log(1 + |x|) first: counts and times are heavy-tailed

    @classmethod
    def fit(cls, x: np.ndarray, *, clip: bool = True, compress: bool = False) -> "FeatureScaler":
        """Fit on samples ``x`` (..., n_features), e.g. (n_regions, n_train_years, 282)."""
        x = np.asarray(x, float)
        if x.ndim < 1 or x.size == 0 or not np.all(np.isfinite(x)):
            raise ConfigError("feature scaler: fit needs a non-empty array of finite values")
        flat = x.reshape(-1, x.shape[-1])
        if compress:
            flat = np.sign(flat) * np.log1p(np.abs(flat))
        return cls(flat.min(axis=0), flat.max(axis=0), clip, compress)

    @property
    def n_features(self) -> int:
        return int(np.size(self.minimum))

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Scaled float32 copy of ``x`` (..., n_features)."""
        x = np.asarray(x, float)
        if x.shape[-1:] != (self.n_features,):
            raise ConfigError(f"feature scaler: {self.n_features} columns expected, got shape {x.shape}")
        if self.compress:
            x = np.sign(x) * np.log1p(np.abs(x))
        span = self.maximum - self.minimum
        y = (x - self.minimum) / np.where(span > 0, span, 1.0)
        y = np.where(span > 0, y, 0.0)
        return (np.clip(y, 0.0, 1.0) if self.clip else y).astype(np.float32)

    def to_dict(self) -> dict:
        return {"min": [float(v) for v in self.minimum], "max": [float(v) for v in self.maximum],
                "clip": bool(self.clip), "compress": bool(self.compress),
                "names": list(INDICATOR_NAMES) if self.n_features == N_INDICATORS else []}

    @classmethod
    def from_dict(cls, d: dict) -> "FeatureScaler":
        try:
            lo, hi = np.asarray(d["min"], float), np.asarray(d["max"], float)
            clip = bool(d.get("clip", True))
            compress = bool(d.get("compress", False))
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"feature scaler: bad model-card entry: {exc!r}") from None
        if lo.ndim != 1 or lo.shape != hi.shape or not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
            raise ConfigError("feature scaler: 'min' and 'max' must be equal-length lists of finite numbers")
        names = d.get("names") or []
        if names and list(names) != list(INDICATOR_NAMES):
            raise ConfigError("feature scaler: the model card's indicator names differ from this code's "
                              "(the layout changed since training)")
        return cls(lo, hi, clip, compress)


__all__ = ["INDICATOR_NAMES", "N_INDICATORS", "FILL_VALUE", "catalog_indicators", "b_value_aki",
           "b_value_binned", "a_value", "lunar_day", "lunar_phase_feature", "magnitude_bin", "completeness_maxc",
           "FeatureScaler"]
