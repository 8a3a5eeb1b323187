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

import contextlib
import dataclasses
import hashlib
import json
import math
import resource
import sys
import time
import traceback
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmark import data as data_mod
from benchmark import metrics, results
from benchmark.config import build_config
from benchmark.data import Batch, Examples, TaskData, collate
from benchmark.errors import UsageError
from benchmark.evaluate import evaluate
from benchmark.model import (
    MultiTaskModel,
    added_by_module,
    added_params,
    load_pretrained,
    param_snapshot,
)
from benchmark.samplers import PROPORTIONAL, SAMPLERS, DataUsage, PhaseDraws, TaskSampler
from benchmark.streamfile import is_stream_file, load_stream_file
from benchmark.tasks import SCENARIOS, STREAMS, resolve_tasks
from strategies.base import STRATEGIES, BaseStrategy, Phase


@dataclass
class RunConfig:
    """Everything that defines a run. Fields that change the numbers go into the run id."""

    strategy: str = "finetune"
    strategy_config: dict[str, Any] = field(default_factory=dict)  # --set key=value, --lr
    stream: str = "glue-small"
    tasks: list[str] | None = None  # explicit order; overrides the stream's
    order: str = "default"  # "default", "random" (seeded) or a named order of the stream
    order_seed: int | None = None  # seed of a random order; None: the run seed
    sampler: str = "proportional"  # task sampler of phases that train several tasks
    sampler_config: dict[str, Any] = field(default_factory=dict)  # --sampler-set key=value
    mtl_tasks: int | None = None  # mtl-then-add: train the first k tasks together, then one by one
    scenario: str | None = None  # None: the stream's default scenario
    model: str = "minilm"
    pooling: str = "mean"
    max_length: int = 128
    seed: int = 0
    max_train: int | None = None  # None: the stream's default cap (0 = no cap)
    max_eval: int | None = None
    max_train_by_task: dict[str, int] = field(default_factory=dict)  # per-task caps, over max_train
    max_eval_by_task: dict[str, int] = field(default_factory=dict)
    epochs: int = 1
    batch_size: int = 32
    eval_batch_size: int = 128
    precision: str = "fp32"
    fwt: bool = False
    device: str = "auto"
    # where and how; not part of the run's identity
    output_dir: str = "runs"
    data_dir: str | None = None
    resume: bool = False
    keep_checkpoint: bool = False
    progress: bool = True

    NON_IDENTITY = ("output_dir", "data_dir", "resume", "keep_checkpoint", "progress", "device")

    def __post_init__(self) -> None:
        checks = [
            (self.epochs >= 1, f"--epochs must be >= 1, not {self.epochs}"),
            (self.batch_size >= 1, f"--batch-size must be >= 1, not {self.batch_size}"),
            (self.eval_batch_size >= 1, f"--eval-batch-size must be >= 1, not {self.eval_batch_size}"),
            (self.max_length >= 8, f"--max-length must be >= 8, not {self.max_length}"),
            (self.max_train is None or self.max_train >= 0, f"--max-train must be >= 0, not {self.max_train}"),
            (self.max_eval is None or self.max_eval >= 0, f"--max-eval must be >= 0, not {self.max_eval}"),
            *((n >= 0, f"--max-{kind} {task}={n}: a cap must be >= 0")
              for kind, caps in (("train", self.max_train_by_task), ("eval", self.max_eval_by_task))
              for task, n in caps.items()),
            (self.precision in ("fp32", "bf16"), f"--precision must be fp32 or bf16, not {self.precision!r}"),
            (self.device in ("auto", "cpu", "cuda"), f"--device must be auto, cpu or cuda, not {self.device!r}"),
            (self.pooling in ("mean", "cls"), f"--pooling must be mean or cls, not {self.pooling!r}"),
            (self.order_seed is None or self.order == "random",
             f"--order-seed applies to --order random only, not --order {self.order}"),
            (self.scenario in (None, *SCENARIOS),
             f"--scenario must be one of {', '.join(SCENARIOS)}, not {self.scenario!r}"),
            (self.mtl_tasks is None or self.mtl_tasks >= 1, f"--mtl-tasks must be >= 1, not {self.mtl_tasks}"),
        ]
        for ok, message in checks:
            if not ok:
                raise UsageError(message)

    def identity(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        if d["order_seed"] is None:  # left out, so run ids from before the field keep their value
            del d["order_seed"]
        if d["sampler"] == "proportional" and not d["sampler_config"]:  # likewise
            del d["sampler"], d["sampler_config"]
        if d["mtl_tasks"] is None:
            del d["mtl_tasks"]
        # per-task caps enter the run id as resolved (ResolvedRun.run_id), stream-file caps included
        del d["max_train_by_task"], d["max_eval_by_task"]
        return {k: v for k, v in d.items() if k not in self.NON_IDENTITY}


@dataclass
class ResolvedRun:
    """The config with the stream resolved: what actually runs."""

    config: RunConfig
    strategy_cls: type[BaseStrategy]
    strategy_config: Any
    stream: str
    order: str
    tasks: list[str]
    scenario: str
    max_train: int | None
    max_eval: int | None
    sampler: TaskSampler = PROPORTIONAL
    # tasks whose cap differs from max_train / max_eval (None = uncapped)
    max_train_by_task: dict[str, int | None] = field(default_factory=dict)
    max_eval_by_task: dict[str, int | None] = field(default_factory=dict)

    def caps(self, task: str) -> tuple[int | None, int | None]:
        """(train cap, test cap) of one task; None = all its examples."""
        return (self.max_train_by_task.get(task, self.max_train),
                self.max_eval_by_task.get(task, self.max_eval))

    @property
    def run_id(self) -> str:
        ident = self.config.identity() | {
            "tasks": self.tasks,
            "strategy_config": dataclasses.asdict(self.strategy_config),
            "max_train": self.max_train,
            "max_eval": self.max_eval,
        }
        for key in ("max_train_by_task", "max_eval_by_task"):
            if getattr(self, key):  # left out when empty, so run ids from before the option keep their value
                ident[key] = getattr(self, key)
        if "sampler_config" in ident:
            ident["sampler_config"] = dataclasses.asdict(self.sampler.config)
        digest = hashlib.sha1(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()[:8]
        model = Path(self.config.model.rstrip("/")).name or self.config.model
        return f"{self.config.strategy}_{self.stream}_{model}_s{self.config.seed}_{digest}"


def resolve(cfg: RunConfig) -> ResolvedRun:
    """Check names and numbers before anything is loaded or written."""
    strategy_cls = STRATEGIES.get(cfg.strategy)
    strategy_config = build_config(strategy_cls.Config, cfg.strategy_config)
    stream = load_stream_file(cfg.stream) if is_stream_file(cfg.stream) else STREAMS.get(cfg.stream)
    order_seed = cfg.seed if cfg.order_seed is None else cfg.order_seed
    order_tasks, order = stream.ordered(cfg.order, order_seed)
    if cfg.tasks:
        tasks = list(cfg.tasks)
        if sorted(tasks) == sorted(stream.tasks):
            stream_name, order = stream.name, ("default" if tuple(tasks) == stream.tasks else "custom")
        else:
            stream_name, order = "custom", "custom"
        if cfg.order == "random":
            import random

            random.Random(order_seed).shuffle(tasks)
            order = f"random-{order_seed}"
    else:
        tasks, stream_name = list(order_tasks), stream.name
    specs = resolve_tasks(tasks)
    scenario = cfg.scenario or stream.scenario
    if stream_name == stream.name and scenario not in stream.scenarios:
        raise UsageError(f"stream {stream.name!r} supports the {' and '.join(stream.scenarios)} "
                         f"scenario(s), not {scenario}")
    if scenario != "task-incremental":
        regression = [s.name for s in specs if s.regression]
        if regression:
            raise UsageError(f"the {scenario} scenario needs class labels; {regression[0]!r} is a "
                             "regression task (use --scenario task-incremental)")
        if cfg.fwt:
            raise UsageError(f"--fwt scores unseen tasks through fresh per-task heads: it needs the "
                             f"task-incremental scenario, not {scenario}")
    if scenario not in strategy_cls.scenarios:
        raise UsageError(
            f"strategy {cfg.strategy!r} does not support the {scenario} scenario "
            f"(it supports: {', '.join(strategy_cls.scenarios)})"
        )

    sampler_cls = SAMPLERS.get(cfg.sampler)
    sampler = sampler_cls(build_config(sampler_cls.Config, cfg.sampler_config))
    if cfg.mtl_tasks is not None:
        if cfg.mtl_tasks > len(tasks):
            raise UsageError(f"--mtl-tasks {cfg.mtl_tasks} is more than the {len(tasks)} tasks of the run")
        if strategy_cls.plan is not BaseStrategy.plan:
            raise UsageError(f"--mtl-tasks replaces the one-task-per-phase plan, and strategy {cfg.strategy!r} "
                             "plans its own phases (joint already trains every task in one phase)")
    plan = phase_plan(strategy_cls(strategy_config), len(tasks), cfg.mtl_tasks)
    if cfg.sampler != "proportional" and all(len(p) == 1 for p in plan):
        raise UsageError(f"--sampler only acts on phases that train several tasks, and strategy "
                         f"{cfg.strategy!r} trains one task per phase here (use joint or --mtl-tasks)")

    max_train, train_by_task = _resolve_caps("train", tasks, cfg.max_train, cfg.max_train_by_task,
                                             stream.max_train, stream.max_train_by_task)
    max_eval, eval_by_task = _resolve_caps("eval", tasks, cfg.max_eval, cfg.max_eval_by_task,
                                           stream.max_eval, stream.max_eval_by_task)
    return ResolvedRun(cfg, strategy_cls, strategy_config, stream_name, order, tasks, scenario,
                       max_train, max_eval, sampler, train_by_task, eval_by_task)


def _resolve_caps(kind: str, tasks: list[str], flag: int | None, flag_by_task: dict[str, int],
                  stream_default: int | None, stream_by_task: dict[str, int]):
    """The default cap and the tasks whose cap differs from it. Precedence: the flag's per-task
    caps, then the flag's default, then the stream's per-task caps, then the stream's default;
    0 means no cap (None)."""
    unknown = [t for t in flag_by_task if t not in tasks]
    if unknown:
        raise UsageError(f"--max-{kind} {unknown[0]}=...: {unknown[0]!r} is not a task of this run "
                         f"(tasks: {', '.join(tasks)})")

    def cap(value: int | None) -> int | None:
        return None if value == 0 else value

    default = cap(stream_default if flag is None else flag)
    per_task = {}
    for t in tasks:
        if t in flag_by_task:
            value = cap(flag_by_task[t])
        elif flag is None and t in stream_by_task:
            value = cap(stream_by_task[t])
        else:
            continue
        if value != default:
            per_task[t] = value
    return default, per_task


def phase_plan(strategy: BaseStrategy, num_tasks: int, mtl_tasks: int | None) -> list[list[int]]:
    """Stream positions per phase: the strategy's plan, or with `mtl_tasks` = k (mtl-then-add)
    the first k tasks together and then one task per phase."""
    if mtl_tasks is None:
        return strategy.plan(num_tasks)
    return [list(range(mtl_tasks))] + [[i] for i in range(mtl_tasks, num_tasks)]


class BatchPlan:
    """Batches of one phase over all epochs, collated lazily. Tasks trained together are mixed
    batch by batch as the run's task sampler says (benchmark/samplers.py); by default at random in
    proportion to their sizes, every example once per epoch. Epochs are drawn in order."""

    def __init__(self, ctx: RunContext, phase: Phase, epochs: int, batch_size: int) -> None:
        self.ctx, self.phase, self.epochs, self.batch_size = ctx, phase, epochs, batch_size
        self._draws: PhaseDraws | None = None

    def index_batches(self, epoch: int) -> Iterator[tuple[TaskData, list[int]]]:
        if epoch == 0 or self._draws is None:  # the cursors of the tasks live across epochs
            self._draws = PhaseDraws(self.ctx, self.phase, self.batch_size)
        sampler = self.ctx.sampler if len(self.phase.tasks) > 1 and self.ctx.sampler else PROPORTIONAL
        for task, idx in sampler.schedule(self._draws, epoch, self.epochs):
            self.ctx.usage.record(task.index, idx)
            yield task, idx

    def __len__(self) -> int:
        per_epoch = sum(math.ceil(len(t.train) / self.batch_size) for t in self.phase.tasks)
        return per_epoch * self.epochs

    def __iter__(self) -> Iterator[Batch]:
        for epoch in range(self.epochs):
            for task, idx in self.index_batches(epoch):
                yield self.ctx.collate([(task, task.train, idx)])


@dataclass
class RunContext:
    """What the runner lends a strategy: data of the whole stream, batching, seeding, precision."""

    seed: int
    epochs: int
    batch_size: int
    eval_batch_size: int
    device: torch.device
    precision: str
    pad_id: int
    tasks: list[TaskData]
    scenario: str
    show_progress: bool = True
    sampler: TaskSampler | None = None  # None: proportional
    model: MultiTaskModel | None = None  # read by samplers that score candidate batches
    usage: DataUsage = field(default_factory=DataUsage)

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.precision == "bf16":
            return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def generator(self, *keys: int | str) -> torch.Generator:
        """A torch generator seeded by the run seed and `keys` (stable across processes)."""
        words = [self.seed] + [k if isinstance(k, int) else int(hashlib.md5(k.encode()).hexdigest()[:8], 16)
                               for k in keys]
        return torch.Generator().manual_seed(int(np.random.SeedSequence(words).generate_state(1)[0]))

    def task_batches(self, phase: Phase) -> BatchPlan:
        return BatchPlan(self, phase, self.epochs, self.batch_size)

    def num_steps(self, phase: Phase) -> int:
        return len(self.task_batches(phase))

    def collate(self, parts: Sequence[tuple[TaskData | int, Examples, Sequence[int]]]) -> Batch:
        return collate(parts, self.pad_id).to(self.device)

    def progress(self, iterable: Iterable, desc: str, total: int | None = None) -> Iterable:
        if not self.show_progress:
            return iterable
        from tqdm.auto import tqdm

        return tqdm(iterable, desc=desc, total=total, leave=False, dynamic_ncols=True, disable=None)


def set_seed(seed: int) -> None:
    import random

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def peak_memory_mb(device: torch.device) -> dict[str, float]:
    # ru_maxrss is in KiB on Linux: the process's peak resident memory so far.
    out = {"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if device.type == "cuda":
        out["peak_gpu_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    return out


class GradientTracker:
    """Which parameters receive gradients during a phase (trainable_params in the run JSON)."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.touched: dict[int, int] = {}
        self.handles = [
            p.register_post_accumulate_grad_hook(self._hook(id(p), p.numel()))
            for p in model.parameters()
            if p.requires_grad
        ]

    def _hook(self, key: int, numel: int):
        def hook(_p: torch.Tensor) -> None:
            self.touched[key] = numel

        return hook

    def close(self) -> int:
        for h in self.handles:
            h.remove()
        return sum(self.touched.values())


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class Runner:
    def __init__(self, cfg: RunConfig) -> None:
        self.cfg = cfg
        self.resolved = resolve(cfg)
        self.run_id = self.resolved.run_id
        self.out_dir = Path(cfg.output_dir)
        self.path = self.out_dir / f"{self.run_id}.json"
        self.ckpt_path = self.out_dir / "checkpoints" / f"{self.run_id}.pt"

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
        data_dir = data_mod.resolve_data_dir(self.cfg.data_dir)
        if data_dir is not None or not data_mod.hub_reachable():
            data_mod.set_offline()
        tokenizer, encoder = load_pretrained(self.cfg.model)
        specs = resolve_tasks(r.tasks)
        self.tasks = [
            data_mod.prepare_task(spec, i, tokenizer, data_dir, *r.caps(spec.name),
                                  self.cfg.seed, self.cfg.max_length, warn=log)
            for i, spec in enumerate(specs)
        ]
        device = torch.device("cuda" if self.cfg.device == "auto" and torch.cuda.is_available()
                              else ("cpu" if self.cfg.device == "auto" else self.cfg.device))
        if device.type == "cuda" and not torch.cuda.is_available():
            raise UsageError("--device cuda asked for, but no CUDA device is available; use --device cpu")
        set_seed(self.cfg.seed)
        self.model = MultiTaskModel(encoder, self.cfg.pooling,
                                    shared_output=r.scenario != "task-incremental").to(device)
        self.backbone_params = sum(p.numel() for _, p in self.model.backbone_parameters())
        self.strategy = r.strategy_cls(r.strategy_config)
        self.ctx = RunContext(
            self.cfg.seed, self.cfg.epochs, self.cfg.batch_size, self.cfg.eval_batch_size, device,
            self.cfg.precision, tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0,
            self.tasks, r.scenario, self.cfg.progress, r.sampler, self.model,
        )
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
            "run": {
                "strategy": cfg.strategy,
                "strategy_config": dataclasses.asdict(r.strategy_config),
                "stream": r.stream,
                "stream_file": str(Path(cfg.stream).resolve()) if is_stream_file(cfg.stream) else None,
                "order": r.order,
                "scenario": r.scenario,
                "sampler": cfg.sampler,
                "sampler_config": dataclasses.asdict(r.sampler.config),
                "mtl_tasks": cfg.mtl_tasks,
                "seed": cfg.seed,
                "model": cfg.model,
                "model_path": str(Path(cfg.model)) if Path(cfg.model).exists() else None,
                "backbone_params": self.backbone_params,
                "pooling": cfg.pooling,
                "max_length": cfg.max_length,
                "max_train": r.max_train,
                "max_eval": r.max_eval,
                "max_train_by_task": r.max_train_by_task,
                "max_eval_by_task": r.max_eval_by_task,
                "epochs": cfg.epochs,
                "batch_size": cfg.batch_size,
                "precision": cfg.precision,
                "fwt": cfg.fwt,
                "device": str(self.ctx.device),
                "data_source": str(data_mod.resolve_data_dir(cfg.data_dir) or "hub"),
                "versions": results.package_versions(),
                "git": results.git_revision(),
                "host": results.host_info(),
                "started_at": results.now(),
                "ended_at": None,
            },
            "tasks": [t.name for t in self.tasks],
            "task_info": [
                {"name": t.name, "dataset": t.spec.dataset, "config": t.spec.config,
                 "metrics": list(t.spec.metrics), "main": list(t.spec.main),
                 "train_examples": len(t.train), "available_train": t.available_train,
                 "test_examples": len(t.test), "num_labels": t.spec.num_labels}
                for t in self.tasks
            ],
            "plan": self.plan,
            "learned_in_phase": self.learned,
            "phases": [],
            "R": [],
            "R_metrics": [],
            "b": None,
            "metrics": {},
            "cost": {},
        }

    # -- the loop ------------------------------------------------------------------------------
    def run(self) -> dict:
        existing = self._existing()
        if existing is not None and existing["status"] == "complete":
            log(f"run {self.run_id} is already complete: {self.path}")
            return existing
        self._load()
        record = existing or self._new_record()
        start = len(record["phases"])
        if start:
            self._restore(start)
            log(f"resuming {self.run_id} after phase {start}/{len(self.plan)}")
        record["status"], record["error"] = "running", None
        results.write_json_atomic(self.path, record)
        try:
            if self.cfg.fwt and record["b"] is None:
                record["b"] = [self._score_unseen(t)["score"] for t in self.tasks]
            for p in range(start, len(self.plan)):
                self._phase(record, p)
        except KeyboardInterrupt:
            record["status"], record["error"] = "interrupted", "KeyboardInterrupt"
            results.write_json_atomic(self.path, record)
            raise
        except Exception as exc:
            record["status"] = "failed"
            record["error"] = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            results.write_json_atomic(self.path, record)
            raise
        record["status"] = "complete"
        record["run"]["ended_at"] = results.now()
        results.write_json_atomic(self.path, record)
        if not self.cfg.keep_checkpoint:
            self.ckpt_path.unlink(missing_ok=True)
        return record

    def _phase(self, record: dict, p: int) -> None:
        phase = Phase(p, [self.tasks[i] for i in self.plan[p]])
        set_seed(self.cfg.seed * 1000 + p)  # per phase, so a resumed run draws the same numbers
        log(f"phase {p + 1}/{len(self.plan)}: {'+'.join(phase.names)} "
            f"({sum(len(t.train) for t in phase.tasks)} train examples)")
        t0 = time.perf_counter()
        before = param_snapshot(self.model)
        for t in phase.tasks:
            self.model.add_task(t.spec, t.index, self.cfg.seed, t.train.labels)
        self.strategy.before_task(phase)
        after_setup = param_snapshot(self.model)
        head_params, patch_params = added_params(before, after_setup)
        tracker = GradientTracker(self.model)
        losses, examples, tokens, steps = [], 0, 0, 0
        by_task: dict[int, int] = {}
        self.ctx.usage.reset()
        batches = self.strategy.batches(phase)
        total = len(batches) if hasattr(batches, "__len__") else None
        for batch in self.ctx.progress(batches, f"train {'+'.join(phase.names)}", total):
            losses.append(self.strategy.train_step(batch))
            examples += len(batch)
            tokens += batch.num_tokens
            steps += 1
            for t, n in zip(*(x.tolist() for x in batch.task_ids.unique(return_counts=True))):
                by_task[t] = by_task.get(t, 0) + n
        train_time = time.perf_counter() - t0
        self.strategy.after_task(phase)
        trainable = tracker.close()
        after_time = time.perf_counter() - t0 - train_time
        if any(not math.isfinite(v) for v in losses):
            raise FloatingPointError(f"non-finite training loss in phase {p} ({'+'.join(phase.names)})")

        t1 = time.perf_counter()
        row, row_metrics = [], []
        for j, task in enumerate(self.tasks):
            if self.learned[j] <= p:
                m = evaluate(self.model, task, self.ctx)
            elif self.cfg.fwt:
                m = self._score_unseen(task)
            else:
                m = None
            row.append(None if m is None else m["score"])
            row_metrics.append(m)
        eval_time = time.perf_counter() - t1
        state = self.strategy.state_size()
        record["R"].append(row)
        record["R_metrics"].append(row_metrics)
        record["phases"].append({
            "phase": p,
            "tasks": phase.names,
            "steps": steps,
            "examples_seen": examples,
            "tokens_seen": tokens,
            "mean_loss": float(np.mean(losses)) if losses else None,
            "last_loss": losses[-1] if losses else None,
            "train_time_s": train_time,
            "after_task_time_s": after_time,
            "eval_time_s": eval_time,
            "examples_per_s": examples / train_time if train_time > 0 else None,
            **peak_memory_mb(self.ctx.device),
            "sampler": self.resolved.sampler.name if len(phase.tasks) > 1 else None,
            # examples in the training batches per task (replayed ones too), and the share of
            # each phase task's train examples that its batches drew at least once
            "examples_by_task": {self.tasks[t].name: n for t, n in sorted(by_task.items())},
            "data_used": {t.name: {"unique": self.ctx.usage.unique(t.index), "of": len(t.train),
                                   "share": self.ctx.usage.unique(t.index) / len(t.train)}
                          for t in phase.tasks},
            "head_params": head_params,
            "patch_params": patch_params,
            "params_added": head_params + patch_params,
            "params_added_by_module": added_by_module(before, after_setup),
            "trainable_params": trainable,
            "state_floats": state.floats,
            "memory_examples": state.examples,
            "memory_tokens": state.tokens,
        })
        record["metrics"] = metrics.summarize(record["R"], self.learned, record["b"])
        if self.cfg.mtl_tasks is not None:
            record["metrics"] |= metrics.first_phase_split(record["R"], self.learned)
        record["cost"] = self._cost(record)
        self._checkpoint(p)
        results.write_json_atomic(self.path, record)
        scores = ", ".join(f"{t.name} {v * 100:.1f}" for t, v in zip(self.tasks, row) if v is not None)
        log(f"  trained {examples} examples in {train_time:.1f}s (loss {record['phases'][-1]['mean_loss']:.3f}); "
            f"eval {eval_time:.1f}s: {scores}")

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
    def _checkpoint(self, phase: int) -> None:
        # Model and strategy state in one pickle, so state that refers to modules of the model
        # (per-task patches) keeps pointing at the same objects after loading.
        self.ckpt_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.ckpt_path.with_suffix(".tmp")
        torch.save({"phase": phase, "model": self.model, "strategy": self.strategy.state_dict()}, tmp)
        tmp.replace(self.ckpt_path)

    def _restore(self, start: int) -> None:
        if not self.ckpt_path.exists():
            raise UsageError(
                f"cannot resume {self.run_id}: its checkpoint {self.ckpt_path} is missing; "
                f"delete {self.path} to start the run again"
            )
        ckpt = torch.load(self.ckpt_path, map_location=self.ctx.device, weights_only=False)
        if ckpt["phase"] != start - 1:
            raise UsageError(
                f"cannot resume {self.run_id}: checkpoint is after phase {ckpt['phase'] + 1}, the JSON "
                f"after phase {start}; delete {self.path} to start again"
            )
        self.model = self.ctx.model = ckpt["model"]
        self.strategy.setup(self.model, self.ctx)
        self.strategy.load_state_dict(ckpt["strategy"])


def run(cfg: RunConfig) -> dict:
    """Run (or resume) one experiment and return its record."""
    return Runner(cfg).run()
