"""Transfer to a new region: pretrain SafeNet on one region's whole history, fine-tune it on another
region with only ``years`` target years of data, and compare with the same network trained from
scratch on those years and with the pretrained network used as it is.

The new region's test years are the evaluation's (its last ``test_years`` targets); the ``years``
targets just before them are all it has for training: the last third of them chooses the epoch and
tunes the decision weights (as in :mod:`models.safenet.evaluate`), the rest trains. Features of both
regions are scaled with the source region's scaler (the network learnt on that scale).
"""
from __future__ import annotations

from dataclasses import replace


from models.safenet.dataset import ForecastDataset
from models.safenet.evaluate import (
    EvaluationConfig,
    labels_for,
    safenet_data,
    split_targets,
    train_safenet,
)
from models.safenet.metrics import class_scores


def _scores(trained, data, ds: ForecastDataset, val_t: list[int], test_t: list[int]) -> dict:
    from models.safenet.baselines import decide, tune_class_weights
    from models.safenet.train import predict_probabilities
    val_p = predict_probabilities(trained, data, [t - 1 for t in val_t])
    weights = tune_class_weights(val_p.reshape(-1, ds.classes.n), labels_for(ds, val_t).ravel())
    test_p = predict_probabilities(trained, data, [t - 1 for t in test_t])
    classes = decide(test_p.reshape(-1, ds.classes.n), weights).reshape(test_p.shape[:2])
    s = class_scores(labels_for(ds, test_t), classes, ds.classes.n).as_dict(ds.classes.names)
    return {"macro_f1": s["macro_f1"], "f1_m5": s["f1_m5"], "recall": s["recall"]}


def transfer_experiment(source: ForecastDataset, target: ForecastDataset, cfg: EvaluationConfig, *,
                        years: int = 10, progress: bool = True, log=print) -> dict:
    """Scores on the target region's test years of: ``pretrained`` (source model, no fine-tuning),
    ``fine_tuned`` and ``scratch`` (trained on the ``years`` target years only)."""
    from models.safenet.train import fine_tune
    _, _, test_t = split_targets(target, cfg)
    src_train, src_val, _ = split_targets(source, replace(cfg, test_years=1))
    pretrained, scaler, _ = train_safenet(source, cfg, src_train, src_val, progress=progress)
    data_b = safenet_data(target, scaler)
    all_t = [t for t in target.target_years() if t < test_t[0] and t - cfg.seq_len >= target.years[0]]
    few = all_t[-years:]
    n_val = max(1, len(few) // 3)
    fit_t, val_t = few[:-n_val], few[-n_val:]
    out = {"source": source.name, "target": target.name, "years": len(few), "fine_tune_years": fit_t,
           "val_years": val_t, "test_years": test_t, "methods": {}}
    out["methods"]["pretrained"] = _scores(pretrained, data_b, target, val_t, test_t)
    tuned = fine_tune(pretrained, data_b, [t - 1 for t in fit_t], epochs=cfg.epochs, lr=cfg.lr,
                      val_years=[t - 1 for t in val_t], progress=progress)
    out["methods"]["fine_tuned"] = _scores(tuned, data_b, target, val_t, test_t)
    scratch, _, data_s = train_safenet(target, cfg, fit_t, val_t, progress=progress)
    out["methods"]["scratch"] = _scores(scratch, data_s, target, val_t, test_t)
    for k, v in out["methods"].items():
        log(f"transfer {k}: macro F1 {v['macro_f1']}, F1 {v['f1_m5']}")
    return out
