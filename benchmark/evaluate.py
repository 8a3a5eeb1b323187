"""Scoring a task's test split with its GLUE metric (scikit-learn / scipy implementations)."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import torch
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

from benchmark.data import TaskData, collate, eval_order
from benchmark.tasks import TaskSpec


def _corr(fn: Callable) -> Callable[[np.ndarray, np.ndarray], float]:
    def score(y: np.ndarray, p: np.ndarray) -> float:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # constant predictions: correlation undefined
            value = float(fn(y, p)[0])
        return 0.0 if np.isnan(value) else value  # scored as no correlation

    return score


METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "accuracy": lambda y, p: float(accuracy_score(y, p)),
    # F1 of the positive class, as GLUE; labels=[1] keeps it defined when a shared output
    # predicts a class of another task (-1)
    "f1": lambda y, p: float(f1_score(y, p, labels=[1], average="micro", zero_division=0.0)),
    "mcc": lambda y, p: float(matthews_corrcoef(y, p)),
    "pearson": _corr(pearsonr),
    "spearman": _corr(spearmanr),
}


def score_predictions(spec: TaskSpec, preds: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Each of the task's metrics, plus `score`: the mean of its main metrics."""
    if not spec.regression:
        labels = labels.astype(np.int64)
        preds = preds.astype(np.int64)
    out = {m: METRICS[m](labels, preds) for m in spec.metrics}
    out["score"] = float(np.mean([out[m] for m in spec.main]))
    return out


@torch.inference_mode()
def predict(model, task: TaskData, ctx) -> np.ndarray:
    """Predictions on the task's test split, in the split's order."""
    model.eval()
    ex = task.test
    preds = np.empty(len(ex), dtype=np.float32)
    for idx in ctx.progress(eval_order(ex.lengths, ctx.eval_batch_size), f"eval {task.name}"):
        if model.shared_output:
            # no task id at test time: the batch carries none, the prediction is over every
            # class seen so far, and a class of another task counts as wrong (-1)
            batch = collate([(-1, ex, idx)], ctx.pad_id).to(ctx.device)
            with ctx.autocast():
                scores = model.shared_logits(model.encode(batch)).cpu()
            local = scores.argmax(-1).numpy() - model.offsets[task.index]
            preds[idx] = np.where((local >= 0) & (local < task.spec.num_labels), local, -1)
            continue
        batch = collate([(task, ex, idx)], ctx.pad_id).to(ctx.device)
        with ctx.autocast():
            ((_, _, out),) = model.outputs(batch)
        out = out.float().cpu()
        preds[idx] = out.numpy() if task.spec.regression else out.argmax(-1).numpy()
    return preds


def evaluate(model, task: TaskData, ctx) -> dict[str, float]:
    return score_predictions(task.spec, predict(model, task, ctx), task.test.labels)
