"""The one results loader: every complete run under a folder as one row of a pandas DataFrame,
which the leaderboard, the figures and results/tables.py all read.

A row holds the run's settings, strategy, seed and order, its metrics and costs as flat columns
(`run_row`), the file it came from (`path`), its strategy label (`config`, e.g. "ewc
(ewc_lambda=1000)"), and as objects the score matrix (`R`, an array, NaN where a task was not
evaluated), the final row by task (`final`) and the run record itself (`record`), for what a
particular table or figure needs beyond the shared columns.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from benchmark import runconfig
from benchmark.errors import UsageError
from benchmark.metrics import as_array
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
# Columns that hold objects rather than values: the frame carries them, the CSV does not.
OBJECTS = ["path", "R", "final", "record"]


@dataclass
class LoadedRuns:
    """The complete runs, one row each (`frame`), and what was left out."""

    frame: pd.DataFrame
    incomplete: Counter = field(default_factory=Counter)  # status -> count
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        parts = [f"{len(self.frame)} complete runs"]
        if self.incomplete:
            detail = ", ".join(f"{n} {s}" for s, n in sorted(self.incomplete.items()))
            parts.append(f"left out {sum(self.incomplete.values())} unfinished ({detail})")
        if self.warnings:
            parts.append(f"{len(self.warnings)} files not read (warnings above)")
        return "; ".join(parts)


def load_runs(folder: str | Path, warn: Callable[[str], None] | None = None) -> LoadedRuns:
    """Read every *.json under `folder` (recursively). Foreign or malformed files give a warning
    naming the file, and so does a second file of a run already read; runs that are not complete
    (tuning trials too: they have validation scores only) are counted by status and left out.
    Runs that lack their single-task reference get it from the folder's `independent` runs."""
    from benchmark.results import read_run

    folder = Path(folder)
    if not folder.is_dir():
        raise UsageError(f"no results folder at {folder}")
    runs: list[tuple[Path, dict]] = []
    incomplete: Counter = Counter()
    warnings: list[str] = []
    seen: dict[str, Path] = {}

    def note(message: str) -> None:
        warnings.append(message)
        if warn is not None:
            warn(message)

    for path in sorted(folder.rglob("*.json")):
        if "checkpoints" in path.relative_to(folder).parts[:-1]:
            continue  # a resumable run's phase checkpoints (benchmark.runstore), not run records
        try:
            record = read_run(path)
        except (ValueError, OSError) as exc:
            note(f"{path}: skipped, {str(exc).removeprefix(f'{path}: ')}")
            continue
        if record["status"] != "complete":
            incomplete[record["status"]] += 1
            continue
        if record["run"].get("evaluate_test") is False:  # a tuning trial: validation scores only
            incomplete["validation-only (tuning)"] += 1
            continue
        if record["run_id"] in seen:
            note(f"{path}: skipped, the same run as {seen[record['run_id']]}")
            continue
        try:
            run_row(record)
            check_matrix(record)
        except (KeyError, TypeError, IndexError, ValueError, AttributeError) as exc:
            note(f"{path}: skipped, malformed run record ({type(exc).__name__}: {exc})")
            continue
        seen[record["run_id"]] = path
        runs.append((path, record))
    attach_references(runs)
    return LoadedRuns(runs_frame(runs), incomplete, warnings)


def complete_runs(folder: str | Path, warn: Callable[[str], None] | None = None) -> LoadedRuns:
    """`load_runs`, refusing a folder without complete runs in one line that says what it holds."""
    loaded = load_runs(folder, warn)
    if not len(loaded.frame):
        raise UsageError(f"no complete runs under {folder} ({loaded.summary()})")
    return loaded


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


def check_matrix(record: dict) -> None:
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
    """One row per run (path, record): `run_row`'s columns, the strategy label (`config`) and the
    object columns (`OBJECTS`)."""
    rows = [run_row(record) | {"path": str(path), "R": as_array(record["R"]),
                               "final": dict(zip(record["tasks"], record["R"][-1])), "record": record}
            for path, record in runs]
    known = [*run_row_columns(), *OBJECTS]
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
    known = {*run_row_columns(), *OBJECTS, "config"}
    return [*SETTING_KEYS, *(c for c in df.columns if c not in known)]


def load_frames(folders: list[str | Path], warn: Callable[[str], None] | None = None
                ) -> tuple[pd.DataFrame, list[LoadedRuns]]:
    """The runs of several folders in one frame, in the folders' order; each folder is read on its
    own (duplicates are matched within a folder), its summary in the list. A run that finds no
    single-task reference in its own folder takes one from the other folders' `independent` runs
    (e.g. text5's class-incremental runs from the task-incremental folder beside them)."""
    loaded = [load_runs(folder, warn) for folder in folders]
    runs = [(Path(p), r) for x in loaded for p, r in zip(x.frame["path"], x.frame["record"])]
    attach_references(runs)
    return runs_frame(runs), loaded
