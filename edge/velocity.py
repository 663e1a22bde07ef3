"""1D layered velocity model: flat layers of constant Vp, Vs, density and Q.

The model is data (TOML, see ``edge/data/jma2001_like.toml``)::

    name = "my-region"
    [[layers]]
    top_km = -3.0      # depth of the layer top, km, positive down; the first may be negative
    vp_kms = 4.8
    vs_kms = 2.77
    rho_gcc = 2.4      # optional, g/cm^3
    qp = 200.0         # optional
    qs = 100.0         # optional

Each layer reaches down to the next layer's top; the last one is a half-space. Depths above
the first top (higher topography than the model covers) take the first layer's properties.

Example
-------
>>> from edge.velocity import VelocityModel
>>> model = VelocityModel.default()
>>> float(model.vp_at(10.0))
6.2
"""
from __future__ import annotations

import json
import math
import tomllib
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from edge.exceptions import ConfigError

__all__ = ["Layer", "VelocityModel", "brocher_density_gcc", "DEFAULT_MODEL_RESOURCE"]

DEFAULT_MODEL_RESOURCE = "jma2001_like.toml"

# Keys of one [[layers]] table: (name, required, description with unit). Drives parsing,
# validation and to_toml, so no key is spelled twice.
_LAYER_KEYS: tuple[tuple[str, bool, str], ...] = (
    ("top_km", True, "depth of the layer top, km, positive down"),
    ("vp_kms", True, "P velocity, km/s"),
    ("vs_kms", True, "S velocity, km/s"),
    ("rho_gcc", False, "density, g/cm^3; default Brocher (2005) Nafe-Drake fit of vp"),
    ("qp", False, "P quality factor; default (3/4) (vp/vs)^2 qs"),
    ("qs", False, "S quality factor; default 50 vs_kms (Olsen et al., 2003)"),
)
_TOP_KEYS = ("name", "layers")
_SQRT2 = math.sqrt(2.0)


def brocher_density_gcc(vp_kms: np.ndarray | float) -> np.ndarray:
    """Density from P velocity by Brocher's (2005, BSSA 95(6)) Nafe-Drake polynomial.

    Parameters
    ----------
    vp_kms
        P velocity, km/s.

    Returns
    -------
    numpy.ndarray
        Density, g/cm^3. The fit holds for 1.5 <= vp <= 8.5 km/s; vp is clamped to that range
        because the quintic turns over outside it (mantle densities stay ~3.3-3.4 g/cm^3).
    """
    v = np.clip(np.asarray(vp_kms, dtype=float), 1.5, 8.5)
    return 1.6612 * v - 0.4721 * v**2 + 0.0671 * v**3 - 0.0043 * v**4 + 0.000106 * v**5


def _number(value: Any, key: str) -> float:
    # bool is an int subclass in Python; `vp_kms = true` is a typo, not 1 km/s.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{key} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ConfigError(f"{key} must be finite, got {value}")
    return value


@dataclass(frozen=True)
class Layer:
    """One flat layer; it reaches down to the next layer's top.

    Attributes
    ----------
    top_km : float
        Depth of the layer top, km, positive down (negative above sea level).
    vp_kms, vs_kms : float
        P and S velocities, km/s; vp/vs must exceed sqrt(2) (Poisson ratio > 0).
    rho_gcc : float or None
        Density, g/cm^3; None: Brocher (2005) Nafe-Drake fit of vp.
    qp, qs : float or None
        Quality factors; None: ``qs = 50 vs_kms`` (Olsen et al., 2003, a common crustal rule,
        ~175 at 3.5 km/s) and ``qp = (3/4) (vp/vs)^2 qs`` (no bulk loss; 2.25 qs at vp/vs = sqrt(3)).
    """

    top_km: float
    vp_kms: float
    vs_kms: float
    rho_gcc: float | None = None
    qp: float | None = None
    qs: float | None = None

    def __post_init__(self) -> None:
        for key, required, _ in _LAYER_KEYS:
            value = getattr(self, key)
            if value is None and not required:
                continue
            object.__setattr__(self, key, _number(value, key))
        for key in ("vp_kms", "vs_kms", "rho_gcc", "qp", "qs"):
            value = getattr(self, key)
            if value is not None and value <= 0.0:
                raise ConfigError(f"{key} must be > 0, got {value:g}")
        if self.vp_kms / self.vs_kms <= _SQRT2:
            raise ConfigError(
                f"vp/vs = {self.vp_kms / self.vs_kms:.4f} must exceed sqrt(2) = 1.4142 "
                f"(vp_kms {self.vp_kms:g}, vs_kms {self.vs_kms:g}): negative Poisson ratio"
            )

    @property
    def density_gcc(self) -> float:
        """Density, g/cm^3 (given, or derived from vp)."""
        return self.rho_gcc if self.rho_gcc is not None else float(brocher_density_gcc(self.vp_kms))

    @property
    def q_s(self) -> float:
        """S quality factor (given, or 50 vs_kms)."""
        return self.qs if self.qs is not None else 50.0 * self.vs_kms

    @property
    def q_p(self) -> float:
        """P quality factor (given, or (3/4) (vp/vs)^2 qs)."""
        if self.qp is not None:
            return self.qp
        return 0.75 * (self.vp_kms / self.vs_kms) ** 2 * self.q_s


@dataclass(frozen=True)
class VelocityModel:
    """Flat-layered 1D model; layers ordered by strictly increasing ``top_km``.

    Layer numbers in error messages count from 1, as the ``[[layers]]`` tables appear in a file.
    """

    layers: tuple[Layer, ...]
    name: str = "custom"

    def __post_init__(self) -> None:
        layers = tuple(self.layers)
        if not layers:
            raise ConfigError("velocity model has no layers")
        for i, layer in enumerate(layers, start=1):
            if not isinstance(layer, Layer):
                raise ConfigError(f"layer {i}: expected a Layer, got {type(layer).__name__}")
            if i > 1 and layer.top_km <= layers[i - 2].top_km:
                raise ConfigError(
                    f"layer {i}: top_km {layer.top_km:g} is not greater than the previous "
                    f"{layers[i - 2].top_km:g}"
                )
        if not isinstance(self.name, str):
            raise ConfigError(f"name must be a string, got {self.name!r}")
        object.__setattr__(self, "layers", layers)

    # ---- construction -------------------------------------------------------------------
    @classmethod
    def from_dict(cls, d: dict, name: str | None = None) -> VelocityModel:
        """Build from a parsed TOML document ``{"name": ..., "layers": [{...}, ...]}``.

        ``name`` overrides the document's ``name``; without either the model is "custom".
        """
        if not isinstance(d, dict):
            raise ConfigError(f"velocity model must be a table, got {type(d).__name__}")
        unknown = sorted(set(d) - set(_TOP_KEYS))
        if unknown:
            raise ConfigError(f"unknown top-level key(s) {unknown}; allowed: {list(_TOP_KEYS)}")
        if "layers" not in d:
            raise ConfigError("velocity model has no [[layers]]")
        raw = d["layers"]
        if not isinstance(raw, list) or not raw:
            raise ConfigError("velocity model has no layers ([[layers]] must be a non-empty array of tables)")
        allowed = [key for key, _, _ in _LAYER_KEYS]
        layers = []
        for i, entry in enumerate(raw, start=1):
            if not isinstance(entry, dict):
                raise ConfigError(f"layer {i}: expected a table, got {entry!r}")
            unknown = sorted(set(entry) - set(allowed))
            if unknown:
                raise ConfigError(f"layer {i}: unknown key(s) {unknown}; allowed: {allowed}")
            missing = [key for key, required, _ in _LAYER_KEYS if required and key not in entry]
            if missing:
                raise ConfigError(f"layer {i}: missing required key(s) {missing}")
            try:
                layers.append(Layer(**entry))
            except ConfigError as exc:
                raise ConfigError(f"layer {i}: {exc}") from None
        model_name = name if name is not None else d.get("name", "custom")
        return cls(layers=tuple(layers), name=model_name)

    @classmethod
    def from_toml(cls, path: str | Path) -> VelocityModel:
        """Read a TOML model file; its ``name`` defaults to the file stem."""
        path = Path(path)
        try:
            text = path.read_bytes().decode("utf-8")
        except FileNotFoundError:
            raise ConfigError(f"velocity model file not found: {path}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"velocity model file {path} unreadable: {exc}") from None
        return cls._from_text(text, source=str(path), default_name=path.stem)

    @classmethod
    def _from_text(cls, text: str, *, source: str, default_name: str) -> VelocityModel:
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"velocity model {source}: invalid TOML: {exc}") from None
        try:
            return cls.from_dict(doc, name=doc.get("name", default_name))
        except ConfigError as exc:
            raise ConfigError(f"velocity model {source}: {exc}") from None

    @classmethod
    def default(cls) -> VelocityModel:
        """The shipped JMA2001-like model for Japan (``edge/data/jma2001_like.toml``)."""
        text = resources.files("edge").joinpath("data", DEFAULT_MODEL_RESOURCE).read_text("utf-8")
        return cls._from_text(text, source=DEFAULT_MODEL_RESOURCE, default_name="jma2001_like")

    def to_toml(self) -> str:
        """Serialise to TOML that :meth:`from_toml` reads back to an equal model."""
        # json.dumps of a str is a valid TOML basic string (same escapes).
        lines = [f"name = {json.dumps(self.name)}", ""]
        for layer in self.layers:
            lines.append("[[layers]]")
            for key, _, _ in _LAYER_KEYS:
                value = getattr(layer, key)
                if value is not None:
                    lines.append(f"{key} = {float(value)!r}")
            lines.append("")
        return "\n".join(lines)

    # ---- queries --------------------------------------------------------------------------
    @property
    def top_km(self) -> float:
        """Top of the first layer, km (negative: above sea level)."""
        return self.layers[0].top_km

    @property
    def tops_km(self) -> np.ndarray:
        """Layer tops, km, shape (n_layers,)."""
        return np.array([layer.top_km for layer in self.layers])

    def _column(self, attr: str) -> np.ndarray:
        return np.array([getattr(layer, attr) for layer in self.layers], dtype=float)

    def layer_index(self, depth_km: np.ndarray | float) -> np.ndarray:
        """Index (0-based) of the layer holding each depth.

        A depth exactly on an interface belongs to the layer below it; depths above the first
        top belong to the first layer. Raises ConfigError on NaN depths (no layer holds them).
        """
        z = np.asarray(depth_km, dtype=float)
        if np.isnan(z).any():
            raise ConfigError("depth_km contains NaN")
        idx = np.searchsorted(self.tops_km, z, side="right") - 1
        return np.maximum(idx, 0)

    def _at(self, attr: str, depth_km: np.ndarray | float) -> np.ndarray:
        z = np.asarray(depth_km, dtype=float)
        nan = np.isnan(z)
        values = self._column(attr)[self.layer_index(np.where(nan, 0.0, z))]
        return np.where(nan, np.nan, values)

    def vp_at(self, depth_km: np.ndarray | float) -> np.ndarray:
        """P velocity, km/s, at depth(s) in km (NaN depth -> NaN)."""
        return self._at("vp_kms", depth_km)

    def vs_at(self, depth_km: np.ndarray | float) -> np.ndarray:
        """S velocity, km/s, at depth(s) in km."""
        return self._at("vs_kms", depth_km)

    def rho_at(self, depth_km: np.ndarray | float) -> np.ndarray:
        """Density, g/cm^3, at depth(s) in km."""
        return self._at("density_gcc", depth_km)

    def qp_at(self, depth_km: np.ndarray | float) -> np.ndarray:
        """P quality factor at depth(s) in km."""
        return self._at("q_p", depth_km)

    def qs_at(self, depth_km: np.ndarray | float) -> np.ndarray:
        """S quality factor at depth(s) in km."""
        return self._at("q_s", depth_km)

    def scaled(self, factor_p: float, factor_s: float | None = None) -> VelocityModel:
        """A copy with every Vp times ``factor_p`` and every Vs times ``factor_s`` (default: same).

        Given densities and Q stay; derived ones follow the scaled velocities. The result is
        validated again, so factors that push vp/vs below sqrt(2) raise ConfigError.
        """
        fp = _number(factor_p, "factor_p")
        fs = fp if factor_s is None else _number(factor_s, "factor_s")
        if fp <= 0.0 or fs <= 0.0:
            raise ConfigError(f"scale factors must be > 0, got factor_p {fp:g}, factor_s {fs:g}")
        try:
            layers = tuple(
                replace(layer, vp_kms=layer.vp_kms * fp, vs_kms=layer.vs_kms * fs)
                for layer in self.layers
            )
        except ConfigError as exc:
            raise ConfigError(f"scaled({fp:g}, {fs:g}) of {self.name}: {exc}") from None
        return VelocityModel(layers=layers, name=f"{self.name}*{fp:g}/{fs:g}")
