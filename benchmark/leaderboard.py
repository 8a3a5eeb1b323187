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

import statistics
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from benchmark.config import model_name
from benchmark.errors import UsageError
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


# The scores `--baseline` compares, each run against the baseline's run of the same seed and order.
PAIRED = ["final_average", "normalised_average", "forgetting"]


def _joined(df: pd.DataFrame, cols: list[str]) -> pd.Series:
    """The values of `cols` as one string per row, so that missing settings compare equal ("nan")."""
    return pd.Series(["\x1f".join("nan" if missing(v) else str(v) for v in row)
                      for row in df[cols].itertuples(index=False)], index=df.index, dtype=object)


def _pair_keys(df: pd.DataFrame) -> pd.Series:
    """What makes two runs a pair: the same setting, seed and task order (the same data subsets,
    task heads' seeds and order)."""
    return _joined(df, [*setting_keys(df), "seed", "task_order"])


def paired_differences(runs: pd.DataFrame, base: pd.DataFrame, col: str) -> list[float]:
    """`runs`' `col` minus `base`'s, pair by pair over the (setting, seed, task order) both have:
    the shared data and seeds cancel out of the difference, so it is less noisy than either
    score. Pairs where either score is missing are left out."""
    a = pd.Series(runs[col].to_numpy(), index=_pair_keys(runs)) if len(runs) else pd.Series(dtype=float)
    b = pd.Series(base[col].to_numpy(), index=_pair_keys(base)) if len(base) else pd.Series(dtype=float)
    b = b[~b.index.duplicated()]
    both = [k for k in dict.fromkeys(a.index) if k in b.index]
    return [float(a[k] - b[k]) for k in both if not (pd.isna(a[k]) or pd.isna(b[k]))]


def is_baseline(df: pd.DataFrame, name: str) -> pd.Series:
    """Which runs `name` names: those of that strategy config label, or else of that strategy."""
    by_label = df["config"] == name
    return by_label if by_label.any() else df["strategy"] == name


def baseline_runs(df: pd.DataFrame, name: str) -> pd.DataFrame:
    """The runs of the strategy (or strategy config label) `name`; a UsageError naming the choices
    when it has none, or when one setting holds several configs of it (the pairs would be ambiguous)."""
    base = df[is_baseline(df, name)]
    if base.empty:
        raise UsageError(f"--baseline {name}: no complete run of it in these results; give one of: "
                         f"{', '.join(sorted(df['config'].unique()))}")
    configs = base.groupby(setting_keys(base), dropna=False)["config"].nunique()
    if (configs > 1).any():
        raise UsageError(f"--baseline {name}: one setting holds several configs of it: "
                         f"{', '.join(sorted(base['config'].unique()))}; name one of those labels")
    return base


def paired_columns(df: pd.DataFrame, board: pd.DataFrame, name: str) -> pd.DataFrame:
    """`board` with, for each group, the mean and 95% CI half-width of its `PAIRED` scores minus
    the baseline's (`paired_differences`) and the number of pairs: `final_average_minus_baseline_mean`,
    `..._ci95`, `..._n`; the paired t-test's p-value `..._p` and its Benjamini-Hochberg
    adjustment `..._q` over the setting's comparisons (the baseline's own row has none); and the
    baseline's label in `baseline`."""
    base = baseline_runs(df, name)
    keys = [*setting_keys(df), "strategy", "strategy_config"]
    groups = dict(tuple(df.groupby(_joined(df, keys), sort=False)))
    out = board.copy()
    out.insert(out.columns.get_loc("seeds") + 1, "baseline", base["config"].iloc[0])
    diffs = [{col: paired_differences(groups[k], base, col) for col in PAIRED} for k in _joined(board, keys)]
    family = _joined(board, setting_keys(df))  # one family of comparisons per setting
    others = (board["config"] != out["baseline"]).to_numpy()
    for col in PAIRED:
        out[f"{col}_minus_baseline_mean"] = [statistics.fmean(d[col]) if d[col] else float("nan") for d in diffs]
        out[f"{col}_minus_baseline_ci95"] = [interval_half_width(d[col], "ci95") for d in diffs]
        out[f"{col}_minus_baseline_n"] = [len(d[col]) for d in diffs]
        p = pd.Series([paired_p(d[col]) if other else float("nan") for d, other in zip(diffs, others)],
                      index=board.index)
        out[f"{col}_minus_baseline_p"] = p
        out[f"{col}_minus_baseline_q"] = p.groupby(family.to_numpy()).transform(benjamini_hochberg)
    return out


def q_value(q: float) -> str:
    """A q (or p) value for a table: two significant digits, "<0.001" below that, "-" without one."""
    return "-" if missing(q) else "<0.001" if q < 0.001 else f"{q:.2g}"


def paired_p(d: list[float]) -> float:
    """Two-sided p-value of a paired t-test: the mean of the differences `d` against 0 (Student's t,
    n - 1 degrees of freedom); NaN below two pairs. Differences without spread give 0 when they
    are not 0 (the limit of the test) and 1 when they are all 0."""
    from scipy import stats

    if len(d) < 2:
        return float("nan")
    if max(d) == min(d):
        return 0.0 if d[0] != 0 else 1.0
    return float(stats.ttest_1samp(d, 0.0).pvalue)


def benjamini_hochberg(p: pd.Series) -> pd.Series:
    """Benjamini-Hochberg adjusted p-values (q) of one family of comparisons (scipy's
    false_discovery_control); NaN stays NaN and is not counted in the family."""
    from scipy import stats

    q = p.copy()
    present = p.notna()
    if present.any():
        q[present] = stats.false_discovery_control(p[present].to_numpy(), method="bh")
    return q


def leaderboard(folder: str | Path, warn: Callable[[str], None] | None = None, baseline: str | None = None
                ) -> tuple[pd.DataFrame, LoadedRuns]:
    """The aggregated board of the complete runs under `folder`; with `baseline`, each group's
    scores minus that strategy's, paired by seed and order (`paired_columns`)."""
    loaded = complete_runs(folder, warn)
    board = aggregate(loaded.frame)
    if baseline is not None:
        board = paired_columns(loaded.frame, board, baseline)
    return board, loaded


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
        **_paired_display(board),
    })


def _paired_display(board: pd.DataFrame) -> dict[str, list[str]]:
    """With --baseline: final average and forgetting minus the baseline's, paired (x100, mean ± the
    95% CI half-width over the pairs, and how many pairs)."""
    if "baseline" not in board.columns or not len(board):
        return {}
    name = board["baseline"].iloc[0]

    def cells(col: str) -> list[str]:
        return ["(baseline)" if label == name else "-" if n == 0 else mean_std(m, None if n < 2 else h) + f" ({n})"
                for label, m, h, n in zip(board["config"], board[f"{col}_minus_baseline_mean"],
                                          board[f"{col}_minus_baseline_ci95"], board[f"{col}_minus_baseline_n"])]

    q = [q_value(v) for v in board["final_average_minus_baseline_q"]]
    return {f"final avg minus {name} (paired)": cells("final_average"),
            "q (BH)": q,
            f"forgetting minus {name} (paired)": cells("forgetting")}


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


def to_latex(df: pd.DataFrame, left: tuple[str, ...] = ("stream", "model", "strategy")) -> str:
    """A booktabs LaTeX tabular (pandas' to_latex, LaTeX's special characters escaped), the `left`
    columns left-aligned and the others right-aligned, ± as $\\pm$: for a paper's table."""
    align = "".join("l" if c in left or c not in board_numbers(df) else "r" for c in df.columns)
    text = df.to_latex(index=False, escape=True, column_format=align)
    return text.replace(" ± ", " $\\pm$ ").replace("±", "$\\pm$").rstrip("\n")


def board_numbers(df: pd.DataFrame) -> set[str]:
    """The display columns that hold numbers (scores, counts, times), as opposed to names."""
    return {c for c in df.columns if c not in ("stream", "model", "strategy", "not learned", "scenario", "tasks",
                                               "pooling", "precision", "sampler", "sampler_config")}
