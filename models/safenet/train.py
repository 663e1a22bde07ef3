"""Training, fine-tuning (transfer), prediction and ONNX export of SafeNet (PyTorch: the ``train`` extra).

Samples follow the shared contract: sample year ``y`` takes the yearly steps ``y - T + 1 .. y`` (features
from events before 1 January y + 1) and its label is the class of the largest magnitude in year ``y + 1``.
Every ``years`` argument here names sample years ``y``; the forecast is for ``y + 1``.

Training follows Hu et al.: weighted cross-entropy (class weights [1, 4, 15, 78] by default, or computed
from the training labels), Adam (lr 1e-4), batch 16; with ``val_years`` the weights of the epoch with the
best validation macro F1 are kept. A batch embeds each (region, year) patch once although overlapping
windows share it (a batch of 16 samples of T = 10 steps needs at most 25 yearly columns, not 160): the
ResNet is most of the cost.
"""
from __future__ import annotations

import copy
import json
import sys
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from edge.exceptions import ConfigError
from models.safenet.catalog import CatalogError, MagnitudeClasses
from models.safenet.net import SafeNet, SafeNetConfig, SafeNetProbabilities, n_parameters
from models.safenet.metrics import macro_f1

PAPER_CLASS_WEIGHTS = (1.0, 4.0, 15.0, 78.0)
INPUT_NAMES = ("features", "patches", "global_patches")


@dataclass
class SafeNetData:
    """A run of consecutive years for the regions of one grid (axis 0 in ``grid.regions`` order).

    features : (R, Y, F) float32, catalog indicators already min-max scaled.
    patches : (R, Y, C, P, P) float32, map patch of each region-year (as ``maps.region_patches``).
    global_patches : (Y, C, P, P) float32, the whole-area patch of each year.
    labels : (R, Y) int, class of the largest magnitude in year ``years[j] + 1``; -1 where unknown.
    years : the Y consecutive calendar years.
    source : what the data came from (for the model card).
    """

    features: np.ndarray
    patches: np.ndarray
    global_patches: np.ndarray
    labels: np.ndarray
    years: list[int]
    source: str = ""

    def __post_init__(self):
        self.features = np.ascontiguousarray(self.features, dtype=np.float32)
        self.patches = np.ascontiguousarray(self.patches, dtype=np.float32)
        self.global_patches = np.ascontiguousarray(self.global_patches, dtype=np.float32)
        self.labels = np.asarray(self.labels, dtype=np.int64)
        self.years = [int(y) for y in self.years]
        r, y = self.labels.shape if self.labels.ndim == 2 else (-1, -1)
        checks = {"features": (self.features, 3), "patches": (self.patches, 5)}
        for name, (a, nd) in checks.items():
            if a.ndim != nd or a.shape[:2] != (r, y):
                raise CatalogError(f"SafeNetData.{name}: shape {a.shape} does not start with labels' (R, Y) = "
                                   f"{self.labels.shape}")
        if self.global_patches.shape != (y,) + self.patches.shape[2:]:
            raise CatalogError(f"SafeNetData.global_patches: shape {self.global_patches.shape}, expected "
                               f"{(y,) + self.patches.shape[2:]}")
        if len(self.years) != y or np.any(np.diff(self.years) != 1):
            raise CatalogError(f"SafeNetData.years: {y} consecutive years expected, got {self.years}")
        if self.patches.shape[3] != self.patches.shape[4]:
            raise CatalogError(f"SafeNetData.patches: square patches expected, got {self.patches.shape[3:]}")
        for name in ("features", "patches", "global_patches"):
            if not np.all(np.isfinite(getattr(self, name))):
                raise CatalogError(f"SafeNetData.{name}: non-finite values")

    @property
    def n_regions(self) -> int:
        return self.labels.shape[0]

    def windows(self, years, n_steps: int) -> np.ndarray:
        """Column indices (n, T) of the steps ``y - T + 1 .. y`` of each sample year ``y``."""
        out = []
        for y in years:
            j = int(y) - self.years[0]
            if j - n_steps + 1 < 0 or j >= len(self.years):
                raise CatalogError(f"sample year {y} needs years {int(y) - n_steps + 1}..{y}; the data hold "
                                   f"{self.years[0]}..{self.years[-1]}")
            out.append(np.arange(j - n_steps + 1, j + 1))
        return np.array(out, dtype=np.int64).reshape(-1, n_steps)


@dataclass(frozen=True)
class TrainSettings:
    epochs: int
    lr: float
    batch: int
    class_weights: tuple[float, ...]
    seed: int
    threads: int


@dataclass
class TrainedSafeNet:
    """A trained network with what the model card needs. ``best_epoch`` is 1-based (0: none kept)."""

    net: SafeNet
    config: SafeNetConfig
    settings: TrainSettings
    train_years: list[int]
    val_years: list[int]
    data_source: str
    seconds: float
    best_epoch: int = 0
    history: list = field(default_factory=list)
    pretrained: dict | None = None      # for a fine-tuned net: what it started from


class _Bar:
    """A one-line text progress bar on stderr (no dependency)."""

    def __init__(self, total: int, label: str, enabled: bool):
        self.total, self.label, self.enabled, self.start = max(total, 1), label, enabled, time.perf_counter()

    def update(self, done: int, text: str = "") -> None:
        if self.enabled:
            k = int(30 * done / self.total)
            sys.stderr.write(f"\r{self.label} [{'#' * k}{'.' * (30 - k)}] {done}/{self.total} "
                             f"{time.perf_counter() - self.start:6.0f} s {text}   ")
            sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")


def balanced_class_weights(labels: np.ndarray, n_classes: int, cap: float = 100.0) -> tuple[float, ...]:
    """n(most common class) / n(class k), capped; an absent class gets the largest present weight."""
    counts = np.bincount(labels[labels >= 0], minlength=n_classes)[:n_classes].astype(float)
    w = np.where(counts > 0, counts.max() / np.maximum(counts, 1), np.nan)
    w = np.minimum(w, cap)
    w = np.where(np.isnan(w), np.nanmax(w) if np.any(counts) else 1.0, w)
    return tuple(round(float(x), 3) for x in w)


def _resolve_weights(class_weights, labels: np.ndarray, n_classes: int) -> tuple[float, ...]:
    if isinstance(class_weights, str):
        if class_weights != "balanced":
            raise ConfigError(f"class_weights: a tuple of {n_classes} numbers or 'balanced', got {class_weights!r}")
        return balanced_class_weights(labels, n_classes)
    w = tuple(float(x) for x in class_weights)
    if len(w) != n_classes or min(w) <= 0:
        raise ConfigError(f"class_weights {w}: {n_classes} positive numbers expected")
    return w


def _logits(net: SafeNet, data: SafeNetData, cols: np.ndarray) -> torch.Tensor:
    """Logits (n, R, K) of the samples whose step columns are ``cols`` (n, T), each patch embedded once."""
    uniq, inv = np.unique(cols, return_inverse=True)
    r, u = data.n_regions, uniq.size
    c, p = data.patches.shape[2], data.patches.shape[3]
    emb = net.embed_patches(torch.from_numpy(data.patches[:, uniq].reshape(r * u, c, p, p))).reshape(r, u, -1)
    g = net.embed_patches(torch.from_numpy(data.global_patches[uniq]))
    inv = torch.from_numpy(inv.reshape(cols.shape))
    feats = torch.from_numpy(data.features[:, cols]).permute(1, 0, 2, 3)      # (n, R, T, F)
    return net.from_embeddings(feats, emb[:, inv].permute(1, 0, 2, 3), g[inv])


def _check_data(config: SafeNetConfig, data: SafeNetData, *, regions: bool = True) -> None:
    got = (data.features.shape[2], data.patches.shape[2], data.patches.shape[3])
    want = (config.n_features, config.channels, config.patch)
    if got != want or (regions and data.n_regions != config.n_regions):
        raise CatalogError(f"data (F, C, P) = {got}, R = {data.n_regions} do not fit the network's "
                           f"{want}, R = {config.n_regions}")
    if data.labels.max(initial=-1) >= config.n_classes:
        raise CatalogError(f"labels up to {data.labels.max()} but the network has {config.n_classes} classes")


def _set_patch_normalisation(net: SafeNet, data: SafeNetData, cols: np.ndarray) -> None:
    """Per-channel mean and spread of the training patches (a flat channel gets spread 1)."""
    used = np.unique(cols)
    x = np.concatenate([data.patches[:, used].reshape(-1, *data.patches.shape[2:]), data.global_patches[used]])
    mean = x.mean(axis=(0, 2, 3))
    std = x.std(axis=(0, 2, 3))
    net.patch_mean.copy_(torch.from_numpy(mean.astype(np.float32)))
    net.patch_std.copy_(torch.from_numpy(np.where(std > 1e-6, std, 1.0).astype(np.float32)))


def _recalibrate_batch_norm(net: SafeNet, data: SafeNetData, cols: np.ndarray, batch: int) -> None:
    """Batch-norm statistics of the final weights (the running averages trail the weights)."""
    norms = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for bn in norms:
        bn.reset_running_stats()
        bn.momentum = None                  # a plain average over the passes below
        bn.train()
    with torch.no_grad():
        for b in range(0, len(cols), batch):
            _logits(net, data, cols[b:b + batch])
    for bn in norms:
        bn.momentum = 0.1
    net.eval()


def _fit(net: SafeNet, data: SafeNetData, settings: TrainSettings, train_years, val_years, progress: bool,
         label: str) -> tuple[list, int]:
    """The training loop shared by train and fine_tune; leaves ``net`` in eval mode with the kept weights."""
    cfg = net.config
    cols = data.windows(train_years, cfg.n_steps)
    if not len(cols):
        raise ConfigError("no training sample years given")
    targets = data.labels[:, cols[:, -1]].T                                      # (n, R)
    loss_fn = torch.nn.CrossEntropyLoss(weight=torch.tensor(settings.class_weights, dtype=torch.float32),
                                        ignore_index=-1)
    opt = torch.optim.Adam(net.parameters(), lr=settings.lr)
    rng = np.random.default_rng(settings.seed)
    per_epoch = -(-len(cols) // settings.batch)
    bar = _Bar(settings.epochs * per_epoch, label, progress)
    history, best, best_epoch, best_state = [], -1.0, 0, None
    for epoch in range(settings.epochs):
        net.train()
        order = rng.permutation(len(cols))
        total, n = 0.0, 0
        for i, b in enumerate(range(0, len(order), settings.batch)):
            sel = np.sort(order[b:b + settings.batch])
            y = torch.from_numpy(targets[sel])
            if not torch.any(y >= 0):
                continue
            opt.zero_grad()
            loss = loss_fn(_logits(net, data, cols[sel]).reshape(-1, cfg.n_classes), y.reshape(-1))
            loss.backward()
            opt.step()
            total += float(loss.detach()) * sel.size
            n += sel.size
            bar.update(epoch * per_epoch + i + 1, f"epoch {epoch + 1} loss {total / max(n, 1):.4f}")
        row = {"epoch": epoch + 1, "loss": round(total / max(n, 1), 5)}
        if val_years:
            prob = predict_probabilities(TrainedSafeNet(net, cfg, settings, [], [], "", 0.0), data, val_years)
            truth = data.labels[:, data.windows(val_years, cfg.n_steps)[:, -1]]
            row["val_macro_f1"] = round(macro_f1(truth, prob.argmax(axis=2)), 5)
            if row["val_macro_f1"] > best:
                best, best_epoch, best_state = row["val_macro_f1"], epoch + 1, copy.deepcopy(net.state_dict())
        history.append(row)
    bar.close()
    if best_state is not None:
        net.load_state_dict(best_state)
    _recalibrate_batch_norm(net, data, cols, settings.batch)
    return history, best_epoch


def train(data: SafeNetData, train_years, *, epochs: int = 30, lr: float = 1e-4, batch: int = 16,
          class_weights=PAPER_CLASS_WEIGHTS, seed: int = 0, val_years=None, n_steps: int = 10,
          n_classes: int = 4, blocks: tuple[int, int] = (3, 4), threads: int = 0,
          progress: bool = True) -> TrainedSafeNet:
    """Train a SafeNet on the samples of ``train_years`` (sample years y: label year y + 1).

    Parameters
    ----------
    class_weights : per-class loss weights (the paper's [1, 4, 15, 78] for 4 classes), or ``"balanced"``
        (n of the most common class / n of each class over the training labels, capped at 100).
    val_years : sample years whose macro F1 picks the epoch kept (all epochs' weights: the last).
    blocks : bottleneck blocks of the two ResNet stages ((3, 4) as the authors; (1, 1) costs ~40 % of it).
    threads : torch threads (0: torch's default).
    """
    torch.manual_seed(seed)
    if threads:
        torch.set_num_threads(threads)
    start = time.perf_counter()
    config = SafeNetConfig(n_regions=data.n_regions, n_steps=n_steps, n_features=data.features.shape[2],
                           channels=data.patches.shape[2], patch=data.patches.shape[3], n_classes=n_classes,
                           blocks=tuple(blocks))
    _check_data(config, data)
    train_years, val_years = [int(y) for y in train_years], [int(y) for y in (val_years or [])]
    cols = data.windows(train_years, n_steps)
    weights = _resolve_weights(class_weights, data.labels[:, cols[:, -1]], n_classes)
    settings = TrainSettings(epochs, lr, batch, weights, seed, threads)
    net = SafeNet(config)
    with torch.no_grad():
        _set_patch_normalisation(net, data, cols)
    history, best_epoch = _fit(net, data, settings, train_years, val_years, progress, "safenet train")
    return TrainedSafeNet(net, config, settings, train_years, val_years, data.source,
                          time.perf_counter() - start, best_epoch, history)


def _resize_positions(position: torch.Tensor, n_regions: int, how: str) -> torch.Tensor:
    """Row 0 (global token) kept; region rows: ``"mean"`` (every region starts from the mean pretrained
    region row: no pretrained region is more like a new one than another), ``"interpolate"`` (linear over
    the region index, meaningful only when both grids order regions alike), or ``"random"``."""
    glob, regions = position[:1], position[1:]
    if how == "mean":
        new = regions.mean(dim=0, keepdim=True).expand(n_regions, -1).clone()
    elif how == "interpolate":
        new = torch.nn.functional.interpolate(regions.T.unsqueeze(0), size=n_regions, mode="linear",
                                              align_corners=True)[0].T
    elif how == "random":
        new = torch.randn(n_regions, position.shape[1]) * 0.02
    else:
        raise ConfigError(f"position {how!r}: 'mean', 'interpolate' or 'random'")
    return torch.cat([glob, new], dim=0)


def fine_tune(trained: TrainedSafeNet, data: SafeNetData, train_years, epochs: int = 20, lr: float = 1e-4, *,
              batch: int = 16, class_weights=None, seed: int | None = None, val_years=None,
              position: str = "mean", progress: bool = True) -> TrainedSafeNet:
    """Continue training a copy of ``trained`` on ``data`` (another area: R may differ, F, C, P, T, K may
    not). With a different R the region position embedding is rebuilt (:func:`_resize_positions`).
    ``class_weights`` None keeps the pretrained ones; the patch normalisation is the pretrained one (the
    ResNet learnt on that scale)."""
    cfg = trained.config
    _check_data(cfg, data, regions=False)
    seed = trained.settings.seed if seed is None else seed
    torch.manual_seed(seed)
    start = time.perf_counter()
    config = SafeNetConfig(**{**asdict(cfg), "n_regions": data.n_regions})
    net = SafeNet(config)
    state = copy.deepcopy(trained.net.state_dict())
    if data.n_regions != cfg.n_regions:
        state["position"] = _resize_positions(state["position"], data.n_regions, position)
    net.load_state_dict(state)
    train_years, val_years = [int(y) for y in train_years], [int(y) for y in (val_years or [])]
    cols = data.windows(train_years, cfg.n_steps)
    weights = _resolve_weights(trained.settings.class_weights if class_weights is None else class_weights,
                               data.labels[:, cols[:, -1]], cfg.n_classes)
    settings = TrainSettings(epochs, lr, batch, weights, seed, trained.settings.threads)
    history, best_epoch = _fit(net, data, settings, train_years, val_years, progress, "safenet fine-tune")
    pretrained = {"data": trained.data_source, "train_years": trained.train_years, "regions": cfg.n_regions,
                  "settings": asdict(trained.settings), "position": position}
    return TrainedSafeNet(net, config, settings, train_years, val_years, data.source,
                          time.perf_counter() - start, best_epoch, history, pretrained)


def predict_probabilities(trained: TrainedSafeNet, data: SafeNetData, years, *, batch: int = 8) -> np.ndarray:
    """Class probabilities (R, n_years, K) forecast for years ``y + 1`` from the sample years ``y``."""
    net = trained.net.eval()
    _check_data(trained.config, data)
    cols = data.windows(list(years), trained.config.n_steps)
    out = []
    with torch.no_grad():
        for b in range(0, len(cols), batch):
            out.append(torch.softmax(_logits(net, data, cols[b:b + batch]), dim=-1).numpy())
    prob = np.concatenate(out) if out else np.zeros((0, data.n_regions, trained.config.n_classes), np.float32)
    return prob.transpose(1, 0, 2)


def export_onnx(trained: TrainedSafeNet, path: str | Path, *, scaler_dict: dict | None = None,
                classes_edges=(5.0, 6.0, 7.0), metrics: dict | None = None, extra_card: dict | None = None) -> dict:
    """Write ``path`` (.onnx: inputs features, patches, global_patches with a dynamic batch dimension;
    output probabilities (batch, R, K)) and ``path`` with ``.card.json``. Returns the card.

    ``scaler_dict`` is the FeatureScaler (``to_dict``) that scaled the features; ``extra_card`` is merged
    into the card's top level, its ``"forecast"`` entries into the card's ``"forecast"`` section (central
    reads ``grid``, ``map_layers``, ``pixels_per_degree``, ``mc`` there; ``seq_len``, ``class_edges``,
    ``patch`` and ``scaler`` are filled in here)."""
    cfg = trained.config
    extra = dict(extra_card or {})
    classes = MagnitudeClasses(tuple(float(e) for e in classes_edges))
    if classes.n != cfg.n_classes:
        raise ConfigError(f"classes_edges {tuple(classes_edges)} give {classes.n} classes; the net has {cfg.n_classes}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    net = trained.net.eval()
    r, t, f, c, p = cfg.n_regions, cfg.n_steps, cfg.n_features, cfg.channels, cfg.patch
    shapes = {"features": ["batch", r, t, f], "patches": ["batch", r, t, c, p, p],
              "global_patches": ["batch", t, c, p, p]}
    example = tuple(torch.zeros(2, *s[1:]) for s in shapes.values())     # batch >= 2: the exporter keeps it dynamic
    with warnings.catch_warnings():
        # the tracer's notes on LSTM size checks and batch size: the graph's batch dimension is dynamic
        # (ONNX parity is tested at batch 1 and 3); every other dimension is fixed by design
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message=".*LSTM.*", category=UserWarning)
        warnings.simplefilter("ignore", DeprecationWarning)     # dynamo=False on purpose, as the classifier
        torch.onnx.export(SafeNetProbabilities(net).eval(), example, str(path), input_names=list(INPUT_NAMES),
                          output_names=["probabilities"], opset_version=17, dynamo=False,
                          dynamic_axes={**{n: {0: "batch"} for n in INPUT_NAMES}, "probabilities": {0: "batch"}})
    card = {
        "model": "das-eew SafeNet yearly forecast (Hu et al., Sci. Rep. 2025 architecture: map ResNet + catalog "
                 "MLP, LSTM over years, transformer across regions with a global token)",
        "architecture": {**asdict(cfg), "parameters": n_parameters(net)},
        "classes": {"edges": list(classes.edges), "names": classes.names,
                    "meaning": "class of the largest magnitude in a region in year y + 1 (no event: class 0)"},
        "inputs": [
            {"name": "features", "shape": shapes["features"], "dtype": "float32",
             "meaning": "catalog indicators of each region for the years y - T + 1 .. y (oldest first)",
             "normalisation": "min-max per column with feature_scaler (FeatureScaler.from_dict) before the model"},
            {"name": "patches", "shape": shapes["patches"], "dtype": "float32",
             "meaning": "map patch of each region-year (static layers, then the density channel)",
             "normalisation": "none before the model: standardised inside it (patch_normalisation)"},
            {"name": "global_patches", "shape": shapes["global_patches"], "dtype": "float32",
             "meaning": "whole-area map patch of each year", "normalisation": "as patches"}],
        "output": {"name": "probabilities", "shape": ["batch", r, cfg.n_classes]},
        "regions": {"n": r, "order": "grid.regions (active cells, row-major from the south-west)"},
        "patch_normalisation": {"mean": net.patch_mean.tolist(), "std": net.patch_std.tolist()},
        "feature_scaler": scaler_dict,
        "training": {**asdict(trained.settings), "data": trained.data_source, "train_years": trained.train_years,
                     "val_years": trained.val_years, "best_epoch": trained.best_epoch,
                     "seconds": round(trained.seconds, 1), "history": trained.history,
                     "pretrained": trained.pretrained},
        "metrics": metrics or {},
        **extra,
        # what central's forecast reads; the caller adds grid, map_layers, pixels_per_degree, mc
        "forecast": {"seq_len": t, "class_edges": list(classes.edges), "patch": p, "scaler": scaler_dict,
                     **extra.get("forecast", {})},
    }
    path.with_suffix(".card.json").write_text(json.dumps(card, indent=1))
    return card
