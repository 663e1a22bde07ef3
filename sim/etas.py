"""Space-time ETAS model and its branching simulation (synthetic catalogs for the yearly forecast).

Conditional intensity (events with M >= mc per day per km^2; t in days, r in km)::

    lambda(t, x) = mu(x) + sum_i k0 e^{a (m_i - mc)} (t - t_i + c)^{-(1 + omega)} e^{-(t - t_i) / tau}
                                   (r_i^2 + d e^{gamma (m_i - mc)})^{-(1 + rho)}

with magnitudes Gutenberg-Richter (rate beta = b ln 10) truncated at ``m_max``; the parametrisation
and the California-like defaults are those of ../shared/REFERENCES.md (SafeNet). Positions live on
the equirectangular km plane around a centre: x = (lon - lon_c) 111.195 cos(lat_c),
y = (lat - lat_c) 111.195, so a pixel of a regular lat/lon raster has the same area everywhere.

The simulation is the usual branching construction: background events (Poisson in time, positions
from a rate raster), then each event's Poisson(kappa(m)) direct aftershocks with delays and distances
drawn exactly from the normalised kernels, generation by generation until one is empty. A burn-in
before the start is simulated and dropped so that the window begins with the stationary rate.

>>> p = EtasParameters()
>>> round(branching_ratio(p), 2)
0.89
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import numpy as np
from scipy.special import exp1, gammaincc, gammainccinv
from scipy.special import gamma as gamma_fn

from edge.exceptions import ConfigError

KM_PER_DEGREE = 111.195


@dataclass(frozen=True)
class EtasParameters:
    """ETAS parameters (REFERENCES.md names; t days, r km, background per day per km^2).

    ``log10_mu`` is the uniform background rate used only when no background raster is given.
    """

    log10_mu: float = -7.5
    log10_k0: float = -2.49
    a: float = 1.69
    log10_c: float = -2.95
    omega: float = -0.03
    log10_tau: float = 3.99
    log10_d: float = -0.35
    gamma: float = 1.22
    rho: float = 0.51
    mc: float = 3.6
    beta: float = math.log(10.0)
    m_max: float = 8.0

    def __post_init__(self):
        for f in fields(self):
            if not math.isfinite(getattr(self, f.name)):
                raise ConfigError(f"ETAS parameter {f.name} must be finite, got {getattr(self, f.name)}")
        if self.rho <= 0 or self.beta <= 0:
            raise ConfigError(f"ETAS parameters need rho > 0 and beta > 0, got rho {self.rho}, beta {self.beta}")
        if not -1.0 < self.omega < 1.0:
            raise ConfigError(f"ETAS omega must lie in (-1, 1) (Omori exponent 0-2), got {self.omega}")
        if self.m_max <= self.mc:
            raise ConfigError(f"ETAS m_max ({self.m_max}) must exceed mc ({self.mc})")

    @property
    def k0(self) -> float:
        return 10.0 ** self.log10_k0

    @property
    def c(self) -> float:
        """Omori c, days."""
        return 10.0 ** self.log10_c

    @property
    def tau(self) -> float:
        """Taper time, days."""
        return 10.0 ** self.log10_tau

    @property
    def d(self) -> float:
        """Spatial scale d, km^2."""
        return 10.0 ** self.log10_d

    @property
    def b(self) -> float:
        """Gutenberg-Richter b-value, beta / ln 10."""
        return self.beta / math.log(10.0)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "EtasParameters":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ConfigError(f"unknown ETAS parameters {sorted(unknown)}; known: {sorted(known)}")
        return cls(**{k: float(v) for k, v in d.items()})


def _upper_gamma(s: float, x: np.ndarray) -> np.ndarray:
    """Upper incomplete gamma function Gamma(s, x) for -1 < s (s <= 0 through Gamma(s, x) =
    (Gamma(s + 1, x) - x^s e^{-x}) / s and E1 at s = 0, as scipy's regularised form needs s > 0)."""
    x = np.asarray(x, float)
    if s > 0:
        return gammaincc(s, x) * gamma_fn(s)
    if s == 0:
        return exp1(x)
    return (gammaincc(s + 1.0, x) * gamma_fn(s + 1.0) - x ** s * np.exp(-x)) / s


def time_integral(p: EtasParameters) -> float:
    """int_0^inf (t + c)^{-(1+omega)} e^{-t/tau} dt (days^-omega) = e^{c/tau} tau^{-omega} Gamma(-omega, c/tau)."""
    x0 = p.c / p.tau
    return float(math.exp(x0) * p.tau ** (-p.omega) * _upper_gamma(-p.omega, x0))


def space_integral(p: EtasParameters, m: np.ndarray | float) -> np.ndarray:
    """int (r^2 + D)^{-(1+rho)} dA over the plane = pi / rho D^{-rho}, D = d e^{gamma (m - mc)} (km^2)."""
    big_d = p.d * np.exp(p.gamma * (np.asarray(m, float) - p.mc))
    return np.pi / p.rho * big_d ** (-p.rho)


def expected_aftershocks(p: EtasParameters, m: np.ndarray | float) -> np.ndarray:
    """kappa(m): expected number of direct aftershocks (M >= mc) of an event of magnitude ``m``."""
    m = np.asarray(m, float)
    return p.k0 * np.exp(p.a * (m - p.mc)) * time_integral(p) * space_integral(p, m)


def branching_ratio(p: EtasParameters) -> float:
    """n = E[kappa(M)] over the Gutenberg-Richter distribution truncated to [mc, m_max] (closed form)."""
    alpha = p.a - p.gamma * p.rho              # kappa(m) = kappa(mc) e^{alpha (m - mc)}
    span = p.m_max - p.mc
    norm = 1.0 - math.exp(-p.beta * span)
    k = p.beta - alpha
    mean_exp = p.beta * (span if abs(k) < 1e-12 else (1.0 - math.exp(-k * span)) / k) / norm
    return float(expected_aftershocks(p, p.mc)) * mean_exp


# ------------------------------------------------------------------ kernels: CDFs and exact samplers

def magnitude_cdf(p: EtasParameters, m: np.ndarray) -> np.ndarray:
    """Truncated Gutenberg-Richter CDF on [mc, m_max]."""
    m = np.clip(np.asarray(m, float), p.mc, p.m_max)
    return (1.0 - np.exp(-p.beta * (m - p.mc))) / (1.0 - np.exp(-p.beta * (p.m_max - p.mc)))


def sample_magnitudes(p: EtasParameters, n: int, rng: np.random.Generator) -> np.ndarray:
    """Truncated Gutenberg-Richter magnitudes by inverting :func:`magnitude_cdf`."""
    u = rng.random(n)
    m = p.mc - np.log1p(-u * (1.0 - math.exp(-p.beta * (p.m_max - p.mc)))) / p.beta
    return np.minimum(m, p.m_max)


def delay_cdf(p: EtasParameters, t_days: np.ndarray) -> np.ndarray:
    """CDF of the delay of a direct aftershock: the normalised tapered Omori kernel."""
    t = np.maximum(np.asarray(t_days, float), 0.0)
    s, x0 = -p.omega, p.c / p.tau
    g0 = _upper_gamma(s, x0)
    return (g0 - _upper_gamma(s, (t + p.c) / p.tau)) / g0


def sample_delays_days(p: EtasParameters, n: int, rng: np.random.Generator) -> np.ndarray:
    """Exact delays (days) from the tapered Omori kernel (t + c)^{-(1+omega)} e^{-t/tau}.

    omega < 0 (the default): u = (t + c) / tau has the Gamma(-omega, 1) density truncated to u > c / tau,
    so draw Gamma variates and keep those above c / tau (acceptance Q(-omega, c / tau), 0.37 for the
    defaults), or, if that acceptance is below 5 %, invert the CDF Q(-omega, u) = (1 - U) Q(-omega, c / tau)
    (Q the regularised upper incomplete gamma function; exact but ~30 us a draw). omega >= 0: rejection
    from the untapered Omori law with exponent 1 + omega + 0.05, whose ratio to the target,
    (t + c)^{0.05} e^{-t/tau}, is bounded.
    """
    s, x0 = -p.omega, p.c / p.tau
    if s > 0:
        q0 = float(gammaincc(s, x0))
        if q0 < 0.05:
            return np.maximum(p.tau * gammainccinv(s, q0 * (1.0 - rng.random(n))) - p.c, 0.0)

        def draw(k: int) -> np.ndarray:                  # u = (t + c) / tau, accepted draws only
            u = rng.gamma(s, 1.0, k)
            return u[u > x0]
        acceptance = q0
    else:
        delta = 0.05
        w = p.omega + delta                              # proposal's Omori exponent is 1 + w, w > 0
        t_star = max(delta * p.tau - p.c, 0.0)           # where (t + c)^delta e^{-t/tau} peaks
        log_ratio_max = delta * math.log(t_star + p.c) - t_star / p.tau

        def draw(k: int) -> np.ndarray:
            with np.errstate(over="ignore"):             # a proposal of inf is simply rejected
                prop = p.c * ((1.0 - rng.random(k)) ** (-1.0 / w) - 1.0)
                keep = np.log(rng.random(k)) < delta * np.log(prop + p.c) - prop / p.tau - log_ratio_max
            return (prop[keep] + p.c) / p.tau
        acceptance = 0.3
    parts, got = [], 0
    while got < n:
        u = draw(int(1.1 * (n - got) / acceptance) + 16)
        parts.append(u)
        got += u.size
    u = np.concatenate(parts)[:n] if parts else np.zeros(0)
    return np.maximum(p.tau * u - p.c, 0.0)


def distance_cdf(p: EtasParameters, r_km: np.ndarray, m: np.ndarray | float) -> np.ndarray:
    """CDF of the epicentral distance of a direct aftershock of a magnitude-``m`` parent:
    1 - (1 + r^2 / D)^{-rho}, D = d e^{gamma (m - mc)}."""
    big_d = p.d * np.exp(p.gamma * (np.asarray(m, float) - p.mc))
    return 1.0 - (1.0 + np.asarray(r_km, float) ** 2 / big_d) ** (-p.rho)


def sample_distances_km(p: EtasParameters, m: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Exact distances (km) by inverting :func:`distance_cdf`, one per parent magnitude in ``m``."""
    m = np.asarray(m, float)
    big_d = p.d * np.exp(p.gamma * (m - p.mc))
    u = rng.random(m.shape)
    return np.sqrt(big_d * np.expm1(-np.log1p(-u) / p.rho))


# ------------------------------------------------------------------ background raster and projection

@dataclass(frozen=True)
class BackgroundRaster:
    """Background rate mu (events with M >= mc per day per km^2) on a regular lat/lon raster.

    ``rate`` (H, W), row 0 at the south edge ``lat0``, column 0 at the west edge ``lon0``;
    ``pixels_per_degree`` in both directions. The km plane is centred on the raster's centre.
    """

    rate: np.ndarray
    lat0: float
    lon0: float
    pixels_per_degree: float

    def __post_init__(self):
        r = np.asarray(self.rate, float)
        if r.ndim != 2 or r.size == 0 or not np.all(np.isfinite(r)) or np.any(r < 0) or r.sum() <= 0:
            raise ConfigError("background raster: rate must be a non-empty 2-D array of finite values >= 0, "
                              "not all zero")
        if not self.pixels_per_degree > 0:
            raise ConfigError(f"background raster: pixels_per_degree must be > 0, got {self.pixels_per_degree}")

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(np.shape(self.rate))

    @property
    def lat_c(self) -> float:
        return self.lat0 + self.shape[0] / self.pixels_per_degree / 2

    @property
    def lon_c(self) -> float:
        return self.lon0 + self.shape[1] / self.pixels_per_degree / 2

    @property
    def pixel_area_km2(self) -> float:
        """Area of one pixel on the equirectangular km plane (the same for every pixel)."""
        side = KM_PER_DEGREE / self.pixels_per_degree
        return side * side * math.cos(math.radians(self.lat_c))

    @property
    def total_rate_per_day(self) -> float:
        """Background events with M >= mc per day over the whole raster."""
        return float(np.sum(self.rate)) * self.pixel_area_km2

    def to_km(self, lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Equirectangular (x east, y north) km around the raster centre."""
        x = (np.asarray(lon, float) - self.lon_c) * KM_PER_DEGREE * math.cos(math.radians(self.lat_c))
        return x, (np.asarray(lat, float) - self.lat_c) * KM_PER_DEGREE

    def to_latlon(self, x_km: np.ndarray, y_km: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lat = self.lat_c + np.asarray(y_km, float) / KM_PER_DEGREE
        return lat, self.lon_c + np.asarray(x_km, float) / (KM_PER_DEGREE * math.cos(math.radians(self.lat_c)))

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``n`` positions (lat, lon) with density proportional to the rate, uniform within a pixel."""
        flat = np.asarray(self.rate, float).ravel()
        pix = rng.choice(flat.size, size=n, p=flat / flat.sum())
        row, col = np.divmod(pix, self.shape[1])
        lat = self.lat0 + (row + rng.random(n)) / self.pixels_per_degree
        lon = self.lon0 + (col + rng.random(n)) / self.pixels_per_degree
        return lat, lon


# ------------------------------------------------------------------ branching simulation

@dataclass(frozen=True)
class EtasCatalog:
    """A simulated catalog, sorted by time. ``time_days`` from the start of the window; ``parent``: index
    of the direct parent in these arrays, -1 for a background event, -2 for an aftershock of an event
    of the (dropped) burn-in; ``generation``: 0 background, k for a k-th generation aftershock."""

    time_days: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    depth_km: np.ndarray
    magnitude: np.ndarray
    parent: np.ndarray
    generation: np.ndarray
    params: EtasParameters
    days: float
    burn_in_days: float

    def __len__(self) -> int:
        return len(self.time_days)

    @property
    def triggered(self) -> np.ndarray:
        """True for aftershocks (parent in the window or in the burn-in)."""
        return self.parent != -1


def _background_depths(n: int, rng: np.random.Generator) -> np.ndarray:
    # Crustal seismogenic layer 2-25 km, plus ~4 % intermediate-depth events (the catalog indicators
    # count events deeper than 70 km separately).
    depth = rng.uniform(2.0, 25.0, n)
    deep = rng.random(n) < 0.04
    depth[deep] = rng.uniform(30.0, 200.0, int(deep.sum()))
    return depth


def simulate_etas(params: EtasParameters, background: BackgroundRaster, *, days: float,
                  burn_in_days: float = 0.0, seed: int | np.random.SeedSequence = 0,
                  depth_sigma_km: float = 3.0, max_generations: int = 10_000) -> EtasCatalog:
    """Simulate ETAS over ``[0, days)`` (days) after a dropped burn-in of ``burn_in_days``.

    Parameters
    ----------
    params : EtasParameters; its branching ratio must be < 1 (else :class:`ConfigError`).
    background : background rate raster (events M >= mc / day / km^2); its extent and km plane are used.
    days, burn_in_days : window length and burn-in length, days.
    seed : random seed.
    depth_sigma_km : spread of an aftershock's depth around its parent's (km), kept within 0.5-250 km.

    Returns
    -------
    EtasCatalog sorted by time, every event of the window (aftershocks may fall outside the raster).
    """
    n_branch = branching_ratio(params)
    if not n_branch < 1.0:
        raise ConfigError(f"ETAS branching ratio {n_branch:.3f} >= 1: the process is explosive (supercritical); "
                          "lower k0 or a, or raise rho / beta / lower m_max")
    if not (days > 0 and burn_in_days >= 0):
        raise ConfigError(f"ETAS simulation needs days > 0 and burn_in_days >= 0, got {days}, {burn_in_days}")
    rng = np.random.default_rng(seed)
    t_end = float(days)
    # 1. Background: Poisson in time over burn-in + window, positions from the raster.
    n0 = int(rng.poisson(background.total_rate_per_day * (days + burn_in_days)))
    t = rng.uniform(-burn_in_days, t_end, n0)
    lat, lon = background.sample(n0, rng)
    x, y = background.to_km(lat, lon)
    gen_parts = {"t": [t], "x": [x], "y": [y], "z": [_background_depths(n0, rng)],
                 "m": [sample_magnitudes(params, n0, rng)], "parent": [np.full(n0, -1, np.int64)],
                 "gen": [np.zeros(n0, np.int64)]}
    kappa_mc = float(expected_aftershocks(params, params.mc))
    alpha = params.a - params.gamma * params.rho
    offset, first = 0, 0
    # 2. Generation by generation: children of the last generation, until none fall before t_end.
    for g in range(1, max_generations + 1):
        pt, px, py = gen_parts["t"][-1], gen_parts["x"][-1], gen_parts["y"][-1]
        pz, pm = gen_parts["z"][-1], gen_parts["m"][-1]
        first, offset = offset, offset + pt.size
        counts = rng.poisson(kappa_mc * np.exp(alpha * (pm - params.mc)))
        idx = np.repeat(np.arange(pt.size), counts)
        if idx.size == 0:
            break
        ct = pt[idx] + sample_delays_days(params, idx.size, rng)
        keep = ct < t_end                      # children after the window cannot affect it
        idx, ct = idx[keep], ct[keep]
        if idx.size == 0:
            break
        r = sample_distances_km(params, pm[idx], rng)
        phi = rng.uniform(0.0, 2.0 * np.pi, idx.size)
        cz = np.clip(pz[idx] + rng.normal(0.0, depth_sigma_km, idx.size), 0.5, 250.0)
        for key, val in (("t", ct), ("x", px[idx] + r * np.cos(phi)), ("y", py[idx] + r * np.sin(phi)),
                         ("z", cz), ("m", sample_magnitudes(params, idx.size, rng)),
                         ("parent", first + idx), ("gen", np.full(idx.size, g, np.int64))):
            gen_parts[key].append(val)
    else:
        raise ConfigError(f"ETAS simulation did not die out after {max_generations} generations")
    a = {k: np.concatenate(v) for k, v in gen_parts.items()}
    # 3. Drop the burn-in, sort by time, and renumber the parents.
    in_window = a["t"] >= 0.0
    order = np.flatnonzero(in_window)[np.argsort(a["t"][in_window], kind="stable")]
    new_index = np.full(a["t"].size, -2, np.int64)
    new_index[order] = np.arange(order.size)
    parent = a["parent"][order]
    parent = np.where(parent >= 0, new_index[np.maximum(parent, 0)], -1)
    lat, lon = background.to_latlon(a["x"][order], a["y"][order])
    return EtasCatalog(time_days=a["t"][order], lat=lat, lon=lon, depth_km=a["z"][order],
                       magnitude=a["m"][order], parent=parent, generation=a["gen"][order], params=params,
                       days=float(days), burn_in_days=float(burn_in_days))
