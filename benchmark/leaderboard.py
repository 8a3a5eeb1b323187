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

import argparse
import json
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from benchmark import runconfig
from benchmark.config import model_name
from benchmark.errors import UsageError
from benchmark.schema import RUN_PROVENANCE


def _canonical(config: dict) -> str:
    return json.dumps(config, sort_keys=True)


# What separates groups: the run settings that RunConfig marks for the leaderboard
# (benchmark/runconfig.py), the fixed columns first. Seed and task order are deliberately absent:
# they are aggregated. Any other setting a run JSON records under `run` (e.g. `sampler`,
# `mtl_tasks`, or one a newer version adds) separates groups too and becomes a column after these,
# so a new run option never mixes runs silently.
SETTING_KEYS = runconfig.setting_columns()
GROUP_KEYS = [*SETTING_KEYS, "strategy", "strategy_config"]
# `run` fields that say where, when or how fast a run happened (or are aggregated over): no setting.
NOT_SETTINGS = runconfig.not_settings() | set(RUN_PROVENANCE)
# Values of settings that run JSONs from before the setting existed leave out (as the CSV shows them).
SETTING_DEFAULTS = {k: _canonical(v) if isinstance(v, dict) else v for k, v in runconfig.absent_values().items()}
METRICS = ["final_average", "normalised_average", "accuracy_average", "forgetting",
           "forgetting_first_last", "bwt", "learning_accuracy", "fwt"]
# Every cost says whether it is over the whole stream (`_total`: summed over the tasks, or what is
# kept after the last one) or per task (`_per_task`: the total over the number of tasks).
COSTS = ["params_added_total", "params_added_per_task", "params_added_total_pct",
         "params_added_per_task_pct", "state_floats_total", "state_floats_per_task",
         "memory_examples_total", "memory_tokens_total", "memory_tokens_per_task", "kept_per_task",
         "cpu_time_total_s", "wall_time_total_s"]
VALUES = METRICS + COSTS


@dataclass
class LoadedRuns:
    """Complete runs (path, record) and what was left out."""

    runs: list[tuple[Path, dict]] = field(default_factory=list)
    incomplete: Counter = field(default_factory=Counter)  # status -> count
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        parts = [f"{len(self.runs)} complete runs"]
        if self.incomplete:
            detail = ", ".join(f"{n} {s}" for s, n in sorted(self.incomplete.items()))
            parts.append(f"left out {sum(self.incomplete.values())} unfinished ({detail})")
        if self.warnings:
            parts.append(f"{len(self.warnings)} files not read (warnings above)")
        return "; ".join(parts)


def load_runs(folder: str | Path, warn: Callable[[str], None] | None = None) -> LoadedRuns:
    """Read every *.json under `folder` (recursively). Foreign or malformed files give a warning
    naming the file; runs that are not complete are counted by status and left out."""
    from benchmark.results import read_run

    folder = Path(folder)
    if not folder.is_dir():
        raise UsageError(f"no results folder at {folder}")
    out = LoadedRuns()
    seen: dict[str, Path] = {}

    def note(message: str) -> None:
        out.warnings.append(message)
        if warn is not None:
            warn(message)

    for path in sorted(folder.rglob("*.json")):
        try:
            record = read_run(path)
        except (ValueError, OSError) as exc:
            note(f"{path}: skipped, {str(exc).removeprefix(f'{path}: ')}")
            continue
        if record["status"] != "complete":
            out.incomplete[record["status"]] += 1
            continue
        if record["run"].get("evaluate_test") is False:  # a tuning trial: validation scores only
            out.incomplete["validation-only (tuning)"] += 1
            continue
        if record["run_id"] in seen:
            note(f"{path}: skipped, the same run as {seen[record['run_id']]}")
            continue
        try:
            run_row(record)
            _check_matrix(record)
        except (KeyError, TypeError, IndexError, ValueError, AttributeError) as exc:
            note(f"{path}: skipped, malformed run record ({type(exc).__name__}: {exc})")
            continue
        seen[record["run_id"]] = path
        out.runs.append((path, record))
    attach_references(out.runs)
    return out


def attach_references(runs: list[tuple[Path, dict]]) -> None:
    """Fill the single-task reference of runs that lack it (the `independent` run may have been
    made after them) from the matching `independent` runs among `runs`; see benchmark/reference.py."""
    from benchmark import reference

    independents = [r for _, r in runs if r["run"]["strategy"] == reference.INDEPENDENT]
    for _, record in runs:
        refs = record.get("reference")
        if not refs or all(ref.get("single_task") for ref in refs):
            continue
        found = reference.match_single_task(record, independents)
        if found:
            reference.attach(record, found)


def _check_matrix(record: dict) -> None:
    """R has a row per phase and a column per task, as the figures read it."""
    R, T = record["R"], len(record["tasks"])
    if len(R) != len(record["phases"]) or any(len(row) != T for row in R):
        raise ValueError(f"R is not {len(record['phases'])} rows of {T} scores")
    if len(record["learned_in_phase"]) != T:
        raise ValueError(f"learned_in_phase does not have {T} entries")


def run_row(record: dict) -> dict:
    """One complete run as a flat row: its setting, strategy, seed, order, metrics and costs."""
    run, cost, m = record["run"], record["cost"], record["metrics"]
    backbone = cost.get("backbone_params") or run.get("backbone_params")
    num_tasks = max(1, len(record["tasks"]))
    added = cost.get("params_added")  # null in a record whose costs were not measured
    per_task = cost.get("params_added_per_task")
    if per_task is None and added is not None:
        per_task = added / num_tasks
    state = cost.get("state_floats")
    tokens, estimated = memory_tokens(record)

    def pct(v: float | None) -> float | None:
        return None if v is None or not backbone else 100.0 * v / backbone

    extra = {k: _canonical(v) if isinstance(v, (dict, list)) else v
             for k, v in run.items() if k not in NOT_SETTINGS and k not in SETTING_KEYS}
    settings = {k: run[k] if k in ("stream", "model") else run.get(k, SETTING_DEFAULTS.get(k))
                for k in SETTING_KEYS}
    return {
        **settings,
        "tasks": ",".join(sorted(record["tasks"])),  # the set of tasks: orders are aggregated
        "strategy": run["strategy"],
        "strategy_config": _canonical(run.get("strategy_config", {})),
        "seed": int(run["seed"]),
        "order": run.get("order"),
        "task_order": ",".join(record["tasks"]),
        "run_id": record["run_id"],
        **{k: m.get(k) for k in METRICS},
        "not_learned": ",".join(_not_learned(record)),
        "params_added_total": added,
        "params_added_per_task": per_task,
        "params_added_total_pct": pct(added),
        "params_added_per_task_pct": pct(per_task),
        "state_floats_total": state,
        "state_floats_per_task": None if state is None else state / num_tasks,
        "memory_examples_total": cost.get("memory_examples"),
        "memory_tokens_total": tokens,
        "memory_tokens_per_task": None if tokens is None else tokens / num_tasks,
        "kept_per_task": kept_per_task(per_task, state, tokens, num_tasks),
        "cpu_time_total_s": cost.get("cpu_time_s"),
        "wall_time_total_s": cost.get("wall_time_s"),
        "memory_tokens_estimated": estimated,
        "backbone_params": backbone,
        **extra,
    }


def memory_tokens(record: dict) -> tuple[float | None, bool]:
    """Replay memory after the last task, counted as the token ids it stores, and whether that is
    an estimate: records without `memory_tokens` count examples x the mean length of the examples
    the run trained on."""
    cost = record["cost"]
    if cost.get("memory_tokens") is not None:
        return float(cost["memory_tokens"]), False
    examples = cost.get("memory_examples")
    if not examples:
        return (None, False) if examples is None else (0.0, False)
    seen = sum(p.get("examples_seen") or 0 for p in record["phases"])
    tokens = sum(p.get("tokens_seen") or 0 for p in record["phases"])
    return (examples * tokens / seen, True) if seen and tokens else (None, False)


def kept_per_task(params_added_per_task: float | None, state_floats: float | None,
                  memory_tokens: float | None, num_tasks: int) -> float | None:
    """Numbers a strategy keeps per task: the parameters it adds per task, plus what it keeps
    between tasks after the last one (state floats, replay memory as token ids) over the tasks."""
    if params_added_per_task is None:
        return None
    kept = (state_floats or 0) + (memory_tokens or 0)
    return params_added_per_task + kept / max(1, num_tasks)


def _not_learned(record: dict) -> list[str]:
    from benchmark.reference import not_learned

    return not_learned(record, "test")


def _config_labels(df: pd.DataFrame) -> pd.Series:
    """"ewc" or "ewc (ewc_lambda=1000)": a strategy's settings that differ between its configs."""
    labels = {}
    for strategy, configs in df.groupby("strategy")["strategy_config"]:
        parsed = {c: json.loads(c) for c in configs.unique()}
        keys = sorted({k for p in parsed.values() for k in p})
        varying = [k for k in keys if len({json.dumps(p.get(k)) for p in parsed.values()}) > 1]
        for c, p in parsed.items():
            shown = ", ".join(f"{k}={p.get(k)}" for k in varying)
            labels[(strategy, c)] = f"{strategy} ({shown})" if shown else strategy
    return pd.Series([labels[k] for k in zip(df["strategy"], df["strategy_config"])], index=df.index)


def runs_frame(runs: list[tuple[Path, dict]]) -> pd.DataFrame:
    """One row per complete run, with its file and its strategy label (`config`)."""
    rows = [run_row(record) | {"path": str(path)} for path, record in runs]
    known = [*run_row_columns(), "path"]
    extra = sorted({k for row in rows for k in row} - set(known))
    df = pd.DataFrame(rows, columns=[*known, *extra])
    for col in extra:
        df[col] = df[col].astype(object).where(df[col].notna(), SETTING_DEFAULTS.get(col))
    for col in VALUES:
        df[col] = pd.to_numeric(df[col], errors="coerce").astype(float)
    df["config"] = _config_labels(df) if len(df) else pd.Series(dtype=str)
    return df


def run_row_columns() -> list[str]:
    return [*GROUP_KEYS, "seed", "order", "task_order", "run_id", *VALUES, "not_learned",
            "memory_tokens_estimated", "backbone_params"]


def setting_keys(df: pd.DataFrame) -> list[str]:
    """The columns that make a setting: the fixed ones, then any other recorded run setting."""
    known = {*run_row_columns(), "path", "config"}
    return [*SETTING_KEYS, *(c for c in df.columns if c not in known)]


def aggregate(df: pd.DataFrame) -> pd.DataFrame:
    """One row per group: mean and sample standard deviation (ddof 1; empty for one run) of
    every metric and cost over its runs, and how many runs, seeds and orders it holds."""
    settings = setting_keys(df)
    grouped = df.groupby([*settings, "strategy", "strategy_config"], dropna=False, sort=False)
    stats = grouped[VALUES].agg(["mean", "std"])
    stats.columns = [f"{col}_{stat}" for col, stat in stats.columns]
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
    return board[front + [f"{v}_{s}" for v in VALUES for s in ("mean", "std")]].reset_index(drop=True)


def leaderboard(folder: str | Path, warn: Callable[[str], None] | None = None
                ) -> tuple[pd.DataFrame, LoadedRuns]:
    loaded = load_runs(folder, warn)
    if not loaded.runs:
        raise UsageError(f"no complete runs under {folder} ({loaded.summary()})")
    return aggregate(runs_frame(loaded.runs)), loaded


# -- display --------------------------------------------------------------------------------------
def _pm(mean: float, std: float, scale: float = 100.0, digits: int = 1) -> str:
    if pd.isna(mean):
        return "-"
    text = f"{mean * scale:.{digits}f}"
    return text if pd.isna(std) else f"{text} ± {std * scale:.{digits}f}"


def _count(v: float) -> str:
    if pd.isna(v):
        return "-"
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= limit:
            return f"{v / limit:.1f}{suffix}"
    return f"{v:.0f}"


def _plain(v: object) -> str:
    if v is None or (isinstance(v, float) and pd.isna(v)):
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
        "final avg": [_pm(m, s) for m, s in zip(board["final_average_mean"], board["final_average_std"])],
        "normalised": [_pm(m, s) for m, s in zip(board["normalised_average_mean"],
                                                  board["normalised_average_std"])],
        "forgetting": [_pm(m, s) for m, s in zip(board["forgetting_mean"], board["forgetting_std"])],
        "BWT": [_pm(m, s) for m, s in zip(board["bwt_mean"], board["bwt_std"])],
        "learning acc": [_pm(m, s) for m, s in zip(board["learning_accuracy_mean"],
                                                    board["learning_accuracy_std"])],
        "params added total": board["params_added_total_mean"].map(_count),
        "params added per task": board["params_added_per_task_mean"].map(_count),
        "% backbone per task": board["params_added_per_task_pct_mean"].map(
            lambda v: "-" if pd.isna(v) else f"{v:.2g}"),  # 674 of 22.6M is 0.003, not 0.00
        "state floats total": board["state_floats_total_mean"].map(_count),
        "memory examples total": board["memory_examples_total_mean"].map(_count),
        "kept per task": board["kept_per_task_mean"].map(_count),
        **_time_column(board),
        "not learned": board["not_learned"].map(lambda v: v or "-"),
    })


def _time_column(board: pd.DataFrame) -> dict[str, pd.Series]:
    """Seconds over the stream: the process's CPU time where the records have it; wall time
    otherwise, marked, since it depends on what else the machine was running."""
    cpu, wall = board["cpu_time_total_s_mean"], board["wall_time_total_s_mean"]
    if cpu.notna().all():
        return {"CPU s per stream": cpu.map(lambda v: f"{v:.0f}")}
    if cpu.isna().all():
        return {"wall s per stream (load-dependent)": wall.map(lambda v: "-" if pd.isna(v) else f"{v:.0f}")}
    return {"time s per stream": [f"{c:.0f} CPU" if pd.notna(c) else
                                  ("-" if pd.isna(w) else f"{w:.0f} wall (load-dependent)")
                                  for c, w in zip(cpu, wall)]}


def to_markdown(df: pd.DataFrame, left: tuple[str, ...] = ("stream", "model", "strategy")) -> str:
    """A GitHub markdown table: the `left` columns left-aligned, the others right-aligned."""
    def cell(v: object) -> str:
        return str(v).replace("|", "\\|")

    lines = ["| " + " | ".join(map(cell, df.columns)) + " |",
             "|" + "|".join(":---" if col in left else "---:" for col in df.columns) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


def cmd_leaderboard(args: argparse.Namespace) -> int:
    def warn(message: str) -> None:
        print(f"warning: {message}", file=sys.stderr)

    output = output_outside(args.results, args.output, "leaderboard.csv", "--output")
    board, loaded = leaderboard(args.results, warn)
    output.parent.mkdir(parents=True, exist_ok=True)
    board.to_csv(output, index=False, float_format="%.10g")
    shown = display_frame(board)
    if args.format == "markdown":
        print(to_markdown(shown))
    else:
        print(shown.to_string(index=False))
    print(f"leaderboard: {loaded.summary()}; {len(board)} groups; scores x100, mean ± std over "
          f"seeds and orders; written to {output}", file=sys.stderr)
    return 0



def output_outside(results: str | Path, given: str | Path | None, default: str, flag: str) -> Path:
    """Where a command that reads `results` writes: `given` when the flag was passed (anywhere,
    inside `results` too: that was asked for), else `default` in the current directory, refused
    when that lies inside `results`, so a command never writes into the folder it reads unasked."""
    if given is not None:
        return Path(given)
    out = Path(default)
    inside = Path.cwd().resolve() / default
    if inside.is_relative_to(Path(results).resolve()):
        raise UsageError(f"the default output ./{default} is inside the results folder {results}; "
                         f"pass {flag} to write there or run from elsewhere")
    return out
