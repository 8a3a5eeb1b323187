"""Scoring a task's validation or test split with its GLUE metric (scikit-learn / scipy
implementations), the standard error of that score, and the constant-prediction reference."""

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
    # F1 averaged over the classes that occur in labels or predictions (SuperGLUE's CB score)
    "f1_macro": lambda y, p: float(f1_score(y, p, average="macro", zero_division=0.0)),
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


BOOTSTRAP_SAMPLES = 200
BOOTSTRAP_SEED = 0


def _corr_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a - a.mean(1, keepdims=True)
    b = b - b.mean(1, keepdims=True)
    den = np.sqrt((a * a).sum(1) * (b * b).sum(1))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (a * b).sum(1) / den
    return np.where(den > 0, r, 0.0)  # constant predictions: no correlation, as `_corr`


def _metric_rows(metric: str, y: np.ndarray, p: np.ndarray, num_labels: int) -> np.ndarray:
    """`metric` of every row of (resamples, n) label and prediction matrices at once; the same
    values as METRICS row by row (tests/test_reference.py checks this), ~100x faster."""
    if metric == "accuracy":
        return (y == p).mean(1)
    if metric == "f1":
        tp = ((p == 1) & (y == 1)).sum(1)
        wrong = (p != y) & ((p == 1) | (y == 1))
        den = 2 * tp + wrong.sum(1)
        return np.where(den > 0, 2 * tp / np.maximum(den, 1), 0.0)
    if metric == "f1_macro":  # per class F1, averaged over the classes present in the row
        classes = np.union1d(np.unique(y), np.unique(p))
        f1s, present = [], []
        for k in classes:
            tp = ((p == k) & (y == k)).sum(1)
            den = (p == k).sum(1) + (y == k).sum(1)
            f1s.append(np.where(den > 0, 2 * tp / np.maximum(den, 1), 0.0))
            present.append(den > 0)
        return (np.sum(f1s, 0) / np.maximum(np.sum(present, 0), 1)).astype(np.float64)
    if metric == "mcc":  # the multiclass form of sklearn's matthews_corrcoef
        n = y.shape[1]
        classes = range(min(int(min(y.min(), p.min())), 0), max(num_labels, int(max(y.max(), p.max())) + 1))
        t = np.stack([(y == k).sum(1) for k in classes], 1).astype(np.float64)
        q = np.stack([(p == k).sum(1) for k in classes], 1).astype(np.float64)
        c = (y == p).sum(1).astype(np.float64)
        cov = c * n - (t * q).sum(1)
        den = np.sqrt((n * n - (q * q).sum(1)) * (n * n - (t * t).sum(1)))
        return np.where(den > 0, cov / np.where(den > 0, den, 1.0), 0.0)
    if metric == "pearson":
        return _corr_rows(y, p)
    if metric == "spearman":
        from scipy.stats import rankdata

        return _corr_rows(rankdata(y, axis=1), rankdata(p, axis=1))
    raise KeyError(metric)


def bootstrap_se(spec: TaskSpec, preds: np.ndarray, labels: np.ndarray,
                 samples: int = BOOTSTRAP_SAMPLES) -> float:
    """Standard error of the task's score over its evaluation examples: the standard deviation of
    the score over `samples` resamples of the examples with replacement (fixed seed). One method
    for every metric (accuracy, F1, MCC, correlations), where closed forms differ per metric."""
    n = len(labels)
    if n < 2:
        return 0.0
    idx = np.random.default_rng(BOOTSTRAP_SEED).integers(0, n, (samples, n))
    y, p = labels[idx], preds[idx]
    if not spec.regression:
        y, p = y.astype(np.int64), p.astype(np.int64)
    scores = np.mean([_metric_rows(m, y, p, spec.num_labels) for m in spec.main], axis=0)
    return float(np.std(scores, ddof=1))


def majority_prediction(task: TaskData) -> float:
    """The constant prediction of a model that ignores its input: the most frequent class of the
    training sample (the lowest class id on a tie), or for a regression the mean training target
    (which every correlation scores 0)."""
    y = task.train.labels
    if task.spec.regression:
        return float(np.mean(y))
    counts = np.bincount(y.astype(np.int64), minlength=task.spec.num_labels)
    return float(np.argmax(counts))


def majority_score(task: TaskData, split: str = "test") -> dict[str, float]:
    """The task's metrics for the constant `majority_prediction` on split `split`."""
    labels = task.split(split).labels
    return score_predictions(task.spec, np.full(len(labels), majority_prediction(task), dtype=np.float32), labels)


@torch.inference_mode()
def predict(model, task: TaskData, ctx, split: str = "test") -> np.ndarray:
    """Predictions on one of the task's splits, in the split's order. Several processes: each
    predicts every world-th batch, and the predictions are summed (the others' places hold 0)."""
    model.eval()
    ex = task.split(split)
    parallel = ctx.parallel
    preds = np.zeros(len(ex), dtype=np.float32)
    batches = parallel.mine(eval_order(ex.lengths, ctx.eval_batch_size))
    for idx in ctx.progress(batches, f"eval {task.name} ({split})"):
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
    if parallel.active:
        preds = parallel.reduce_sum(torch.from_numpy(preds).to(ctx.device)).cpu().numpy()
    return preds


def evaluate(model, task: TaskData, ctx, split: str = "test") -> dict[str, float]:
    """The task's metrics on `split`, with `score_se`: the bootstrap standard error of `score`."""
    predictor = getattr(ctx, "predictor", None) or predict  # a strategy's own (RunContext.predictor)
    preds, labels = predictor(model, task, ctx, split), task.split(split).labels
    out = score_predictions(task.spec, preds, labels)
    out["score_se"] = bootstrap_se(task.spec, preds, labels)
    return out
