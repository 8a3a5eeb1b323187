"""The leaderboard: every complete run under a folder, grouped by what was compared, with the mean
and standard deviation over seeds and task orders of each metric and cost.

    python -m benchmark leaderboard results/runs/glue-small   # table; CSV in ./leaderboard.csv
    python -m benchmark leaderboard results/runs/glue-small --output results/leaderboard.csv

Nothing is written into the folder read unless --output names a file there.

A group is one (stream, scenario, task set, model, training protocol, strategy, strategy config):
runs that differ only in seed or task order are aggregated, anything else stays apart, so runs of
several streams and models can share a folder. results/README.md explains every column.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from benchmark.config import model_name
from benchmark.formatting import (
    count,
    interval_half_width,
    markdown_table,
    mean_std,
    missing,
    number,
    significant,
)
from benchmark.runs import METRICS, VALUES, LoadedRuns, complete_runs, setting_keys


def aggregate(df: pd.DataFrame) -> pd.DataFrame:
    """One row per group: mean and sample standard deviation (ddof 1; empty for one run) of
    every metric and cost over its runs, for the scores the half-width of the mean's 95%
    confidence interval too (Student's t; empty below two runs), and how many runs, seeds and
    orders it holds."""
    settings = setting_keys(df)
    grouped = df.groupby([*settings, "strategy", "strategy_config"], dropna=False, sort=False)
    stats = grouped[VALUES].agg(["mean", "std"])
    stats.columns = [f"{col}_{stat}" for col, stat in stats.columns]
    ci = grouped[METRICS].agg(lambda s: interval_half_width(s, "ci95"))
    stats = stats.join(ci.rename(columns=lambda col: f"{col}_ci95"))
    counts = grouped.agg(
        config=("config", "first"),
        n_runs=("run_id", "size"),
        n_seeds=("seed", "nunique"),
        n_orders=("task_order", "nunique"),
        seeds=("seed", lambda s: ",".join(map(str, sorted(set(s))))),
        backbone_params=("backbone_params", "first"),
        memory_tokens_estimated=("memory_tokens_estimated", "any"),
        # tasks whose single-task reference is not above the majority score in some run
        not_learned=("not_learned", lambda s: ",".join(sorted({t for v in s for t in str(v).split(",") if t}))),
    )
    board = counts.join(stats).reset_index()
    board = board.sort_values(
        [*settings, "final_average_mean"], ascending=[True] * len(settings) + [False],
        na_position="last", kind="stable",
    )
    front = [*settings, "strategy", "config", "strategy_config", "n_runs", "n_seeds", "n_orders",
             "seeds", "backbone_params", "not_learned", "memory_tokens_estimated"]
    values = [f"{v}_{s}" for v in VALUES for s in (("mean", "std", "ci95") if v in METRICS else ("mean", "std"))]
    return board[front + values].reset_index(drop=True)


def leaderboard(folder: str | Path, warn: Callable[[str], None] | None = None
                ) -> tuple[pd.DataFrame, LoadedRuns]:
    loaded = complete_runs(folder, warn)
    return aggregate(loaded.frame), loaded


# -- display --------------------------------------------------------------------------------------
def _plain(v: object) -> str:
    if missing(v):
        return "-"
    return f"{v:g}" if isinstance(v, float) else str(v)


def display_frame(board: pd.DataFrame) -> pd.DataFrame:
    """The columns a reader compares, formatted: scores x100 as mean ± std over runs. Setting
    columns besides stream and model show up only where they differ between rows."""
    model = board["model"].map(model_name)
    settings = list(board.columns[: board.columns.get_loc("strategy")])
    varying = {c: board[c].map(_plain) for c in settings
               if c not in ("stream", "model") and board[c].map(_plain).nunique() > 1}
    return pd.DataFrame({
        "stream": board["stream"],
        **varying,
        "model": model,
        "strategy": board["config"],
        "runs": board["n_runs"],
        "final avg": _scores(board, "final_average"),
        "normalised": _scores(board, "normalised_average"),
        "forgetting": _scores(board, "forgetting"),
        "BWT": _scores(board, "bwt"),
        "learning acc": _scores(board, "learning_accuracy"),
        "params added total": board["params_added_total_mean"].map(count),
        "params added per task": board["params_added_per_task_mean"].map(count),
        # 674 of 22.6M is 0.003, not 0.00
        "% backbone per task": board["params_added_per_task_pct_mean"].map(significant),
        "state floats total": board["state_floats_total_mean"].map(count),
        "memory examples total": board["memory_examples_total_mean"].map(count),
        "kept per task": board["kept_per_task_mean"].map(count),
        **_time_column(board),
        "not learned": board["not_learned"].map(lambda v: v or "-"),
    })


def _scores(board: pd.DataFrame, value: str) -> list[str]:
    return [mean_std(m, s) for m, s in zip(board[f"{value}_mean"], board[f"{value}_std"])]


def _time_column(board: pd.DataFrame) -> dict[str, pd.Series]:
    """Seconds over the stream: the process's CPU time where the records have it; wall time
    otherwise, marked, since it depends on what else the machine was running."""
    cpu, wall = board["cpu_time_total_s_mean"], board["wall_time_total_s_mean"]
    if cpu.notna().all():
        return {"CPU s per stream": cpu.map(lambda v: f"{v:.0f}")}
    if cpu.isna().all():
        return {"wall s per stream (load-dependent)": wall.map(number)}
    return {"time s per stream": [f"{c:.0f} CPU" if pd.notna(c) else
                                  ("-" if missing(w) else f"{w:.0f} wall (load-dependent)")
                                  for c, w in zip(cpu, wall)]}


def to_markdown(df: pd.DataFrame, left: tuple[str, ...] = ("stream", "model", "strategy")) -> str:
    """A GitHub markdown table: the `left` columns left-aligned, the others right-aligned."""
    return markdown_table(list(df.columns), df.itertuples(index=False), left)
