"""SafeNet network, training, transfer, ONNX export and run time: shapes, a short training run that
learns a toy signal, ONNX equal to PyTorch within 1e-4, the model card, and shape errors at run time."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from models.safenet.catalog import CatalogError

torch = pytest.importorskip("torch", reason="the train extra (torch) is not installed")

from models.safenet.net import SafeNet, SafeNetConfig, n_parameters  # noqa: E402
from models.safenet.runtime import SafeNetSession  # noqa: E402
from models.safenet.train import (  # noqa: E402
    SafeNetData,
    balanced_class_weights,
    export_onnx,
    fine_tune,
    macro_f1,
    predict_probabilities,
    train,
)

T, P, C, F = 4, 32, 3, 282
EDGES = (0.4, 0.7, 0.9)          # the toy's classes: feature 0 of the last step against these


def toy(n_regions: int = 6, n_years: int = 14, seed: int = 0) -> SafeNetData:
    """Random features, patches and maps; the label of a sample is the class of its last step's feature 0
    (a signal the catalog branch can learn), so all 4 classes occur."""
    rng = np.random.default_rng(seed)
    features = rng.uniform(0, 1, (n_regions, n_years, F)).astype(np.float32)
    patches = rng.normal(2.0, 3.0, (n_regions, n_years, C, P, P)).astype(np.float32)
    global_patches = rng.normal(2.0, 3.0, (n_years, C, P, P)).astype(np.float32)
    labels = np.searchsorted(EDGES, features[:, :, 0], side="right")
    return SafeNetData(features, patches, global_patches, labels, list(range(2000, 2000 + n_years)), "toy")


def nll(prob: np.ndarray, data: SafeNetData, years) -> float:
    """Mean negative log-probability of the true class over the sample years' regions."""
    truth = data.labels[:, [data.years.index(y) for y in years]]
    return float(-np.mean(np.log(np.take_along_axis(prob, truth[..., None], axis=2) + 1e-12)))


DATA = toy()
TRAIN_YEARS = DATA.years[T - 1:]
KW = dict(n_steps=T, blocks=(1, 1), batch=4, class_weights="balanced", lr=1e-3, seed=3, progress=False)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread: on the shared 2-core machine, two spinning threads under load are ~10x slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def trained(one_thread):
    return train(DATA, TRAIN_YEARS, epochs=25, **KW)


class TestNetwork:
    def test_forward_shapes_and_parameters(self):
        """Logits (B, R, K) for any batch; the authors' block counts give ~150 k parameters."""
        cfg = SafeNetConfig(n_regions=5, n_steps=3, channels=C, patch=P, n_classes=3, blocks=(1, 1))
        net = SafeNet(cfg).eval()
        for b in (1, 2):
            out = net(torch.zeros(b, 5, 3, F), torch.zeros(b, 5, 3, C, P, P), torch.zeros(b, 3, C, P, P))
            assert out.shape == (b, 5, 3)
        assert 140_000 < n_parameters(SafeNet(SafeNetConfig(n_regions=90))) < 160_000

    def test_regions_interact_through_the_transformer(self):
        """Changing one region's features changes another region's logits (attention across regions)."""
        torch.manual_seed(0)
        net = SafeNet(SafeNetConfig(n_regions=4, n_steps=2, channels=1, patch=16, blocks=(1, 1))).eval()
        f = torch.rand(1, 4, 2, F)
        p, g = torch.rand(1, 4, 2, 1, 16, 16), torch.rand(1, 2, 1, 16, 16)
        f2 = f.clone()
        f2[0, 3] += 1.0
        a, b = net(f, p, g), net(f2, p, g)
        assert not torch.allclose(a[0, 0], b[0, 0])

    def test_config_rejects_bad_sizes(self):
        with pytest.raises(ValueError):
            SafeNetConfig(n_regions=0)
        with pytest.raises(ValueError):
            SafeNetConfig(n_regions=3, dim=33, heads=2)


class TestData:
    def test_malformed_data_are_named(self):
        d = toy(3, 6)
        with pytest.raises(CatalogError, match="features"):
            SafeNetData(d.features[:, :5], d.patches, d.global_patches, d.labels, d.years)
        with pytest.raises(CatalogError, match="global_patches"):
            SafeNetData(d.features, d.patches, d.global_patches[:, :1], d.labels, d.years)
        with pytest.raises(CatalogError, match="years"):
            SafeNetData(d.features, d.patches, d.global_patches, d.labels, [2000, 2001, 2003, 2004, 2005, 2006])
        bad = d.features.copy()
        bad[0, 0, 0] = np.nan
        with pytest.raises(CatalogError, match="non-finite"):
            SafeNetData(bad, d.patches, d.global_patches, d.labels, d.years)
        with pytest.raises(CatalogError, match="needs years"):
            d.windows([2001], 4)

    def test_windows_end_at_the_sample_year(self):
        assert DATA.windows([2003, 2005], T).tolist() == [[0, 1, 2, 3], [2, 3, 4, 5]]

    def test_scores(self):
        assert macro_f1(np.array([0, 0, 1, 1, -1]), np.array([0, 0, 1, 0, 3])) == pytest.approx((0.8 + 2 / 3) / 2)
        assert balanced_class_weights(np.array([0, 0, 0, 0, 1, 1, -1]), 3) == (1.0, 2.0, 2.0)


class TestTraining:
    def test_training_learns_the_toy_signal(self, trained):
        """The log-loss on the training samples falls well below the untrained network's."""
        untrained = train(DATA, TRAIN_YEARS, epochs=0, **KW)
        before = nll(predict_probabilities(untrained, DATA, TRAIN_YEARS), DATA, TRAIN_YEARS)
        after = nll(predict_probabilities(trained, DATA, TRAIN_YEARS), DATA, TRAIN_YEARS)
        assert after < 0.3 * before, (before, after, trained.history)
        assert len(trained.history) == 25 and trained.history[-1]["loss"] < trained.history[0]["loss"]

    def test_batched_embedding_equals_the_plain_forward(self, trained):
        """predict_probabilities (each patch embedded once) equals net(...) on the stacked windows."""
        years = [2005, 2009]
        cols = DATA.windows(years, T)
        f = torch.from_numpy(DATA.features[:, cols]).permute(1, 0, 2, 3)
        p = torch.from_numpy(DATA.patches[:, cols]).permute(1, 0, 2, 3, 4, 5)
        g = torch.from_numpy(DATA.global_patches[cols])
        with torch.no_grad():
            direct = torch.softmax(trained.net(f, p, g), dim=-1).numpy().transpose(1, 0, 2)
        np.testing.assert_allclose(predict_probabilities(trained, DATA, years), direct, atol=1e-5)

    def test_same_seed_same_network(self):
        a = train(DATA, TRAIN_YEARS[:6], epochs=1, **KW)
        b = train(DATA, TRAIN_YEARS[:6], epochs=1, **KW)
        assert a.history == b.history
        assert all(torch.equal(x, y) for x, y in zip(a.net.state_dict().values(), b.net.state_dict().values()))

    def test_validation_keeps_the_best_epoch(self):
        t = train(DATA, TRAIN_YEARS[:7], epochs=3, val_years=TRAIN_YEARS[7:], **KW)
        scores = [row["val_macro_f1"] for row in t.history]
        assert t.best_epoch == 1 + int(np.argmax(scores))

    def test_paper_weights_need_four_classes(self):
        with pytest.raises(ValueError, match="class_weights"):
            train(DATA, TRAIN_YEARS, epochs=0, **{**KW, "class_weights": (1, 4, 15, 78), "n_classes": 5})

    def test_fine_tune_on_another_number_of_regions(self, trained):
        """Transfer to a 4-region area: the position embedding is rebuilt, the pretrained net untouched."""
        other = toy(4, 12, seed=5)
        before = {k: v.clone() for k, v in trained.net.state_dict().items()}
        for how in ("mean", "interpolate"):
            tuned = fine_tune(trained, other, other.years[T - 1:], 2, 1e-3, position=how, progress=False)
            assert tuned.config.n_regions == 4 and tuned.net.position.shape == (5, 32)
            assert predict_probabilities(tuned, other, other.years[-2:]).shape == (4, 2, 4)
            assert tuned.pretrained["regions"] == 6
        assert all(torch.equal(before[k], v) for k, v in trained.net.state_dict().items())
        with pytest.raises(CatalogError):
            fine_tune(trained, SafeNetData(other.features[:, :, :10], other.patches, other.global_patches,
                                           other.labels, other.years), other.years[T - 1:], 1, progress=False)


@pytest.fixture(scope="module")
def exported(trained, tmp_path_factory):
    path = tmp_path_factory.mktemp("safenet") / "safenet.onnx"
    scaler = {"low": [0.0] * F, "high": [1.0] * F}
    card = export_onnx(trained, path, scaler_dict=scaler, classes_edges=EDGES, metrics={"macro_f1": 0.5},
                       extra_card={"grid": {"n_lat": 2, "n_lon": 3}, "forecast": {"mc": 2.0}})
    return path, card, scaler


class TestExport:
    def test_onnx_equals_pytorch(self, trained, exported):
        path, _, _ = exported
        session = SafeNetSession(path)
        for y in (2004, 2013):
            j = DATA.years.index(y)
            got = session.probabilities(DATA.features[:, j - T + 1:j + 1], DATA.patches[:, j - T + 1:j + 1],
                                        DATA.global_patches[j - T + 1:j + 1])
            want = predict_probabilities(trained, DATA, [y])[:, 0]
            assert got.shape == (6, 4)
            np.testing.assert_allclose(got, want, atol=1e-4)
        # the batch dimension is dynamic
        cols = DATA.windows([2004, 2005, 2013], T)
        out = session.session.run(None, {"features": DATA.features[:, cols].transpose(1, 0, 2, 3),
                                         "patches": DATA.patches[:, cols].transpose(1, 0, 2, 3, 4, 5),
                                         "global_patches": DATA.global_patches[cols]})[0]
        np.testing.assert_allclose(out.transpose(1, 0, 2), predict_probabilities(trained, DATA, [2004, 2005, 2013]),
                                   atol=1e-4)

    def test_card_round_trips(self, trained, exported):
        path, card, scaler = exported
        session = SafeNetSession(path)
        assert session.card == json.loads(json.dumps(card))
        assert session.scaler == scaler and session.class_edges == EDGES
        assert session.class_names == ["M<0.4", "0.4-0.7", "0.7-0.9", "M>=0.9"]
        shape = (session.n_regions, session.n_steps, session.n_features, session.channels, session.patch)
        assert shape == (6, T, F, C, P)
        assert card["training"]["seed"] == 3 and card["training"]["train_years"] == TRAIN_YEARS
        assert card["architecture"]["parameters"] == n_parameters(trained.net) and card["grid"]["n_lon"] == 3
        assert card["forecast"] == {"seq_len": T, "class_edges": list(EDGES), "patch": P, "scaler": scaler, "mc": 2.0}

    def test_runtime_rejects_wrong_shapes(self, exported, tmp_path):
        session = SafeNetSession(exported[0])
        f, p, g = DATA.features[:, :T], DATA.patches[:, :T], DATA.global_patches[:T]
        for args in ((f[:5], p, g), (f, p[:, :T - 1], g), (f, p, g[..., :16]), (f[None], p, g)):
            with pytest.raises(CatalogError, match="shape"):
                session.probabilities(*args)
        nan = f.copy()
        nan[0, 0, 0] = np.inf
        with pytest.raises(CatalogError, match="non-finite"):
            session.probabilities(nan, p, g)
        with pytest.raises(CatalogError, match="no SafeNet model"):
            SafeNetSession(tmp_path / "missing.onnx")

    def test_export_checks_the_classes(self, trained, tmp_path):
        with pytest.raises(ValueError, match="classes"):
            export_onnx(trained, tmp_path / "x.onnx", classes_edges=(5.0, 6.0))

    def test_run_time_needs_no_torch(self, exported):
        code = ("import sys, numpy as np; from models.safenet.runtime import SafeNetSession; "
                f"s = SafeNetSession({str(exported[0])!r}); "
                f"p = s.probabilities(np.zeros((6, {T}, {F})), np.zeros((6, {T}, {C}, {P}, {P})), "
                f"np.zeros(({T}, {C}, {P}, {P}))); "
                "assert abs(p.sum(axis=1) - 1).max() < 1e-5; assert 'torch' not in sys.modules")
        subprocess.run([sys.executable, "-c", code], check=True)
