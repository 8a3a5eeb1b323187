"""The run JSON: atomic writes, reading back, and the human summary.

One JSON per run, rewritten after every phase through a temporary file and `os.replace`, so a
reader (or a killed run) never sees half a file and finished tasks are never lost.
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import tempfile
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmark.schema import REQUIRED_KEYS, SCHEMA_VERSION, STATUSES, upgrade, validate  # noqa: F401


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _clean(obj: Any) -> Any:
    """JSON-safe: NaN/inf become null (strict JSON has no NaN)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):  # numpy / torch scalars
        return _clean(obj.item())
    return obj


def write_json_atomic(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(_clean(data), f, indent=1, allow_nan=False)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_run(path: Path) -> dict:
    """A run JSON, upgraded to the current schema version and validated (benchmark/schema.py);
    ValueError names the file and what is wrong."""
    try:
        data = json.loads(Path(path).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None
    except RecursionError:
        raise ValueError(f"{path}: not valid JSON (nested too deeply)") from None
    return parse_run(data, str(path))


def parse_run(data, where: str = "run record") -> dict:
    """A decoded run record, upgraded and validated; ValueError `where: problem`."""
    try:
        return validate(upgrade(data))
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("cmtbench", "torch", "transformers", "datasets", "numpy", "scikit-learn", "scipy", "peft",
                "accelerate", "tokenizers"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def git_revision() -> str | None:
    """The commit of the benchmark's own checkout (None when installed from a wheel)."""
    here = Path(__file__).resolve().parent.parent
    try:
        rev = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        )
        dirty = subprocess.run(
            ["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if rev.returncode != 0:
        return None
    return rev.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def cpu_model() -> str | None:
    """The CPU's model name as the kernel reports it (Linux), else what `platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def host_info() -> dict[str, Any]:
    import torch

    return {
        "platform": platform.platform(),
        "cpu": cpu_model(),
        # the instruction set torch's CPU kernels were chosen for: float results can differ in
        # their last bits between two of these (and between CPU models)
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def _fmt(v: float | None, scale: float = 100.0) -> str:
    return "   -" if v is None else f"{v * scale:5.1f}"


def format_summary(record: dict) -> str:
    """The R matrix (scores x100) and the summary metrics, as plain text."""
    tasks = record["tasks"]
    width = max(8, *(len(t) for t in tasks))
    lines = [
        f"run {record['run_id']} [{record['status']}]  strategy={record['run']['strategy']} "
        f"stream={record['run']['stream']} model={record['run']['model']} seed={record['run']['seed']}",
    ]
    # test scores when the run read test; a tuning trial has validation scores only
    key, split = ("R", "test") if record.get("R") or not record.get("R_val") else ("R_val", "validation")
    lines += [
        f"R on {split} (score x100; row = after phase, column = task):",
        " " * (width + 2) + " ".join(f"{t[:width]:>{width}}" for t in tasks),
    ]
    for phase, row in zip(record["phases"], record[key]):
        label = "+".join(phase["tasks"])[:width]
        lines.append(f"{label:>{width}}  " + " ".join(f"{_fmt(v):>{width}}" for v in row))
    refs = record.get("reference") or []
    if refs:
        lines.append(f"{'majority':>{width}}  " + " ".join(
            f"{_fmt((r.get('majority') or {}).get(split)):>{width}}" for r in refs))
        lines.append(f"{'single':>{width}}  " + " ".join(
            f"{_fmt((r.get('single_task') or {}).get(split)):>{width}}" for r in refs))
    m = record.get("metrics" if key == "R" else "metrics_val") or {}
    lines.append(
        "final average {}  normalised {}  forgetting {} (first-last {})  BWT {}  learning acc {}  FWT {}".format(
            *(_fmt(m.get(k)).strip() for k in ("final_average", "normalised_average", "forgetting",
                                               "forgetting_first_last", "bwt", "learning_accuracy", "fwt"))
        )
    )
    flagged = [t for t, r in zip(tasks, refs) if (r.get("learned") or {}).get(split) is False]
    if flagged:
        lines.append(f"not learned at these settings (single-task not 2 SE above majority): {', '.join(flagged)}")
    elif refs and not any(r.get("single_task") for r in refs):
        scenario = (record.get("run") or {}).get("scenario", "task-incremental")
        other = "" if scenario == "task-incremental" else " but --scenario task-incremental"
        lines.append(f"single-task reference: none yet (run --strategy independent with the same flags{other} "
                     "into the same --output-dir for normalised scores)")
    if "added_final_average" in m:  # mtl-then-add
        lines.append("first-phase tasks: forgetting {}  final {};  added tasks: final {}  learning acc {}".format(
            *(_fmt(m.get(k)).strip() for k in ("first_forgetting", "first_final_average",
                                               "added_final_average", "added_learning_accuracy"))))
    cost = {k: v or 0 for k, v in (record.get("cost") or {}).items()}
    lines.append(
        f"params added {cost.get('params_added', 0):,} (heads {cost.get('head_params', 0):,}, "
        f"patches {cost.get('patch_params', 0):,}; {cost.get('params_added_per_task', 0):,.0f} per task); "
        f"state kept {cost.get('state_floats', 0):,} floats, "
        f"{cost.get('memory_examples', 0):,} examples; wall time {cost.get('wall_time_s', 0):.0f}s"
        + (f", CPU time {cost['cpu_time_s']:.0f}s" if cost.get("cpu_time_s") else "")
    )
    return "\n".join(lines)
