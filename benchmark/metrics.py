"""Continual-learning metrics: pure functions of the score matrix R.

R[i][j] is the score on task j after training phase i (NaN where task j was not evaluated).
`learned[j]` is the phase that trained task j; in a sequential run, learned[j] == j and R is
square. Joint training has one phase (one row); `mtl-then-add` trains several tasks in phase 0.
Averages over an empty set are None (e.g. forgetting of a one-phase run). docs/metrics.md works
an example by hand.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Matrix = Sequence[Sequence[float | None]]


def as_array(R: Matrix) -> np.ndarray:
    return np.array([[np.nan if v is None else v for v in row] for row in R], dtype=float)


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def average_score(R: Matrix, learned: Sequence[int], phase: int = -1) -> float | None:
    """Mean score after `phase` over the tasks trained up to and including it."""
    A = as_array(R)
    p = phase % len(A)
    return _mean([A[p, j] for j, lj in enumerate(learned) if lj <= p])


def average_curve(R: Matrix, learned: Sequence[int]) -> list[float | None]:
    """Average score over the seen tasks after each phase."""
    return [average_score(R, learned, p) for p in range(len(R))]


def forgetting(R: Matrix, learned: Sequence[int]) -> float | None:
    """Chaudhry et al. (2018): mean over tasks learned before the last phase of
    (best score in any phase from the one that learned it to the one before last) - final score."""
    A = as_array(R)
    last = len(A) - 1
    drops = [
        np.nanmax(A[learned[j] : last, j]) - A[last, j]
        for j in range(A.shape[1])
        if learned[j] < last
    ]
    return _mean(drops)


def forgetting_first_last(R: Matrix, learned: Sequence[int]) -> float | None:
    """Avalanche's forgetting: mean over tasks learned before the last phase of (score right after
    the phase that learned it - final score). It equals -BWT. It differs from Chaudhry's
    `forgetting` when a task's score rises after it was learned and falls later: Chaudhry's takes
    the best earlier score, this one the score right after learning."""
    A = as_array(R)
    last = len(A) - 1
    return _mean([A[learned[j], j] - A[last, j] for j in range(A.shape[1]) if learned[j] < last])


def backward_transfer(R: Matrix, learned: Sequence[int]) -> float | None:
    """Lopez-Paz & Ranzato (2017): mean of (final score - score right after learning), over tasks
    learned before the last phase. Negative values are forgetting."""
    A = as_array(R)
    last = len(A) - 1
    return _mean([A[last, j] - A[learned[j], j] for j in range(A.shape[1]) if learned[j] < last])


def forward_transfer(R: Matrix, learned: Sequence[int], b: Sequence[float | None]) -> float | None:
    """Lopez-Paz & Ranzato (2017): mean of (score just before learning task j - score of the
    untrained model b[j]), over tasks not learned in the first phase. Needs unseen tasks scored."""
    A = as_array(R)
    vals = [
        A[learned[j] - 1, j] - b[j]
        for j in range(A.shape[1])
        if 0 < learned[j] <= len(A) and b[j] is not None
    ]
    vals = [v for v in vals if not np.isnan(v)]
    return _mean(vals)


def learning_accuracy(R: Matrix, learned: Sequence[int]) -> float | None:
    """Mean score of each task right after the phase that learned it (plasticity)."""
    A = as_array(R)
    return _mean([A[learned[j], j] for j in range(A.shape[1])])


def summarize(R: Matrix, learned: Sequence[int], b: Sequence[float | None] | None = None) -> dict:
    """All summary metrics of a (possibly partial) run: R may have fewer rows than phases."""
    if not len(R):
        return {}
    done = len(R) - 1
    cols = [j for j, lj in enumerate(learned) if lj <= done]  # tasks not yet learned stay out
    sub_R = [[row[j] for j in cols] for row in R]
    sub_learned = [learned[j] for j in cols]
    out = {
        "final_average": average_score(sub_R, sub_learned),
        "average_curve": average_curve(sub_R, sub_learned),
        "forgetting": forgetting(sub_R, sub_learned),
        "forgetting_first_last": forgetting_first_last(sub_R, sub_learned),
        "bwt": backward_transfer(sub_R, sub_learned),
        "learning_accuracy": learning_accuracy(sub_R, sub_learned),
        "fwt": None,
    }
    if b is not None:
        out["fwt"] = forward_transfer(R, learned, b)
    return out


def metric_average(R_metrics: Sequence[Sequence[dict | None]], learned: Sequence[int],
                   metric: str = "accuracy") -> float | None:
    """Final mean of one metric over the learned tasks that report it: e.g. an accuracy-only
    average for streams that mix accuracy with correlations (STS-B has no accuracy)."""
    if not len(R_metrics):
        return None
    last = len(R_metrics) - 1
    return _mean([m[metric] for j, m in enumerate(R_metrics[last])
                  if learned[j] <= last and m is not None and m.get(metric) is not None])


def normalised_score(score: float | None, majority: float | None, single: float | None) -> float | None:
    """(score - majority) / (single - majority): 0 at the constant predictor, 1 at single-task
    fine-tuning. None when a reference is missing or the single-task score does not exceed the
    majority score (the task is not learned, and the ratio would mean nothing)."""
    if score is None or majority is None or single is None or not single > majority:
        return None
    return (score - majority) / (single - majority)


def is_learned(single: float, single_se: float, majority: float, z: float = 2.0) -> bool:
    """Single-task fine-tuning learned the task: its score exceeds the majority score by more than
    `z` standard errors of the single-task score."""
    return single - majority > z * single_se


def normalised_average(final_row: Sequence[float | None], reference: Sequence[dict | None],
                       split: str = "test") -> float | None:
    """Mean normalised final score over the tasks that have both references and are learned.
    `reference[j]` holds {"majority": {split: x}, "single_task": {split: y}} and, when known,
    {"learned": {split: bool}} (see benchmark/reference.py): a task flagged not learned is left
    out, since its normalised score would divide noise by noise."""
    values = []
    for score, ref in zip(final_row, reference):
        if ref is None or not ref.get("single_task") or (ref.get("learned") or {}).get(split) is False:
            continue
        v = normalised_score(score, (ref.get("majority") or {}).get(split), ref["single_task"].get(split))
        if v is not None:
            values.append(v)
    return _mean(values)


def first_phase_split(R: Matrix, learned: Sequence[int]) -> dict:
    """mtl-then-add: the tasks trained together in phase 0 versus the tasks added one per phase.

    - `first_forgetting`: `forgetting` restricted to the phase-0 tasks;
    - `first_final_average`: their mean score after the last phase so far;
    - `added_final_average`: the added tasks' mean score after the last phase so far;
    - `added_learning_accuracy`: the added tasks' mean score right after learning each.
    Tasks not learned yet (a partial run) are left out; a mean over no task is None.
    """
    if not len(R):
        return {}
    A = as_array(R)
    last = len(A) - 1
    first = [j for j, lj in enumerate(learned) if lj == 0]
    added = [j for j, lj in enumerate(learned) if 0 < lj <= last]
    return {
        "first_forgetting": _mean([np.nanmax(A[:last, j]) - A[last, j] for j in first]) if last else None,
        "first_final_average": _mean([A[last, j] for j in first]),
        "added_final_average": _mean([A[last, j] for j in added]),
        "added_learning_accuracy": _mean([A[learned[j], j] for j in added]),
    }
