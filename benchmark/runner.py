"""The one loop over a stream: train each phase through the strategy's hooks, evaluate, account,
write results after every phase, and resume from the last finished phase.

    for each phase (usually one task):
        model.add_task(...) for its tasks        # a fresh head each
        strategy.before_task(phase)              # optimiser, patches, snapshots
        for batch in strategy.batches(phase):
            strategy.train_step(batch)
        strategy.after_task(phase)               # memory, Fisher, ...
        evaluate every task seen so far (and the unseen ones when --fwt) -> row of R
        write the run JSON and a checkpoint
"""

from __future__ import annotations

import errno
import math
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Sized
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from benchmark import data as data_mod
from benchmark import metrics, reference, results, runstore
from benchmark.api import Phase, StateSize, Strategy
from benchmark.context import (
    Budget,
    Compute,
    GradientTracker,
    RunContext,
    StreamData,
    peak_memory_mb,
    reset_peak_memory,
    set_seed,
)
from benchmark.data import Batch, TaskData
from benchmark.errors import UsageError
from benchmark.evaluate import evaluate
from benchmark.model import (
    MultiTaskModel,
    added_by_module,
    added_params,
    enable_gradient_checkpointing,
    load_pretrained,
    param_snapshot,
)
from benchmark.parallel import Parallel, check_precision, make_accelerator
from benchmark.progress import RunProgress
from benchmark.runconfig import RunConfig, phase_plan, resolve
from benchmark.streamfile import is_stream_file
from benchmark.tasks import resolve_tasks
from benchmark.tracking import Tracker, check_tracker

# errors of the disk, not of the run: one line, the finished phases kept, --resume once fixed
DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class Runner:
    def __init__(self, cfg: RunConfig) -> None:
        self.cfg = cfg
        self.resolved = resolve(cfg)
        self.run_id = self.resolved.run_id
        self.out_dir = Path(cfg.output_dir)
        if "/" in self.run_id or "\\" in self.run_id or self.run_id.startswith("."):
            raise UsageError("the run id built from the strategy, stream and model names is not a safe "
                             "file name; rename the stream or the model folder")
        self.path = runstore.confined(self.out_dir, f"{self.run_id}.json")
        self.ckpt_path = runstore.confined(self.out_dir, "checkpoints", self.run_id)  # a folder
        self.lock = runstore.RunLock(self.out_dir, self.run_id)
        self.tracker: Tracker | None = None  # --log-with
        self.progress: RunProgress | None = None  # the whole run's progress (main process, not --quiet)
        self.parallel = Parallel()  # the run's processes: made with the accelerator in `_load`

    def log(self, msg: str) -> None:
        if self.parallel.is_main:  # several processes: one says it
            log(msg)

    # -- set-up ------------------------------------------------------------------------------
    def _existing(self) -> dict | None:
        if not self.path.exists():
            return None
        try:
            record = results.read_run(self.path)
        except ValueError as exc:
            raise UsageError(f"{exc}; move it away or choose another --output-dir") from None
        if not self.cfg.resume:
            what = "a finished" if record["status"] == "complete" else f"an unfinished ({record['status']})"
            raise UsageError(
                f"{what} run with this configuration exists at {self.path}; "
                "add --resume to continue or reuse it, or choose another --output-dir"
            )
        return record

    def _load(self) -> None:
        r = self.resolved
        device = torch.device("cuda" if self.cfg.device == "auto" and torch.cuda.is_available()
                              else ("cpu" if self.cfg.device == "auto" else self.cfg.device))
        if device.type == "cuda" and not torch.cuda.is_available():
            raise UsageError("--device cuda asked for, but no CUDA device is available; use --device cpu")
        check_precision(self.cfg.precision, device)
        check_tracker(self.cfg.log_with)
        self.parallel = Parallel(make_accelerator(device, self.cfg.precision, self.cfg.log_with,
                                                  str(self.out_dir / "trackers")))
        if device.type == "cuda":
            device = self.parallel.accelerator.device  # this process's GPU under `accelerate launch`
        if self.parallel.active and not getattr(r.strategy_cls, "data_parallel", True):
            raise UsageError(f"strategy {self.cfg.strategy!r} does not train data-parallel yet (see its "
                             "docstring); run it in one process, without accelerate launch")
        data_dir = data_mod.resolve_data_dir(self.cfg.data_dir)
        if data_dir is not None or not data_mod.hub_reachable():
            data_mod.set_offline()
        tokenizer, encoder = load_pretrained(self.cfg.model)
        limit = _position_limit(encoder.config)
        if limit is not None and self.cfg.max_length > limit:
            raise UsageError(f"--max-length {self.cfg.max_length} is beyond the {limit} positions model "
                             f"{Path(self.cfg.model).name!r} has; give --max-length {limit} or less")
        specs = resolve_tasks(r.tasks)
        for shortfall in r.shortfalls:  # a stream with fixed sizes on partial data (--partial-data)
            log(f"warning: --partial-data: {shortfall}{' (left out)' if shortfall.fatal else ''}")
        self.tasks = [
            data_mod.prepare_task(spec, i, tokenizer, data_dir, *r.caps(spec.name),
                                  self.cfg.seed, self.cfg.max_length, warn=self.log,
                                  val_size=self.cfg.val_size, load_test=self.cfg.evaluate_test)
            for i, spec in enumerate(specs)
        ]
        set_seed(self.cfg.seed)
        self.model = MultiTaskModel(encoder, self.cfg.pooling,
                                    shared_output=r.scenario != "task-incremental").to(device)
        if self.cfg.gradient_checkpointing:
            enable_gradient_checkpointing(self.model, self.cfg.model)
        self.backbone_params = sum(p.numel() for _, p in self.model.backbone_parameters())
        self.strategy = r.strategy_cls(r.strategy_config)
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self.ctx = RunContext(
            self.cfg.seed, StreamData(self.tasks, pad_id, r.scenario),
            Budget(self.cfg.epochs, self.cfg.steps, self.cfg.batch_size, self.cfg.eval_batch_size),
            Compute(device, self.cfg.precision, self.parallel), sampler=r.sampler, model=self.model,
            show_progress=self.cfg.progress,
        )
        # what is scored after each phase: R on test, R_val on validation
        self.eval_splits = {"R": "test"} if self.cfg.evaluate_test else {}
        if all(t.validation is not None for t in self.tasks):
            self.eval_splits["R_val"] = "validation"
        elif not self.cfg.evaluate_test:
            raise UsageError("some task is too small for a validation split (it holds a fifth of the "
                             "train rows at most): give --val-size and caps that leave one")
        self.strategy.setup(self.model, self.ctx)
        self.plan = phase_plan(self.strategy, len(self.tasks), self.cfg.mtl_tasks)
        flat = sorted(i for p in self.plan for i in p)
        if flat != list(range(len(self.tasks))):
            raise RuntimeError(f"strategy {r.strategy_cls.name!r} planned {self.plan}: each task must appear once")
        self.learned = [next(p for p, ts in enumerate(self.plan) if j in ts) for j in range(len(self.tasks))]

    def _new_record(self) -> dict:
        r, cfg = self.resolved, self.cfg
        return {
            "schema_version": results.SCHEMA_VERSION,
            "run_id": self.run_id,
            "status": "running",
            "error": None,
            # the run's settings (RunConfig's recorded fields, resolved), then where, when, with what
            "run": r.recorded() | {"tuned": self._tuned_info()} | {
                "stream_file": _as_given(cfg.stream) if is_stream_file(cfg.stream) else None,
                "model_path": _as_given(cfg.model) if Path(cfg.model).exists() else None,
                "backbone_params": self.backbone_params,
                "device": str(self.ctx.device),
                "data_source": self._data_source(),
                "versions": results.package_versions(),
                "git": results.git_revision(),
                "host": results.host_info() | {"processes": self.parallel.world},  # accelerate launch
                "started_at": results.now(),
                "ended_at": None,
            },
            "tasks": [t.name for t in self.tasks],
            "task_info": [
                {"name": t.name, "dataset": t.spec.dataset, "config": t.spec.config,
                 "metrics": list(t.spec.metrics), "main": list(t.spec.main),
                 "train_examples": len(t.train), "available_train": t.available_train,
                 "validation_examples": len(t.validation) if t.validation is not None else 0,
                 "test_examples": len(t.test) if t.test is not None else 0,
                 "num_labels": t.spec.num_labels, "fingerprint": t.fingerprint,
                 # the dataset split each of the run's splits comes from
                 "splits": {"train": t.spec.train_split, "validation": f"{t.spec.train_split} (held out)",
                            "test": t.spec.test_split if t.test is not None else None}}
                for t in self.tasks
            ],
            # R[i][j] is scored on test, R_val[i][j] on validation (held out from train)
            "score_splits": self.eval_splits,
            "reference": reference.majority_reference(self.tasks),
            "plan": self.plan,
            "learned_in_phase": self.learned,
            "phases": [],
            "R": [],
            "R_metrics": [],
            "R_val": [],
            "R_val_metrics": [],
            "b": None,
            "metrics": {},
            "metrics_val": {},
            "cost": {},
            "checkpoint": None,  # the checkpoint of the last finished phase (runstore.save_checkpoint)
        }

    def _tuned_info(self) -> dict | None:
        """Which tuned-settings file and study chose this run's settings (None: not tuned)."""
        if not self.cfg.tuned:
            return None
        from benchmark.tune import tuned_settings

        settings, study = tuned_settings(self.cfg.tuned, self.cfg.strategy)
        return {"file": Path(self.cfg.tuned).name, "settings": settings, "study": study}

    def _data_source(self) -> str:
        """Where the data came from, without machine paths: "hub", "data-dir:<mirror>",
        "embedded" (the package's snapshot) or "files"."""
        sources = []
        for t in self.tasks:
            if t.source not in sources:
                sources.append(t.source)
        return ",".join(sources)

    # -- the loop ------------------------------------------------------------------------------
    def run(self) -> dict:
        _check_output_dir(self.out_dir)
        self.lock.probe()  # a live run with this id: refuse before reading anything
        existing = self._existing()
        if existing is not None and existing["status"] == "complete":
            log(f"run {self.run_id} is already complete: {self.path}")
            return existing
        reset_peak_memory()  # the run's own peak, not an earlier run's in this process
        self._load()
        self.parallel.barrier()  # every process has read the run's files before the main one writes
        try:
            if self.parallel.is_main:  # the one process that writes the run's files
                self.lock.acquire()
            return self._run_locked()
        except OSError as exc:
            if exc.errno not in DISK_ERRNOS or not self.parallel.is_main:
                raise
            self._after_disk_error()
            raise UsageError(f"cannot write in {self.out_dir}: {exc.strerror or exc}; the finished phases "
                             "are kept: free space (or make the folder writable) and rerun with --resume") from None
        finally:
            self.lock.release()

    def _after_disk_error(self) -> None:
        """Remove what a failed write left beyond the last commit (the run JSON on disk is marked
        failed by `_run_locked` when it could still be written)."""
        keep = None
        try:
            ref = results.read_run(self.path).get("checkpoint") if self.path.exists() else None
            keep = None if ref is None else Path(ref["file"]).name
        except (OSError, ValueError):
            return  # an unreadable record: leave its checkpoints alone
        try:
            runstore.clean_checkpoints(self.ckpt_path, keep)
            for tmp in self.out_dir.glob(f".{self.path.name}.*.tmp"):
                tmp.unlink(missing_ok=True)
        except OSError:
            pass

    def _write(self, record: dict) -> None:
        if self.parallel.is_main:
            results.write_json_atomic(self.path, record)

    def _run_locked(self) -> dict:
        existing = self.parallel.from_main(self._existing)  # again, under the lock
        if existing is not None and existing["status"] == "complete":
            return existing
        if existing is not None and not existing["phases"]:
            existing = None  # nothing finished: start afresh, recording this process's versions and start
        record = existing or self._new_record()
        if existing is not None:  # the same configuration and data, or a refusal saying what differs
            why = runstore.resume_mismatch(existing, self._new_record())
            if why is not None:
                raise UsageError(f"cannot resume {self.run_id}: {why}; rerun with the run's flags and "
                                 "data, or choose another --output-dir")
        start = len(record["phases"])
        if start:
            self._restore(start, record)
            self.log(f"resuming {self.run_id} after phase {start}/{len(self.plan)}")
        record["status"], record["error"] = "running", None
        self._write(record)
        if self.cfg.log_with:
            self.tracker = Tracker(self.parallel.accelerator, self.run_id, record["run"],
                                   sum(p["steps"] for p in record["phases"]))
        if self.cfg.progress and self.parallel.is_main:
            expected = [self.ctx.num_steps(Phase(p, [self.tasks[i] for i in ts])) for p, ts in enumerate(self.plan)]
            evals = [len(self.eval_splits) * sum(learned <= p for learned in self.learned) for p in range(len(self.plan))]
            self.progress = RunProgress(expected, start, label=self.run_id, evals_per_phase=evals)
        try:
            if self.cfg.fwt and record["b"] is None:
                record["b"] = [self._score_unseen(t)["score"] for t in self.tasks]
            for p in range(start, len(self.plan)):
                self._phase(record, p)
        except KeyboardInterrupt:
            self._mark("interrupted", "KeyboardInterrupt")
            raise
        except Exception as exc:
            text = (f"{type(exc).__name__}: {exc.strerror} (writing the run's files)" if isinstance(exc, OSError)
                    and exc.errno in DISK_ERRNOS else "".join(traceback.format_exception_only(type(exc), exc)).strip())
            self._mark("failed", text)  # no machine path: an OSError's file name stays out
            raise
        finally:
            if self.tracker is not None:
                self.tracker.close()
                self.tracker = None
            if self.progress is not None:
                self.progress.close()
                self.progress = None
        record["status"] = "complete"
        record["run"]["ended_at"] = results.now()
        if not self.cfg.keep_checkpoint:
            record["checkpoint"] = None
        self._write(record)
        ref = record.get("checkpoint")
        if self.parallel.is_main:
            runstore.clean_checkpoints(self.ckpt_path, None if ref is None else Path(ref["file"]).name)
        return record

    def _mark(self, status: str, error: str) -> None:
        """Set the status of the run JSON on disk: the last committed phase, with its checkpoint
        (a phase cut short between its checkpoint and its run JSON is not in it). Best effort: a
        disk that cannot take it leaves the record as it was."""
        if not self.parallel.is_main:
            return
        try:
            record = results.read_run(self.path)
            record["status"], record["error"] = status, error
            results.write_json_atomic(self.path, record)
        except (OSError, ValueError):
            pass

    def _phase(self, record: dict, p: int) -> None:
        """Train phase `p`, score it, and commit its record and checkpoint."""
        phase = Phase(p, [self.tasks[i] for i in self.plan[p]])
        set_seed(self.cfg.seed * 1000 + p)  # per phase, so a resumed run draws the same numbers
        self.log(f"phase {p + 1}/{len(self.plan)}: {'+'.join(phase.names)} "
            f"({sum(len(t.train) for t in phase.tasks)} train examples)")
        cpu0 = time.process_time()  # CPU time: less load-dependent than wall time
        added, batches = prepare_phase(self.model, self.strategy, self.ctx, phase, self.cfg.seed)
        if self.progress is not None:
            self.progress.begin_phase(p, phase.steps)
        # (the same on every process: with several, each step's loss is then combined at once)
        watched = self.tracker is not None or self.cfg.progress
        trained = train_phase(self.model, self.strategy, self.ctx, phase, batches,
                              self._on_step if watched else None)
        check_finite(self.model, phase, trained)
        scored = self._score(p)
        if self.progress is not None:
            self.progress.evaluated_phase(scored.eval_time)
        for key, rows in scored.rows.items():
            record[key].append([None if m is None else m["score"] for m in rows])
            record[f"{key}_metrics"].append(rows)
        record["phases"].append(phase_entry(
            phase, added, trained, scored, time.process_time() - cpu0, self.strategy.state_size(), self.ctx,
            self.resolved.sampler.name, self.tasks))
        self._commit(record, p)
        if self.tracker is not None:
            row = record["R"][-1] if record["R"] else record["R_val"][-1]
            train_time = record["phases"][-1]["train_time_s"]
            self.tracker.phase({t.name: v for t, v in zip(self.tasks, row) if v is not None},
                               record["phases"][-1]["examples_per_s"],
                               trained.tokens / train_time if train_time > 0 else None)
        shown = record["R"] or record["R_val"]
        scores = ", ".join(f"{t.name} {v * 100:.1f}" for t, v in zip(self.tasks, shown[-1]) if v is not None)
        scores += "" if record["R"] else " (validation)"
        self.log(f"  trained {trained.examples} examples in {record['phases'][-1]['train_time_s']:.1f}s (loss "
            f"{record['phases'][-1]['mean_loss']:.3f}); eval {scored.eval_time:.1f}s: {scores}")

    def _on_step(self, loss: float, lr: float | None) -> None:
        if self.tracker is not None:
            self.tracker.train_step(loss, lr)
        if self.progress is not None:
            self.progress.step()

    def _score(self, p: int) -> Scored:
        """Score every task learned by phase `p` on each scored split (and, with --fwt, the unseen
        tasks on test through fresh heads)."""
        t0 = time.perf_counter()
        rows = {}
        for key, split in self.eval_splits.items():
            row = []
            for j, task in enumerate(self.tasks):
                if self.learned[j] <= p:
                    row.append(evaluate(self.model, task, self.ctx, split))
                elif self.cfg.fwt and split == "test":
                    row.append(self._score_unseen(task))
                else:
                    row.append(None)
            rows[key] = row
        return Scored(rows, time.perf_counter() - t0, self.ctx.take_eval_costs())

    def _commit(self, record: dict, p: int) -> None:
        """The summary metrics, references and costs so far; then one commit: the checkpoint under
        a new name first, then the run JSON that names it (atomic), then the older checkpoints go."""
        for key, R in (("metrics", "R"), ("metrics_val", "R_val")):
            if not record[R]:
                continue
            record[key] = metrics.summarize(record[R], self.learned, record["b"] if R == "R" else None)
            record[key]["accuracy_average"] = metrics.metric_average(record[f"{R}_metrics"], self.learned)
            if self.cfg.mtl_tasks is not None:
                record[key] |= metrics.first_phase_split(record[R], self.learned)
        reference.attach(record, reference.find_single_task(self.out_dir, record))
        record["cost"] = self._cost(record)
        if not self.parallel.is_main:
            return
        record["checkpoint"] = self._checkpoint(p)
        results.write_json_atomic(self.path, record)
        runstore.clean_checkpoints(self.ckpt_path, Path(record["checkpoint"]["file"]).name)

    def _cost(self, record: dict) -> dict:
        ph = record["phases"]
        last = ph[-1]
        return {
            "head_params": sum(x["head_params"] for x in ph),
            "patch_params": sum(x["patch_params"] for x in ph),
            "params_added": sum(x["params_added"] for x in ph),
            "params_added_per_task": sum(x["params_added"] for x in ph) / max(1, sum(len(x["tasks"]) for x in ph)),
            "backbone_params": self.backbone_params,
            "state_floats": last["state_floats"],
            "memory_examples": last["memory_examples"],
            "memory_tokens": last["memory_tokens"],
            "train_time_s": sum(x["train_time_s"] + x["after_task_time_s"] for x in ph),
            "eval_time_s": sum(x["eval_time_s"] for x in ph),
            "wall_time_s": sum(x["train_time_s"] + x["after_task_time_s"] + x["eval_time_s"] for x in ph),
            # all threads of the process, train + after_task + eval; none if a resumed run has older phases
            "cpu_time_s": sum(x["cpu_time_s"] for x in ph) if all("cpu_time_s" in x for x in ph) else None,
            "examples_seen": sum(x["examples_seen"] for x in ph),
            "peak_rss_mb": max(x["peak_rss_mb"] for x in ph),
        }

    def _score_unseen(self, task: TaskData) -> dict[str, float]:
        """Score a task the model has not trained on, through the fresh head it will start from."""
        self.model.add_task(task.spec, task.index, self.cfg.seed, task.train.labels)
        try:
            return evaluate(self.model, task, self.ctx)
        finally:
            del self.model.heads[task.name]
            del self.model.specs[task.index]
            self.model.target_stats.pop(task.index, None)

    # -- checkpoints ---------------------------------------------------------------------------
    def _checkpoint(self, phase: int) -> dict:
        """Write phase `phase`'s checkpoint (safetensors + JSON, never pickle); its reference."""
        return runstore.save_checkpoint(self.ckpt_path, phase, self.run_id, self.model, self.strategy.state_dict())

    def _restore(self, start: int, record: dict) -> None:
        """Rebuild the model's structure as the finished phases left it (heads, patches, adapters:
        the phases' structure-building hooks, replayed), then load the checkpoint the run JSON names."""
        runstore.refuse_old_checkpoint(self.out_dir, self.run_id)
        ref = record.get("checkpoint")
        if ref is None:
            raise UsageError(f"cannot resume {self.run_id}: the run JSON names no checkpoint; "
                             f"delete {self.path.name} to start the run again")
        for p in range(start):
            phase = Phase(p, [self.tasks[i] for i in self.plan[p]])
            set_seed(self.cfg.seed * 1000 + p)
            add_heads(self.model, phase, self.cfg.seed)
            phase.steps = self.ctx.steps_of(phase, self.strategy.batches(phase))
            self.strategy.resume_phase(phase)
        for param in self.model.parameters():
            param.grad = None
        state = runstore.load_checkpoint(self.out_dir, ref, self.run_id, start - 1, self.model, self.ctx.device)
        self.strategy.load_state_dict(state)
        self.parallel.barrier()  # every process has read the checkpoint before the main one moves on
        if self.parallel.is_main:
            runstore.clean_checkpoints(self.ckpt_path, Path(ref["file"]).name)  # a later phase cut short


# -- one phase, step by step ---------------------------------------------------------------------
@dataclass
class Added:
    """Parameters a phase's set-up created (new heads; patches, adapters and other new tensors)."""

    head_params: int
    patch_params: int
    by_module: dict[str, int]
    setup_time: float  # seconds, counted as training time


@dataclass
class Trained:
    """What training one phase did: its losses and the data its batches held."""

    losses: list[float] = field(default_factory=list)
    steps: int = 0
    examples: int = 0
    tokens: int = 0
    by_task: dict[int, int] = field(default_factory=dict)  # stream position -> examples in batches
    trainable_params: int = 0  # parameters that received gradients (train and after_task)
    train_time: float = 0.0
    after_task_time: float = 0.0


@dataclass
class Scored:
    """One row of metrics per scored split (R: test, R_val: validation), None for unscored tasks."""

    rows: dict[str, list[dict | None]]
    eval_time: float
    test_time: dict[str, float] = field(default_factory=dict)  # a predictor's costs (MbPA++)


def prepare_phase(model: MultiTaskModel, strategy: Strategy, ctx: RunContext, phase: Phase, seed: int
                  ) -> tuple[Added, Iterable[Batch]]:
    """A fresh head for each of the phase's tasks, the strategy's batches (which give the phase
    its step count), then its `before_task`. What they added, counted from the model's tensors
    before and after, and the batches to train on."""
    t0 = time.perf_counter()
    before = param_snapshot(model)
    add_heads(model, phase, seed)
    batches = strategy.batches(phase)
    phase.steps = ctx.steps_of(phase, batches)
    strategy.before_task(phase)
    after = param_snapshot(model)
    head_params, patch_params = added_params(before, after)
    return Added(head_params, patch_params, added_by_module(before, after), time.perf_counter() - t0), batches


def add_heads(model: MultiTaskModel, phase: Phase, seed: int) -> None:
    for t in phase.tasks:
        model.add_task(t.spec, t.index, seed, t.train.labels)


def train_phase(model: MultiTaskModel, strategy: Strategy, ctx: RunContext, phase: Phase,
                batches: Iterable[Batch], on_step: Callable[[float, float | None], None] | None = None
                ) -> Trained:
    """Every training step of the phase, then the strategy's `after_task`. The model is in train
    mode for each step (evaluation, or a strategy's own scoring, may have switched it off).
    `on_step(loss, lr)` after each step (a tracker): the global batch's loss, and the learning rate
    the step took."""
    out = Trained()
    t0 = time.perf_counter()
    tracker = GradientTracker(model)
    ctx.usage.reset()
    total = len(batches) if isinstance(batches, Sized) else None
    parallel, shares = ctx.parallel, []
    for batch in ctx.progress(batches, f"train {'+'.join(phase.names)}", total):
        model.train()
        syncs, lr = parallel.syncs, _learning_rate(strategy)
        out.losses.append(strategy.train_step(parallel.shard(batch)))  # one process: the batch itself
        shares.append(parallel.share)
        if on_step is not None:
            if parallel.active:  # the batch's loss now, not at the end of the phase
                weighted = torch.tensor([out.losses[-1] * shares[-1]], dtype=torch.float64, device=ctx.device)
                out.losses[-1] = float(parallel.reduce_sum(weighted))
            on_step(out.losses[-1], lr)
        if parallel.active and parallel.syncs == syncs:
            raise UsageError(f"strategy {type(strategy).__name__} computed its gradients without "
                             "self.ctx.backward(loss): with several processes they would not be combined; "
                             "call self.ctx.backward(loss) instead of loss.backward()")
        out.examples += len(batch)
        out.tokens += batch.num_tokens
        out.steps += 1
        for t, n in zip(*(x.tolist() for x in batch.task_ids.unique(return_counts=True))):
            out.by_task[t] = out.by_task.get(t, 0) + n
    if parallel.active and out.losses and on_step is None:  # each process's loss is of its rows
        weighted = torch.tensor(out.losses, dtype=torch.float64) * torch.tensor(shares, dtype=torch.float64)
        out.losses = parallel.reduce_sum(weighted.to(ctx.device)).tolist()
    out.train_time = time.perf_counter() - t0
    strategy.after_task(phase)
    out.trainable_params = tracker.close(parallel)
    out.after_task_time = time.perf_counter() - t0 - out.train_time
    return out


def _learning_rate(strategy: Strategy) -> float | None:
    """The learning rate of the strategy's optimiser's first parameter group, if it has one."""
    optimizer = getattr(strategy, "optimizer", None)
    groups = getattr(optimizer, "param_groups", None)
    return float(groups[0]["lr"]) if groups else None


def check_finite(model: MultiTaskModel, phase: Phase, trained: Trained) -> None:
    """A diverged phase is the user's to fix (a lower learning rate); the finished ones are kept."""
    where = f"in phase {phase.index + 1} ({'+'.join(phase.names)})"
    if any(not math.isfinite(v) for v in trained.losses):
        raise UsageError(f"non-finite training loss {where}; the finished phases are kept: lower the "
                         "learning rate or check the data")
    bad = next((n for n, w in model.named_parameters() if not bool(torch.isfinite(w).all())), None)
    if bad is not None:
        raise UsageError(f"non-finite weights ({bad}) after phase {phase.index + 1} ({'+'.join(phase.names)}); "
                         "the finished phases are kept: lower the learning rate or check the data")


def phase_entry(phase: Phase, added: Added, trained: Trained, scored: Scored, cpu_time: float,
                state: StateSize, ctx: RunContext, sampler: str, tasks: list[TaskData]) -> dict:
    """The run record's entry of one phase."""
    losses, train_time = trained.losses, added.setup_time + trained.train_time
    return {
        "phase": phase.index,
        "tasks": phase.names,
        "steps": trained.steps,
        "examples_seen": trained.examples,
        "tokens_seen": trained.tokens,
        "mean_loss": float(np.mean(losses)) if losses else None,
        "last_loss": losses[-1] if losses else None,
        "train_time_s": train_time,
        "after_task_time_s": trained.after_task_time,
        "eval_time_s": scored.eval_time,
        "cpu_time_s": cpu_time,
        "examples_per_s": trained.examples / train_time if train_time > 0 else None,
        **peak_memory_mb(ctx.device),
        "sampler": sampler if len(phase.tasks) > 1 else None,
        # examples in the training batches per task (replayed ones too), and the share of
        # each phase task's train examples that its batches drew at least once
        "examples_by_task": {tasks[t].name: n for t, n in sorted(trained.by_task.items())},
        "data_used": {t.name: {"unique": ctx.usage.unique(t.index), "of": len(t.train),
                               "share": ctx.usage.unique(t.index) / len(t.train)}
                      for t in phase.tasks},
        "head_params": added.head_params,
        "patch_params": added.patch_params,
        "params_added": added.head_params + added.patch_params,
        "params_added_by_module": added.by_module,
        "trainable_params": trained.trainable_params,
        "state_floats": state.floats,
        "memory_examples": state.examples,
        "memory_tokens": state.tokens,
        **scored.test_time,  # a strategy's test-time work (MbPA++: local adaptation), inside eval_time_s
    }


def _check_output_dir(out_dir: Path) -> None:
    """--output-dir is a folder we can write in (or can be made in one)."""
    existing = out_dir
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        what = "is a file" if existing == out_dir else f"is inside {existing}, which is a file"
        raise UsageError(f"--output-dir {out_dir} {what}, not a folder; choose another --output-dir")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"--output-dir {out_dir} is not writable ({existing} is read-only); choose "
                         "another --output-dir")


def _position_limit(config) -> int | None:
    """Tokens the model can position (RoBERTa-like models reserve padding_idx + 1 positions)."""
    limit = getattr(config, "max_position_embeddings", None)
    if not isinstance(limit, int):
        return None
    if getattr(config, "model_type", "") in ("roberta", "xlm-roberta", "camembert", "longformer"):
        limit -= (getattr(config, "pad_token_id", 1) or 0) + 1
    return limit


def _as_given(path: str) -> str:
    """A path as the user gave it when relative; only its file name when absolute (or home-based)."""
    p = Path(path)
    return path if not p.is_absolute() and not path.startswith("~") and ".." not in p.parts else p.name


def run(cfg: RunConfig) -> dict:
    """Run (or resume) one experiment and return its record."""
    return Runner(cfg).run()
