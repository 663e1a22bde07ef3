"""Tests of edge.velocity: the layered model, its TOML form and its validation."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from edge.exceptions import ConfigError, DasEewError
from edge.velocity import Layer, VelocityModel, brocher_density_gcc

TWO_LAYERS = """
name = "two"
[[layers]]
top_km = 0.0
vp_kms = 5.0
vs_kms = 2.9
[[layers]]
top_km = 20.0
vp_kms = 8.0
vs_kms = 4.6
"""


def write(tmp_path: Path, text: str, name: str = "model.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


class TestDefaultModel:
    """The shipped model loads and looks like JMA2001."""

    def test_loads_with_name_and_layers(self):
        """default() reads the packaged TOML; the name comes from the file."""
        model = VelocityModel.default()
        assert model.name == "jma2001_like"
        assert len(model.layers) >= 8

    def test_jma2001_shape(self):
        """Vp ~4.8-5.5 near the surface, ~6 at 10 km, 6.6-6.7 at 20-30 km, > 7.5 below a Moho near 33 km."""
        model = VelocityModel.default()
        assert 4.7 <= model.vp_at(0.5) <= 5.6
        assert 5.8 <= model.vp_at(10.0) <= 6.3
        assert np.all((model.vp_at([21.0, 29.0]) >= 6.5) & (model.vp_at([21.0, 29.0]) <= 6.8))
        assert model.vp_at(40.0) > 7.5
        assert model.vp_at(32.0) < 7.0 < model.vp_at(34.0)

    def test_vp_vs_ratio_and_extent(self):
        """Vp/Vs ~1.73 everywhere; top ~-3 km for topography; layers reach >= 300 km, mantle speeds rise."""
        model = VelocityModel.default()
        ratio = np.array([lay.vp_kms / lay.vs_kms for lay in model.layers])
        np.testing.assert_allclose(ratio, 1.73, atol=0.01)
        assert -4.0 <= model.top_km <= -2.0
        assert model.tops_km[-1] >= 300.0
        mantle = model.vp_at(np.arange(40.0, 400.0, 10.0))
        assert np.all(np.diff(mantle) >= 0) and mantle[-1] > mantle[0]


class TestQueries:
    """Vectorised property lookups by depth."""

    def test_layer_index_interfaces_and_above_top(self):
        """An interface belongs to the layer below; depths above the first top to the first layer."""
        model = VelocityModel.from_dict({"layers": [
            {"top_km": -1.0, "vp_kms": 4.0, "vs_kms": 2.3},
            {"top_km": 5.0, "vp_kms": 6.0, "vs_kms": 3.5},
            {"top_km": 30.0, "vp_kms": 8.0, "vs_kms": 4.6}]})
        idx = model.layer_index([-9.0, -1.0, 4.999, 5.0, 29.0, 30.0, 700.0])
        assert idx.tolist() == [0, 0, 0, 1, 1, 2, 2]
        np.testing.assert_array_equal(model.vp_at([[-9.0, 5.0], [31.0, 2.0]]), [[4.0, 6.0], [8.0, 4.0]])
        assert model.vs_at(6.0) == 3.5

    def test_nan_depth(self):
        """NaN depth: NaN property, ConfigError for the index (no layer holds it)."""
        model = VelocityModel.default()
        assert np.isnan(model.vp_at([np.nan, 1.0])[0])
        with pytest.raises(ConfigError, match="NaN"):
            model.layer_index([1.0, np.nan])

    def test_derived_density_and_q(self):
        """Missing rho/Q come from Brocher (2005) and Qs = 50 Vs, Qp = 3/4 (Vp/Vs)^2 Qs; given values win."""
        rho6 = 1.6612 * 6 - 0.4721 * 36 + 0.0671 * 216 - 0.0043 * 1296 + 0.000106 * 7776
        assert brocher_density_gcc(6.0) == pytest.approx(rho6) and rho6 == pytest.approx(2.7167, abs=1e-4)
        layer = Layer(0.0, 6.0, 6.0 / math.sqrt(3.0))
        assert layer.density_gcc == pytest.approx(rho6)
        assert layer.q_s == pytest.approx(50.0 * 6.0 / math.sqrt(3.0))
        assert layer.q_p == pytest.approx(2.25 * layer.q_s)
        given = Layer(0.0, 6.0, 3.5, rho_gcc=2.5, qp=400.0, qs=200.0)
        model = VelocityModel((given,))
        assert (model.rho_at(1.0), model.qp_at(1.0), model.qs_at(1.0)) == (2.5, 400.0, 200.0)

    def test_scaled(self):
        """scaled() multiplies Vp and Vs (Vs by factor_p unless given) and revalidates."""
        model = VelocityModel.default()
        faster = model.scaled(1.1)
        np.testing.assert_allclose(faster.vp_at([0.0, 50.0]), 1.1 * model.vp_at([0.0, 50.0]))
        np.testing.assert_allclose(faster.vs_at([0.0, 50.0]), 1.1 * model.vs_at([0.0, 50.0]))
        both = model.scaled(1.0, 0.9)
        np.testing.assert_allclose(both.vs_at(10.0), 0.9 * model.vs_at(10.0))
        assert both.vp_at(10.0) == model.vp_at(10.0)
        assert faster.name != model.name
        with pytest.raises(ConfigError, match="sqrt\\(2\\)"):
            model.scaled(1.0, 1.3)  # vp/vs 1.73/1.3 = 1.33 < sqrt(2)
        with pytest.raises(ConfigError, match="> 0"):
            model.scaled(0.0)


class TestToml:
    """TOML reading and writing."""

    def test_round_trip_with_optional_keys(self, tmp_path):
        """to_toml -> from_toml gives an equal model, optional keys included, None stays None."""
        model = VelocityModel((Layer(-2.5, 4.81, 2.7, rho_gcc=2.3, qp=123.4),
                               Layer(1e-3, 6.1, 3.52, qs=1e5), Layer(33.0, 7.9, 4.5)),
                              name='odd "name" \\ here')
        back = VelocityModel.from_toml(write(tmp_path, model.to_toml()))
        assert back == model
        assert back.layers[2].rho_gcc is None

    def test_default_round_trip(self, tmp_path):
        """The default model survives a round trip unchanged."""
        model = VelocityModel.default()
        assert VelocityModel.from_toml(write(tmp_path, model.to_toml())) == model

    def test_name_defaults_to_stem_and_ints_accepted(self, tmp_path):
        """Without a name the file stem names the model; integer values are accepted as floats."""
        text = "[[layers]]\ntop_km = 0\nvp_kms = 6\nvs_kms = 3.5\n"
        model = VelocityModel.from_toml(write(tmp_path, text, "kyushu.toml"))
        assert model.name == "kyushu"
        assert isinstance(model.layers[0].vp_kms, float)

    def test_missing_file(self, tmp_path):
        """A missing file is a ConfigError naming the path."""
        with pytest.raises(ConfigError, match="not found"):
            VelocityModel.from_toml(tmp_path / "nope.toml")


def layer_text(top: object, vp: object, vs: object, extra: str = "") -> str:
    return f"[[layers]]\ntop_km = {top}\nvp_kms = {vp}\nvs_kms = {vs}\n{extra}"


GOOD = layer_text(0.0, 5.0, 2.9)
BAD_CASES = {
    "missing key": (GOOD + "[[layers]]\ntop_km = 5.0\nvp_kms = 6.0\n", r"layer 2: missing required key\(s\) \['vs_kms'\]"),
    "unknown key": (layer_text(0.0, 5.0, 2.9, "vpp = 3.0\n"), r"layer 1: unknown key\(s\) \['vpp'\]"),
    "unknown top key": ("depth = 3\n" + GOOD, r"unknown top-level key\(s\) \['depth'\]"),
    "non-numeric": (GOOD + layer_text(5.0, '"fast"', 3.5), "layer 2: vp_kms must be a number"),
    "boolean": (layer_text("true", 5.0, 2.9), "layer 1: top_km must be a number"),
    "nan": (GOOD + layer_text(5.0, "nan", 3.5), "layer 2: vp_kms must be finite"),
    "inf": (GOOD + layer_text("inf", 6.0, 3.5), "layer 2: top_km must be finite"),
    "negative vp": (GOOD + layer_text(5.0, -1, 3.5), "layer 2: vp_kms must be > 0, got -1"),
    "zero vs": (GOOD + layer_text(5.0, 6.0, 0.0), "layer 2: vs_kms must be > 0, got 0"),
    "vs too fast": (GOOD + layer_text(5.0, 6.0, 4.3), r"layer 2: vp/vs = 1.3953 must exceed sqrt\(2\)"),
    "decreasing top": (layer_text(8.0, 5.0, 2.9) + layer_text(5.0, 6.0, 3.5),
                       "layer 2: top_km 5 is not greater than the previous 8"),
    "equal top": (GOOD + layer_text(0.0, 6.0, 3.5), "layer 2: top_km 0 is not greater than the previous 0"),
    "no layers table": ('name = "empty"\n', r"no \[\[layers\]\]"),
    "empty layers": ("layers = []\n", "no layers"),
    "layers not tables": ("layers = [1, 2]\n", "layer 1: expected a table"),
    "qp zero": (layer_text(0.0, 5.0, 2.9, "qp = 0\n"), "layer 1: qp must be > 0, got 0"),
    "qs negative": (layer_text(0.0, 5.0, 2.9, "qs = -5.0\n"), "layer 1: qs must be > 0, got -5"),
    "rho negative": (layer_text(0.0, 5.0, 2.9, "rho_gcc = -2.0\n"), "layer 1: rho_gcc must be > 0"),
    "truncated": (GOOD + "[[layers]]\ntop_km = 5.0\nvp_kms = ", "invalid TOML"),
    "garbage": ("\x00\x01 not toml [[[", "invalid TOML"),
    "name not string": ("name = 3\n" + GOOD, "name must be a string"),
}


class TestValidation:
    """Every kind of bad model raises ConfigError naming the problem."""

    @pytest.mark.parametrize("case", sorted(BAD_CASES))
    def test_bad_file(self, tmp_path, case):
        """The message names the layer and the offending key or value."""
        text, pattern = BAD_CASES[case]
        with pytest.raises(ConfigError, match=pattern) as info:
            VelocityModel.from_toml(write(tmp_path, text))
        assert str(tmp_path) in str(info.value)  # the file is named too

    def test_error_classes(self, tmp_path):
        """ConfigError is both a ValueError and a DasEewError."""
        with pytest.raises(ValueError):
            VelocityModel.from_toml(write(tmp_path, layer_text(0.0, -5.0, 2.9)))
        assert issubclass(ConfigError, DasEewError)

    def test_direct_construction_validates(self):
        """Layer and VelocityModel constructors validate like the file reader."""
        with pytest.raises(ConfigError, match="vp_kms must be > 0"):
            Layer(0.0, -6.0, 3.5)
        with pytest.raises(ConfigError, match="no layers"):
            VelocityModel(())
        with pytest.raises(ConfigError, match="layer 2: top_km 1 is not greater than the previous 2"):
            VelocityModel((Layer(2.0, 6.0, 3.5), Layer(1.0, 7.0, 4.0)))
        with pytest.raises(ConfigError, match="layer 1: expected a Layer"):
            VelocityModel(({"top_km": 0.0},))

    def test_from_dict_name_override(self):
        """from_dict's name argument wins over the document's name."""
        import tomllib
        doc = tomllib.loads(TWO_LAYERS)
        assert VelocityModel.from_dict(doc).name == "two"
        assert VelocityModel.from_dict(doc, name="other").name == "other"
        with pytest.raises(ConfigError, match="must be a table"):
            VelocityModel.from_dict([1, 2])
