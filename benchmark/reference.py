"""Reference points of each task, so that a score says how much of the task a strategy kept:

- `majority`: the score of the constant prediction (the most frequent training class, or the
  mean target) on the same examples: what a model that learned nothing scores;
- `single_task`: the score of single-task fine-tuning (the `independent` strategy: a fresh copy
  of the backbone per task) at the same settings: what the backbone can learn of the task alone.

From them: the normalised score (s - majority) / (single - majority), and the flag "not learned at
these settings" when single-task fine-tuning is not above the majority score by more than two
standard errors (`metrics.is_learned`). Single-task scores come from an `independent` run in the
same output folder whose settings match (`find_single_task`); the run record names it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from benchmark import metrics
from benchmark.data import TaskData
from benchmark.evaluate import majority_score

INDEPENDENT = "independent"
SPLITS = ("test", "validation")
# settings that change a task's single-task score; the task's own caps are compared too. Not the
# scenario: a model trained on one task alone predicts among that task's classes whether or not a
# task id is given (no other task's classes exist for it), so the `independent` run (which needs a
# task id to pick each task's copy) is the single-task reference of class-incremental runs too.
MATCH_KEYS = ("model", "seed", "epochs", "steps", "batch_size", "max_length", "pooling", "precision",
              "val_size")


def majority_reference(tasks: Sequence[TaskData]) -> list[dict]:
    """Per task: the majority-class score on each split the run has; no single-task score yet."""
    out = []
    for t in tasks:
        majority = {s: majority_score(t, s)["score"] for s in SPLITS if getattr(t, s) is not None}
        out.append({"majority": majority, "single_task": None, "single_task_run": None, "learned": None})
    return out


def _cap(run: dict, kind: str, task: str):
    return run.get(f"max_{kind}_by_task", {}).get(task, run.get(f"max_{kind}"))


def _matches(run: dict, other: dict, task: str) -> bool:
    return (all(run.get(k) == other.get(k) for k in MATCH_KEYS)
            and all(_cap(run, k, task) == _cap(other, k, task) for k in ("train", "eval")))


def single_task_scores(record: dict) -> dict[str, dict]:
    """task -> {split: score, split_se: standard error} from an `independent` run's record: each
    task's score after the last phase (its own backbone copy never changes after its phase)."""
    out: dict[str, dict] = {}
    learned = record.get("learned_in_phase") or list(range(len(record["tasks"])))
    done = len(record.get("phases", [])) - 1
    for split, key in (("test", "R"), ("validation", "R_val")):
        rows = record.get(key) or []
        if not rows:
            continue
        metric_rows = record.get(f"{key}_metrics") or []
        for j, task in enumerate(record["tasks"]):
            score = rows[-1][j] if j < len(rows[-1]) and j < len(learned) and learned[j] <= done else None
            if score is None:
                continue
            m = metric_rows[-1][j] if metric_rows and j < len(metric_rows[-1]) else None
            out.setdefault(task, {})[split] = score
            out[task][f"{split}_se"] = (m or {}).get("score_se") or 0.0
    return out


def match_single_task(record: dict, candidates) -> dict[str, dict]:
    """Single-task scores for the tasks of `record` from the complete `independent` records among
    `candidates` whose settings match (`MATCH_KEYS` and the task's caps); the first match per task
    wins. A candidate that is not a readable run record of this version is no reference."""
    found: dict[str, dict] = {}
    for other in candidates:
        try:
            if other.get("run", {}).get("strategy") != INDEPENDENT or other.get("status") != "complete":
                continue
            scores = single_task_scores(other)
        except (KeyError, TypeError, IndexError, AttributeError):
            continue
        for task, value in scores.items():
            if task in record["tasks"] and task not in found and _matches(record["run"], other["run"], task):
                found[task] = value | {"run_id": other["run_id"]}
    return found


def find_single_task(folder: Path, record: dict) -> dict[str, dict]:
    """Single-task scores for the tasks of `record` from matching `independent` runs in `folder`
    (one level, the way `run` writes them), read in file-name order; an `independent` run is its
    own reference."""
    if record["run"]["strategy"] == INDEPENDENT:
        return {t: v | {"run_id": record["run_id"]} for t, v in single_task_scores(record).items()}

    def records():
        for path in sorted(Path(folder).glob("*.json")):
            try:
                yield json.loads(path.read_text())
            except (OSError, ValueError):
                continue  # unreadable or not JSON: no reference

    return match_single_task(record, records())


def attach(record: dict, singles: dict[str, dict]) -> None:
    """Fill each task's single-task score, its learned flags, and the normalised averages."""
    for task, ref in zip(record["tasks"], record["reference"]):
        single = singles.get(task)
        if single is None:
            continue
        ref["single_task"] = {s: single[s] for s in SPLITS if s in single}
        ref["single_task_se"] = {s: single[f"{s}_se"] for s in SPLITS if s in single}
        ref["single_task_run"] = single["run_id"]
        majority = ref.get("majority") or {}
        ref["learned"] = {s: metrics.is_learned(single[s], single[f"{s}_se"], majority[s])
                          for s in SPLITS if s in single and majority.get(s) is not None}
    for key, R, split in (("metrics", "R", "test"), ("metrics_val", "R_val", "validation")):
        if record.get(R):
            last = _final_row(record[R], record["learned_in_phase"])
            record[key]["normalised_average"] = metrics.normalised_average(last, record["reference"], split)


def _final_row(R: list, learned: list[int]) -> list:
    done = len(R) - 1
    return [R[-1][j] if learned[j] <= done else None for j in range(len(learned))]


def not_learned(record: dict, split: str = "test") -> list[str]:
    """Tasks whose single-task score is not clearly above their majority score."""
    return [t for t, ref in zip(record["tasks"], record.get("reference") or [])
            if ref and ref.get("learned") and ref["learned"].get(split) is False]
