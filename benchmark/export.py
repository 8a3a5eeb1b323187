"""Every complete run's numbers as tidy CSV tables, for analyses of one's own (pandas, R, a
spreadsheet) rather than the leaderboard's aggregates:

    python -m benchmark export results/runs/mixed4 --out exported

    runs.csv    one row per complete run: its setting, strategy and config label, seed, order,
                summary metrics and costs (the leaderboard's per-run columns, before aggregation),
                and its file, relative to the folder read
    scores.csv  one row per score in a run's R (test) and R_val (validation): the run, the split,
                the phase after which the task was scored, the task, its place in the order, the
                phase it was learned in, the score, and each metric behind it (`metric_accuracy`,
                `metric_f1`, ..., `metric_score_se` where recorded)

Nothing is written into the folder read unless --out names a place there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd

from benchmark.runs import OBJECTS, LoadedRuns, complete_runs

SCORE_KEYS = ["run_id", "stream", "scenario", "model", "strategy", "config", "seed", "order", "split",
              "phase", "phase_tasks", "task", "task_position", "learned_in_phase", "phases_since_learned", "score"]


def score_rows(record: dict, config: str) -> Iterator[dict]:
    """One row per score of `record`'s R (split "test") and R_val (split "validation")."""
    run, tasks, learned = record["run"], record["tasks"], record["learned_in_phase"]
    for key, split in (("R", "test"), ("R_val", "validation")):
        rows, details = record.get(key) or [], record.get(f"{key}_metrics") or []
        for p, row in enumerate(rows):
            for j, score in enumerate(row):
                if score is None:
                    continue
                detail = details[p][j] if p < len(details) and j < len(details[p]) and details[p][j] else {}
                yield {
                    "run_id": record["run_id"], "stream": run.get("stream"), "scenario": run.get("scenario"),
                    "model": run.get("model"), "strategy": run["strategy"], "config": config,
                    "seed": run.get("seed"), "order": run.get("order"), "split": split, "phase": p,
                    "phase_tasks": "+".join(tasks[i] for i in record["plan"][p]), "task": tasks[j],
                    "task_position": j, "learned_in_phase": learned[j], "phases_since_learned": p - learned[j],
                    "score": score, **{f"metric_{k}": v for k, v in detail.items() if k != "score"},
                }


def export(folder: str | Path, warn: Callable[[str], None] | None = None
           ) -> tuple[pd.DataFrame, pd.DataFrame, LoadedRuns]:
    """The runs table and the scores table of the complete runs under `folder`."""
    loaded = complete_runs(folder, warn)
    df = loaded.frame
    runs = df.drop(columns=OBJECTS).assign(
        file=[Path(p).resolve().relative_to(Path(folder).resolve()).as_posix() for p in df["path"]])
    scores = [row for record, config in zip(df["record"], df["config"]) for row in score_rows(record, config)]
    extra = sorted({k for row in scores for k in row} - set(SCORE_KEYS))
    return runs, pd.DataFrame(scores, columns=[*SCORE_KEYS, *extra]), loaded
