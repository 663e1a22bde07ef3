"""A shipped SafeNet at run time: onnxruntime only, no PyTorch (what central runs once a year).

The ``.onnx`` file (from :func:`models.safenet.train.export_onnx`) comes with its ``.card.json``: the
classes, the input shapes, the feature scaler and the grid the model was trained for. A forecast takes the
last T years of one area: ``probabilities(features (R, T, F), patches (R, T, C, P, P), global_patches
(T, C, P, P)) -> (R, K)``, the class probabilities of the largest magnitude in each region next year.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from models.safenet.catalog import CatalogError

INPUT_NAMES = ("features", "patches", "global_patches")


class SafeNetSession:
    """One exported SafeNet and its model card.

    Attributes
    ----------
    card : the model card (dict).
    n_regions, n_steps, n_features, channels, patch, n_classes : R, T, F, C, P, K.
    class_names, class_edges : the magnitude classes (e.g. ``["M<5", "5-6", "6-7", "M>=7"]``, (5, 6, 7)).
    scaler : the FeatureScaler as a dict (``FeatureScaler.from_dict``) that features must be scaled with.
    """

    def __init__(self, path: str | Path, *, threads: int = 1):
        import onnxruntime as ort
        self.path = Path(path)
        card = self.path.with_suffix(".card.json")
        if not self.path.is_file():
            raise CatalogError(f"no SafeNet model at {self.path}")
        if not card.is_file():
            raise CatalogError(f"{self.path}: its model card {card.name} is missing")
        try:
            self.card = json.loads(card.read_text())
            arch = self.card["architecture"]
            self.n_regions, self.n_steps, self.n_features, self.channels, self.patch, self.n_classes = (
                int(arch[k]) for k in ("n_regions", "n_steps", "n_features", "channels", "patch", "n_classes"))
            self.class_names = list(self.card["classes"]["names"])
            self.class_edges = tuple(float(e) for e in self.card["classes"]["edges"])
        except (ValueError, KeyError, TypeError) as err:
            raise CatalogError(f"{card}: not a SafeNet model card ({type(err).__name__}: {err})") from None
        self.scaler = self.card.get("feature_scaler")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        except Exception as err:    # onnxruntime raises its own exception types for unreadable files
            raise CatalogError(f"{self.path}: not a readable ONNX model ({err})") from None
        # the graph is the authority on shapes; the card must agree with it
        self.shapes = {"features": (self.n_regions, self.n_steps, self.n_features),
                       "patches": (self.n_regions, self.n_steps, self.channels, self.patch, self.patch),
                       "global_patches": (self.n_steps, self.channels, self.patch, self.patch)}
        graph = {i.name: tuple(i.shape[1:]) for i in self.session.get_inputs()}
        if set(graph) != set(INPUT_NAMES) or any(graph[n] != self.shapes[n] for n in INPUT_NAMES):
            raise CatalogError(f"{self.path}: graph inputs {graph} disagree with the card's {self.shapes}")
        if len(self.class_names) != self.n_classes:
            raise CatalogError(f"{card}: {len(self.class_names)} class names for {self.n_classes} classes")

    def probabilities(self, features: np.ndarray, patches: np.ndarray, global_patches: np.ndarray) -> np.ndarray:
        """Class probabilities (R, K) for the year after the last of the T steps.

        Parameters
        ----------
        features : (R, T, F) catalog indicators, already scaled with :attr:`scaler`, oldest year first.
        patches : (R, T, C, P, P) map patches of each region-year.
        global_patches : (T, C, P, P) whole-area map patches.
        """
        inputs = {}
        for name, value in zip(INPUT_NAMES, (features, patches, global_patches)):
            a = np.asarray(value, dtype=np.float32)
            if a.shape != self.shapes[name]:
                raise CatalogError(f"{self.path.name}: {name} must have shape {self.shapes[name]} (R, T, ...), "
                                   f"got {a.shape}")
            if not np.all(np.isfinite(a)):
                raise CatalogError(f"{self.path.name}: {name} holds non-finite values")
            inputs[name] = np.ascontiguousarray(a[None])
        return self.session.run(["probabilities"], inputs)[0][0]
