"""Seismic sources: magnitude, moment, Brune corner frequency and moment tensors.

Moment tensors are in the Aki & Richards frame x = north, y = east, z = down, in N m.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edge.exceptions import ConfigError

MAG_MIN, MAG_MAX = -1.0, 9.5
SOURCE_KINDS = ("earthquake", "explosion", "collapse")


def moment_from_magnitude(magnitude: float | np.ndarray) -> np.ndarray:
    """Seismic moment M0 in N m from moment magnitude (Hanks & Kanamori 1979, IASPEI 2013 form)."""
    return 10.0 ** (1.5 * np.asarray(magnitude, dtype=float) + 9.1)


def check_magnitude(magnitude: float) -> float:
    """Return ``magnitude`` as float, or raise ConfigError when it is outside -1..9.5 or not finite."""
    m = float(magnitude)
    if not np.isfinite(m) or not (MAG_MIN <= m <= MAG_MAX):
        raise ConfigError(f"magnitude {magnitude!r} is outside the supported range {MAG_MIN}..{MAG_MAX}")
    return m


def brune_corner_hz(moment_nm: float, *, vs_kms: float = 3.5, stress_drop_mpa: float = 3.0) -> float:
    """S-wave corner frequency of Brune's (1970) source.

    fc = 0.4906 beta (stress_drop / M0)^(1/3) with beta in m/s, stress drop in Pa, M0 in N m.
    """
    beta = vs_kms * 1e3
    return float(0.4906 * beta * (stress_drop_mpa * 1e6 / moment_nm) ** (1.0 / 3.0))


def double_couple(strike_deg: float, dip_deg: float, rake_deg: float) -> np.ndarray:
    """Unit-moment double-couple tensor (x north, y east, z down) from strike, dip, rake.

    Aki & Richards (2002) Box 4.4. Its scalar moment (sqrt(sum M_ij^2 / 2)) is 1.
    """
    s, d, r = np.radians([strike_deg, dip_deg, rake_deg])
    mxx = -(np.sin(d) * np.cos(r) * np.sin(2 * s) + np.sin(2 * d) * np.sin(r) * np.sin(s) ** 2)
    mxy = np.sin(d) * np.cos(r) * np.cos(2 * s) + 0.5 * np.sin(2 * d) * np.sin(r) * np.sin(2 * s)
    mxz = -(np.cos(d) * np.cos(r) * np.cos(s) + np.cos(2 * d) * np.sin(r) * np.sin(s))
    myy = np.sin(d) * np.cos(r) * np.sin(2 * s) - np.sin(2 * d) * np.sin(r) * np.cos(s) ** 2
    myz = -(np.cos(d) * np.cos(r) * np.sin(s) - np.cos(2 * d) * np.sin(r) * np.cos(s))
    mzz = np.sin(2 * d) * np.sin(r)
    return np.array([[mxx, mxy, mxz], [mxy, myy, myz], [mxz, myz, mzz]])


def explosion() -> np.ndarray:
    """Unit isotropic (explosive) tensor: compressional first motion in every direction."""
    return np.eye(3)


def collapse(style: str = "closing_crack", *, lame_ratio: float = 1.0) -> np.ndarray:
    """Unit-moment tensor of a mine collapse.

    ``"implosion"`` is a negative isotropic source; ``"closing_crack"`` is a horizontal tensile crack
    closing (roof fall onto a mined-out panel, as Crandall Canyon 2007): M = -(lambda I + 2 mu n n^T)
    with n vertical, i.e. diag(-l, -l, -(l + 2)) for lame_ratio l = lambda / mu (1 for a Poisson solid),
    normalised to unit scalar moment. Both give dilatational first motion everywhere.
    """
    if style == "implosion":
        return -np.eye(3)
    if style == "closing_crack":
        m = -np.diag([lame_ratio, lame_ratio, lame_ratio + 2.0])
        return m / scalar_moment(m)
    raise ConfigError(f"unknown collapse style {style!r}; use 'implosion' or 'closing_crack'")


def scalar_moment(tensor: np.ndarray) -> float:
    """Scalar moment of a tensor, sqrt(sum M_ij^2 / 2) (Silver & Jordan 1982)."""
    return float(np.sqrt(np.sum(np.asarray(tensor) ** 2) / 2.0))


def random_mechanism(rng: np.random.Generator) -> tuple[float, float, float]:
    """Strike, dip, rake (deg) of a random double couple with uniformly random orientation.

    Uniform on the sphere of fault normals: cos(dip) uniform in [0, 1].
    """
    strike = float(rng.uniform(0.0, 360.0))
    dip = float(np.degrees(np.arccos(rng.uniform(0.0, 1.0))))
    rake = float(rng.uniform(-180.0, 180.0))
    return strike, max(dip, 1.0), rake


@dataclass(frozen=True)
class Source:
    """One simulated event.

    Parameters
    ----------
    origin_time : float
        POSIX seconds UTC.
    lat, lon : float
        Epicentre, degrees.
    depth_km : float
        Hypocentral depth, km below sea level.
    magnitude : float
        Moment magnitude, -1 to 9.5.
    kind : str
        ``"earthquake"``, ``"explosion"`` or ``"collapse"``.
    tensor : ndarray (3, 3)
        Unit-moment tensor, x north, y east, z down.
    stress_drop_mpa : float
        Brune stress drop, MPa.
    mechanism : dict
        What made the tensor (strike/dip/rake or style), for the truth file.
    """

    origin_time: float
    lat: float
    lon: float
    depth_km: float
    magnitude: float
    kind: str = "earthquake"
    tensor: np.ndarray = field(default_factory=lambda: double_couple(0.0, 45.0, 90.0))
    stress_drop_mpa: float = 3.0
    mechanism: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_magnitude(self.magnitude)
        if self.kind not in SOURCE_KINDS:
            raise ConfigError(f"unknown source kind {self.kind!r}; use one of {SOURCE_KINDS}")
        if not np.isfinite(self.depth_km) or not (-5.0 <= self.depth_km <= 700.0):
            raise ConfigError(f"source depth {self.depth_km!r} km is outside -5..700 km")
        if not (-90.0 <= self.lat <= 90.0) or not np.isfinite(self.lon):
            raise ConfigError(f"source position ({self.lat!r}, {self.lon!r}) is not a valid lat/lon")
        if not self.stress_drop_mpa > 0:
            raise ConfigError(f"stress drop must be > 0 MPa, got {self.stress_drop_mpa!r}")

    @property
    def moment_nm(self) -> float:
        """Scalar seismic moment, N m."""
        return float(moment_from_magnitude(self.magnitude))

    def corner_hz(self, vs_kms: float = 3.5) -> float:
        """Brune S corner frequency, Hz."""
        return brune_corner_hz(self.moment_nm, vs_kms=vs_kms, stress_drop_mpa=self.stress_drop_mpa)

    def to_truth(self) -> dict:
        """JSON-ready description for the truth file."""
        return {
            "origin_time": self.origin_time,
            "lat": self.lat,
            "lon": self.lon,
            "depth_km": self.depth_km,
            "magnitude": self.magnitude,
            "kind": self.kind,
            "moment_nm": self.moment_nm,
            "stress_drop_mpa": self.stress_drop_mpa,
            "mechanism": self.mechanism,
            "tensor_ned": np.asarray(self.tensor).tolist(),
        }


def make_source(
    *,
    origin_time: float,
    lat: float,
    lon: float,
    depth_km: float,
    magnitude: float,
    kind: str = "earthquake",
    rng: np.random.Generator | None = None,
    strike_dip_rake: tuple[float, float, float] | None = None,
    collapse_style: str = "closing_crack",
    stress_drop_mpa: float | None = None,
) -> Source:
    """Build a :class:`Source` with a mechanism fitting its kind (random where not given)."""
    rng = rng if rng is not None else np.random.default_rng(0)
    if stress_drop_mpa is None:
        # Lognormal scatter of stress drop (factor ~2), a common observation for crustal events.
        stress_drop_mpa = float(3.0 * np.exp(rng.normal(0.0, 0.6)))
    if kind == "earthquake":
        sdr = strike_dip_rake if strike_dip_rake is not None else random_mechanism(rng)
        tensor = double_couple(*sdr)
        mechanism = {"type": "double_couple", "strike": sdr[0], "dip": sdr[1], "rake": sdr[2]}
    elif kind == "explosion":
        tensor = explosion()
        mechanism = {"type": "isotropic"}
    elif kind == "collapse":
        tensor = collapse(collapse_style)
        mechanism = {"type": collapse_style}
    else:
        raise ConfigError(f"unknown source kind {kind!r}; use one of {SOURCE_KINDS}")
    return Source(origin_time=origin_time, lat=lat, lon=lon, depth_km=depth_km, magnitude=magnitude,
                  kind=kind, tensor=tensor, stress_drop_mpa=stress_drop_mpa, mechanism=mechanism)
