"""Hand-made run records shaped like the runner's (same keys), with the numbers a test chooses."""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def make_record(
    strategy: str = "finetune",
    seed: int = 0,
    *,
    stream: str = "glue-small",
    model: str = "minilm",
    scenario: str = "task-incremental",
    order: str = "default",
    tasks: tuple[str, ...] = ("sst2", "mrpc", "stsb", "rte"),
    R: list[list[float | None]] | None = None,
    plan: list[list[int]] | None = None,
    metrics: dict[str, Any] | None = None,
    strategy_config: dict[str, Any] | None = None,
    params_per_task: int = 1538,
    backbone: int = 22_713_216,
    state_floats: int = 0,
    memory_examples: int = 0,
    wall_time_s: float = 100.0,
    cpu_time_s: float | None = None,
    memory_tokens: int | None = None,
    status: str = "complete",
    max_train: int | None = 1000,
    run_extra: dict[str, Any] | None = None,
) -> dict:
    T = len(tasks)
    tokens = memory_examples * 40 if memory_tokens is None else memory_tokens
    plan = plan if plan is not None else [[i] for i in range(T)]
    learned = [next(p for p, ts in enumerate(plan) if j in ts) for j in range(T)]
    if R is None:  # a plain forgetting pattern: 0.8 when learned, 0.05 lower per later phase
        R = [[0.8 - 0.05 * (p - learned[j]) if learned[j] <= p else None for j in range(T)]
             for p in range(len(plan))]
    if metrics is None:
        from benchmark.metrics import summarize

        metrics = summarize(R, learned)
    phases = [
        {"phase": p, "tasks": [tasks[i] for i in ts], "steps": 32, "examples_seen": 1000,
         "tokens_seen": 40_000, "mean_loss": 0.5, "last_loss": 0.4, "train_time_s": wall_time_s / len(plan) * 0.8,
         "after_task_time_s": 0.0, "eval_time_s": wall_time_s / len(plan) * 0.2, "examples_per_s": 40.0,
         "peak_rss_mb": 900.0, "head_params": params_per_task * len(ts), "patch_params": 0,
         "params_added": params_per_task * len(ts), "trainable_params": backbone, "state_floats": state_floats,
         "memory_examples": memory_examples, "memory_tokens": tokens}
        for p, ts in enumerate(plan)
    ]
    ident = [strategy, stream, model, seed, order, tasks, strategy_config, scenario, max_train, run_extra]
    digest = hashlib.sha1(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:8]
    config = {"lr": 0.0001, "weight_decay": 0.01, "warmup_ratio": 0.06, "max_grad_norm": 1.0}
    return {
        "schema_version": 1,
        "run_id": f"{strategy}_{stream}_{Path(model).name}_s{seed}_{digest}",
        "status": status,
        "error": "RuntimeError: boom" if status == "failed" else None,
        "run": {
            "strategy": strategy, "strategy_config": config | (strategy_config or {}), "stream": stream,
            "stream_file": None, "order": order, "scenario": scenario, "seed": seed, "model": model,
            "model_path": None, "backbone_params": backbone, "pooling": "mean", "max_length": 128,
            "max_train": max_train, "max_eval": 500, "epochs": 1, "batch_size": 32, "precision": "fp32",
            "fwt": False, "device": "cpu", "data_source": "hub", "versions": {}, "git": None, "host": {},
            "started_at": "2026-01-01T00:00:00+00:00", "ended_at": "2026-01-01T00:10:00+00:00",
        } | (run_extra or {}),
        "tasks": list(tasks),
        "task_info": [{"name": t} for t in tasks],
        "plan": plan,
        "learned_in_phase": learned,
        "phases": phases,
        "R": R,
        "R_metrics": [[None if v is None else {"score": v} for v in row] for row in R],
        "b": None,
        "metrics": metrics,
        "cost": {
            "head_params": params_per_task * T, "patch_params": 0, "params_added": params_per_task * T,
            "params_added_per_task": params_per_task, "backbone_params": backbone,
            "state_floats": state_floats, "memory_examples": memory_examples,
            "memory_tokens": tokens, "train_time_s": wall_time_s * 0.8,
            "eval_time_s": wall_time_s * 0.2, "wall_time_s": wall_time_s, "examples_seen": 1000 * T,
            "peak_rss_mb": 900.0,
        } | ({} if cpu_time_s is None else {"cpu_time_s": cpu_time_s}),
    }


def with_scores(record: dict, ses: tuple[float, ...], majorities: tuple[float, ...]) -> dict:
    """`record` with each task's standard error in R_metrics (`ses`, one per task) and its
    majority-class test score as reference (`majorities`): what is_learned and normalising read."""
    record["R_metrics"] = [[None if v is None else {"score": v, "score_se": se} for v, se in zip(row, ses)]
                           for row in record["R"]]
    record["reference"] = [{"majority": {"test": m}} for m in majorities]
    return record


def write(folder: Path, record: dict, name: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (name or f"{record['run_id']}.json")
    path.write_text(json.dumps(record, indent=1))
    return path


def committed_runs(folder: Path, tmp_path: Path) -> Path:
    """The run JSONs of `folder` that git tracks, copied to a folder of their own: a sweep still
    writing into the checkout's results/runs must not change what the committed CSVs and docs'
    tables are compared with. Outside a git checkout (an unpacked archive) the folder as it is."""
    import shutil
    import subprocess

    try:
        listed = subprocess.run(["git", "ls-files", "-z", "--", "."], cwd=folder, capture_output=True,
                                check=True).stdout.decode().split("\0")
    except (OSError, subprocess.CalledProcessError):
        return folder
    copy = tmp_path / "committed" / folder.name
    copy.mkdir(parents=True)
    for name in filter(None, listed):
        shutil.copy2(folder / name, copy / Path(name).name)
    return copy


@contextlib.contextmanager
def lock_held(out_dir: Path, run_id: str) -> Iterator[None]:
    """The run's lock held by this process, as another live run (or sweep) would hold it."""
    from benchmark import runstore

    lock = runstore.RunLock(out_dir, run_id)
    lock.acquire()
    try:
        yield
    finally:
        lock.release()
