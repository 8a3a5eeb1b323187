"""`python -m benchmark validate RESULTS_DIR`: check every run JSON under a folder.

For each run JSON (recursively; checkpoint folders are read through the runs that name them):
- the schema (benchmark/schema.py, after upgrading a version-1 record);
- the summary metrics recomputed from R (and from R_val for metrics_val): final_average,
  average_curve, forgetting, forgetting_first_last, bwt, learning_accuracy, fwt and the
  mtl-then-add split, where the record has them, equal to the recorded ones within 1e-9;
- each score in R equal to the "score" of its entry in R_metrics;
- the checkpoint an unfinished run names: its file exists inside the folder and its sha256 matches;
- no absolute machine paths in any text of the record.
One line per problem, then a summary; exit 0 when clean, 1 when a problem was found, 2 on bad usage.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from benchmark.errors import UsageError

TOLERANCE = 1e-9
CHECKED_METRICS = ("final_average", "average_curve", "forgetting", "forgetting_first_last", "bwt",
                   "learning_accuracy", "fwt", "first_forgetting", "first_final_average",
                   "added_final_average", "added_learning_accuracy")
MACHINE_PATH = re.compile(r"(^|[\s'\"(=:])(/(home|work|Users|root|tmp|mnt|data|scratch|private|var)/|~/|[A-Za-z]:\\)")


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, list) or isinstance(b, list):
        return isinstance(a, list) and isinstance(b, list) and len(a) == len(b) and all(map(_close, a, b))
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=0, abs_tol=TOLERANCE)


def recomputed(record: dict) -> dict[str, dict]:
    """metrics / metrics_val as the runner computes them from R / R_val."""
    from benchmark import metrics

    out = {}
    learned = record.get("learned_in_phase") or list(range(len(record["tasks"])))
    for key, R in (("metrics", "R"), ("metrics_val", "R_val")):
        if not record.get(R):
            continue
        m = metrics.summarize(record[R], learned, record.get("b") if R == "R" else None)
        if "first_forgetting" in (record.get(key) or {}):
            m |= metrics.first_phase_split(record[R], learned)
        out[key] = m
    return out


def _strings(obj: Any, where: str = ""):
    if isinstance(obj, str):
        yield where, obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _strings(k, f"{where}.{k}" if where else str(k))
            yield from _strings(v, f"{where}.{k}" if where else str(k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _strings(v, f"{where}[{i}]")


def check_record(path: Path, root: Path) -> list[str]:
    """The problems of one run JSON (an empty list when it is clean)."""
    from benchmark import runstore
    from benchmark.results import parse_run

    try:
        raw = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        return [f"not readable JSON ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"]
    try:
        record = parse_run(raw, "schema")
    except ValueError as exc:
        return [str(exc)]
    problems = []
    for key, m in recomputed(record).items():
        stored = record.get(key) or {}
        for name in CHECKED_METRICS:
            if name in stored and name in m and not _close(stored[name], m[name]):
                problems.append(f"{key}.{name} is {stored[name]!r}, but R gives {m[name]!r}")
    for R in ("R", "R_val"):
        for i, (row, mrow) in enumerate(zip(record.get(R, []), record.get(f"{R}_metrics", []))):
            for j, (v, m) in enumerate(zip(row, mrow)):
                if m is not None and "score" in m and not _close(v, m["score"]):
                    problems.append(f"{R}[{i}][{j}] = {v!r} differs from its {R}_metrics score {m['score']!r}")
    ref = record.get("checkpoint")
    if ref is not None and record["status"] != "complete":
        parts = Path(ref["file"]).parts
        file = None
        if len(parts) == 3 and parts[0] == "checkpoints" and parts[1] == record["run_id"]:
            try:
                file = runstore.confined(path.parent, *parts)
            except RuntimeError:
                file = None
        if file is None:
            problems.append(f"checkpoint {ref['file']!r} is not a checkpoint of this run")
        elif not file.is_file():
            problems.append(f"checkpoint {ref['file']} is missing")
        elif runstore.sha256(file) != ref["sha256"]:
            problems.append(f"checkpoint {ref['file']} does not match the hash in the run JSON")
    for where, text in _strings(record):
        if MACHINE_PATH.search(text) or text.startswith("/"):
            problems.append(f"{where} holds an absolute machine path ({text[:60]!r})")
            break
    return problems


def run_files(root: Path) -> list[Path]:
    """The run JSONs under `root`: every *.json outside checkpoint folders."""
    return [p for p in sorted(root.rglob("*.json")) if "checkpoints" not in p.relative_to(root).parts[:-1]]


def validate_folder(root: str | Path, echo=print) -> int:
    """Check every run JSON under `root`; print one line per problem and a summary; the exit code."""
    root = Path(root)
    if not root.is_dir():
        raise UsageError(f"no results folder at {root}")
    files = run_files(root)
    bad = total = 0
    for path in files:
        problems = check_record(path, root)
        bad += bool(problems)
        total += len(problems)
        for problem in problems:
            echo(f"{path}: {problem}")
    n = f"{len(files)} run JSON{'s' if len(files) != 1 else ''}"
    if bad:
        echo(f"validate: {n}, {len(files) - bad} clean, {total} problem{'s' if total != 1 else ''} in the other {bad}")
    else:
        echo(f"validate: {n}, all clean")
    return 1 if bad else 0

