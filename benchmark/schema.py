"""The run record's schema: one shape for every reader, checked before anything reads it.

    record = upgrade(json.loads(text))   # version-1 records get the version-2 fields, in memory
    validate(record)                     # ValueError naming the first thing that is wrong

Version 2 (this one) adds to version 1: `R_val`, `R_val_metrics`, `metrics_val` (scores on the
validation split held out from train), `reference` (per task: majority, single-task, learned),
`score_splits`, `checkpoint`, the run fields `steps`, `val_size`, `evaluate_test`, `tuned`, and
a data fingerprint per task in `task_info[j]["fingerprint"]`. The upgrader fills what a
version-1 record lacks with the values a version-1 run had (no validation split, test read,
no reference, no checkpoint), so readers never branch on the version.

What `validate` checks (types and shapes, not the science):
- status is one of STATUSES; run_id, tasks (unique, non-empty names) and run's names are strings;
- plan covers each task once; learned_in_phase has one phase per task and agrees with plan;
- R and R_val are rows of len(tasks) scores, each null or a finite number in [-1, 1]; R has one
  row per finished phase (none in a validation-only tuning trial), R_val none or one per phase;
  R_metrics / R_val_metrics have their matrix's shape, entries null or {name: number or null};
- a complete run has one phase per phase of its plan (and a row of R, or of R_val for a
  validation-only trial, per phase);
- metrics, metrics_val and cost hold finite numbers or null (average_curve a list of them);
- b, reference and task_info have one entry per task; checkpoint is null or names a file and hash.
"""

from __future__ import annotations

import math
from typing import Any

SCHEMA_VERSION = 2
STATUSES = ("running", "complete", "failed", "interrupted")
REQUIRED_KEYS = ("schema_version", "run_id", "status", "run", "tasks", "phases", "R", "metrics")
SCORE_RANGE = (-1.0, 1.0)  # accuracy and F1 in [0, 1]; correlations and MCC in [-1, 1]
# what a version-1 record lacks, as a version-1 run had it
V1_DEFAULTS: dict[str, Any] = {
    "R_val": [], "R_val_metrics": [], "metrics_val": {}, "reference": None,
    "score_splits": {"R": "test"}, "checkpoint": None, "b": None, "error": None,
}
# every key a reader indexes; a version-1 record gets those it lacks from V1_DEFAULTS / upgrade
V2_KEYS = (*REQUIRED_KEYS, "error", "task_info", "plan", "learned_in_phase", "R_metrics", "R_val",
           "R_val_metrics", "b", "metrics_val", "cost", "reference", "score_splits", "checkpoint")
V1_RUN_DEFAULTS: dict[str, Any] = {"steps": None, "val_size": 0, "evaluate_test": True, "tuned": None}
# `run` keys besides the run's settings (benchmark.runconfig.RunConfig's recorded fields): where,
# when and with what it ran
RUN_PROVENANCE = ("stream_file", "model_path", "backbone_params", "device", "data_source", "versions",
                  "git", "host", "started_at", "ended_at")


class SchemaError(ValueError):
    """A run record that does not have the schema's shape."""


def upgrade(data: Any) -> Any:
    """A version-1 record as version 2 (a copy; other versions and non-records are returned as
    they are, for `validate` to name the problem)."""
    if not isinstance(data, dict) or data.get("schema_version") != 1 or not isinstance(data.get("run"), dict):
        return data
    out = {k: v for k, v in data.items()}
    for key, value in V1_DEFAULTS.items():
        out.setdefault(key, _fresh(value))
    out["run"] = dict(data["run"])
    for key, value in V1_RUN_DEFAULTS.items():
        out["run"].setdefault(key, value)
    if "R_metrics" not in out and isinstance(out.get("R"), list):
        out["R_metrics"] = [[None] * len(row) if isinstance(row, list) else None for row in out["R"]]
    if isinstance(out.get("tasks"), list):
        out.setdefault("plan", [[j] for j in range(len(out["tasks"]))])
        out.setdefault("learned_in_phase", list(range(len(out["tasks"]))))
    out.setdefault("task_info", [])
    out.setdefault("cost", {})
    out["schema_version"] = SCHEMA_VERSION
    return out


def _fresh(value: Any) -> Any:
    return dict(value) if isinstance(value, dict) else list(value) if isinstance(value, list) else value


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


class _Checker:
    def __init__(self) -> None:
        self.problem: str | None = None

    def need(self, ok: bool, message: str) -> bool:
        if not ok and self.problem is None:
            self.problem = message
        return ok


def validate(data: Any) -> dict:
    """`data` if it is a run record of this schema version; else SchemaError naming the problem."""
    c = _Checker()
    _check(data, c)
    if c.problem is not None:
        raise SchemaError(c.problem)
    return data


def problem(data: Any) -> str | None:
    """What is wrong with `data` as a run record, or None."""
    c = _Checker()
    _check(data, c)
    return c.problem


def _check(d: Any, c: _Checker) -> None:  # noqa: C901  (one flat list of checks reads best)
    if not c.need(isinstance(d, dict), "not a cmtbench run (top level is not an object)"):
        return
    missing = [k for k in REQUIRED_KEYS if k not in d]
    if not c.need(not missing, f"not a cmtbench run (missing {', '.join(missing)})"):
        return
    version = d["schema_version"]
    if not c.need(_is_int(version), "schema_version is not a number"):
        return
    if not c.need(version <= SCHEMA_VERSION, f"schema version {version} is newer than this cmtbench "
                  f"reads ({SCHEMA_VERSION}); update cmtbench"):
        return
    if not c.need(version == SCHEMA_VERSION, f"schema version {version} is unknown (not upgraded)"):
        return
    missing = [k for k in V2_KEYS if k not in d]
    if not c.need(not missing, f"a version-{SCHEMA_VERSION} run without {', '.join(missing)}"):
        return
    c.need(d["status"] in STATUSES, f"unknown status {d['status']!r}")
    c.need(isinstance(d["run_id"], str) and bool(d["run_id"]), "run_id is not a non-empty string")
    c.need(d.get("error") is None or isinstance(d.get("error"), str), "error is not text or null")
    run = d["run"]
    if not c.need(isinstance(run, dict), "run is not an object"):
        return
    for key in ("strategy", "stream", "model"):
        c.need(isinstance(run.get(key), str), f"run.{key} is not a string")
    c.need(_is_int(run.get("seed")), "run.seed is not an integer")
    c.need(isinstance(run.get("strategy_config", {}), dict), "run.strategy_config is not an object")
    for key in ("epochs", "batch_size", "max_length", "val_size"):
        c.need(key not in run or _is_int(run[key]) and run[key] >= 0, f"run.{key} is not a count")
    for key in ("steps", "max_train", "max_eval", "mtl_tasks"):
        c.need(run.get(key) is None or _is_int(run[key]) and run[key] >= 0, f"run.{key} is not a count or null")
    c.need(isinstance(run.get("evaluate_test", True), bool), "run.evaluate_test is not true or false")
    c.need(isinstance(run.get("fwt", False), bool), "run.fwt is not true or false")

    tasks = d["tasks"]
    if not c.need(isinstance(tasks, list) and tasks and all(isinstance(t, str) and t.strip() for t in tasks),
                  "tasks is not a non-empty list of task names"):
        return
    c.need(len(set(tasks)) == len(tasks), "tasks names a task twice")
    T = len(tasks)
    plan = d["plan"]
    plan_ok = c.need(isinstance(plan, list) and all(isinstance(p, list) and p and all(_is_int(i) for i in p)
                                                    for p in plan)
                     and sorted(i for p in plan for i in p) == list(range(T)),
                     "plan does not put each task in one phase")
    learned = d["learned_in_phase"]
    if c.need(isinstance(learned, list) and len(learned) == T and all(_is_int(v) for v in learned),
              f"learned_in_phase does not have {T} phase numbers") and plan_ok:
        c.need(all(j in plan[p] if 0 <= p < len(plan) else False for j, p in enumerate(learned)),
               "learned_in_phase disagrees with plan")
    phases = d["phases"]
    if not c.need(isinstance(phases, list) and all(isinstance(p, dict) and isinstance(p.get("tasks"), list)
                                                   and all(isinstance(t, str) for t in p["tasks"])
                                                   for p in phases),
                  "phases is not a list of phase objects naming their tasks"):
        return
    for p in phases:
        for key, value in p.items():
            if isinstance(value, float):
                c.need(math.isfinite(value), f"phases: {key} is not finite")
    if plan_ok:
        c.need(len(phases) <= len(plan), f"{len(phases)} phases finished of a plan of {len(plan)}")
    n = len(phases)
    test_read = run.get("evaluate_test", True)
    for key, must in (("R", test_read), ("R_val", False)):
        M = d.get(key, [])
        if not c.need(isinstance(M, list), f"{key} is not a list of rows"):
            continue
        rows_ok = len(M) == n if must else len(M) in (0, n)
        c.need(rows_ok, f"{key} has {len(M)} rows for {n} finished phases")
        for i, row in enumerate(M):
            if not c.need(isinstance(row, list) and len(row) == T, f"{key} row {i} is not {T} scores"):
                break
            for j, v in enumerate(row):
                if not c.need(v is None or _is_number(v) and SCORE_RANGE[0] <= v <= SCORE_RANGE[1],
                              f"{key}[{i}][{j}] = {v!r} is not a score in [-1, 1] or null"):
                    break
        Mm = d[f"{key}_metrics"]
        if c.need(isinstance(Mm, list) and len(Mm) == len(M) and all(isinstance(r, list) and len(r) == T for r in Mm),
                  f"{key}_metrics does not have the shape of {key}"):
            for row in Mm:
                for m in row:
                    c.need(m is None or isinstance(m, dict) and all(isinstance(k, str) and (v is None or _is_number(v))
                                                                     for k, v in m.items()),
                           f"{key}_metrics holds an entry that is not null or {{name: number}}")
    if d["status"] == "complete" and plan_ok:
        c.need(n == len(plan), f"a complete run with {n} of its {len(plan)} phases")
        if not test_read:
            c.need(len(d.get("R_val", [])) == n, "a complete validation-only run without R_val")
    for key in ("metrics", "metrics_val"):
        m = d.get(key, {})
        if not c.need(isinstance(m, dict), f"{key} is not an object"):
            continue
        for name, v in m.items():
            if name.endswith("_curve"):
                c.need(isinstance(v, list), f"{key}.{name} is not a list")
                c.need(isinstance(v, list) and all(x is None or _is_number(x) for x in v),
                       f"{key}.{name} holds a value that is not a number")
            else:
                c.need(v is None or _is_number(v), f"{key}.{name} = {v!r} is not a finite number or null")
    cost = d.get("cost", {})
    if c.need(isinstance(cost, dict), "cost is not an object"):
        for name, v in cost.items():
            c.need(v is None or _is_number(v), f"cost.{name} = {v!r} is not a finite number or null")
        if d.get("status") == "complete":  # every finished phase counted what it added
            c.need("params_added" in cost, "a complete run without cost.params_added")
    b = d.get("b")
    c.need(b is None or isinstance(b, list) and len(b) == T and all(v is None or _is_number(v) for v in b),
           f"b is not null or {T} numbers")
    ref = d.get("reference")
    c.need(ref is None or isinstance(ref, list) and len(ref) == T and all(isinstance(r, dict) for r in ref),
           f"reference is not null or {T} objects")
    for r in ref if isinstance(ref, list) else []:
        for key in ("majority", "single_task", "single_task_se"):
            v = r.get(key) if isinstance(r, dict) else None
            c.need(v is None or isinstance(v, dict) and all(x is None or _is_number(x) for x in v.values()),
                   f"reference: {key} is not null or {{split: number}}")
        v = r.get("learned") if isinstance(r, dict) else None
        c.need(v is None or isinstance(v, dict) and all(x is None or isinstance(x, bool) for x in v.values()),
               "reference: learned is not null or {split: true/false}")
    info = d.get("task_info", [])
    if c.need(isinstance(info, list) and len(info) in (0, T) and all(isinstance(i, dict) for i in info),
              f"task_info is not {T} objects"):
        for i in info:
            fp = i.get("fingerprint")
            c.need(fp is None or isinstance(fp, str) and len(fp) == 64, "task_info: a fingerprint that is not a sha256")
    c.need(isinstance(d.get("score_splits", {}), dict), "score_splits is not an object")
    ck = d.get("checkpoint")
    c.need(ck is None or isinstance(ck, dict) and isinstance(ck.get("file"), str) and isinstance(ck.get("sha256"), str),
           "checkpoint is not null or {file, sha256}")
