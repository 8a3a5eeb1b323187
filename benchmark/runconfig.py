"""What a run is: its configuration (`RunConfig`, the command line's flags), checked and resolved
against the registries (`resolve`: strategy, stream, order, scenario, sampler, caps) into the
`ResolvedRun` that names it (its run id) before anything is loaded or written."""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from benchmark.api import STRATEGIES, Strategy
from benchmark.config import build_config, model_name, parse_assignments
from benchmark.errors import UsageError
from benchmark.samplers import PROPORTIONAL, SAMPLERS, TaskSampler
from benchmark.streamfile import is_stream_file, load_stream_file
from benchmark.tasks import DEFAULT_STREAM, SCENARIOS, STREAMS, resolve_tasks

LEGACY_DEFAULT_STREAM = "glue-small"  # the default stream before mixed4 (run-id compatibility)


@dataclass
class RunConfig:
    """Everything that defines a run. Fields that change the numbers go into the run id."""

    strategy: str = "finetune"
    strategy_config: dict[str, Any] = field(default_factory=dict)  # --set key=value, --lr
    stream: str = DEFAULT_STREAM
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
    steps: int | None = None  # optimizer steps per task (per phase), replacing epochs when set
    val_size: int = 500  # validation rows held out from each task's training split (at most 1/5)
    evaluate_test: bool = True  # False: the test split is never read (tuning)
    batch_size: int = 32
    eval_batch_size: int = 128
    precision: str = "fp32"
    fwt: bool = False
    device: str = "auto"
    # where and how; not part of the run's identity
    tuned: str | None = None  # a TOML of tuned settings (`tune`); its settings enter strategy_config
    output_dir: str = "runs"
    data_dir: str | None = None
    resume: bool = False
    keep_checkpoint: bool = False
    progress: bool = True
    allow_outside_data: bool = False  # stream-file data files outside the stream file's folder

    NON_IDENTITY = ("output_dir", "data_dir", "resume", "keep_checkpoint", "progress", "device",
                    "allow_outside_data", "tuned")

    def __post_init__(self) -> None:
        checks = [
            (self.epochs >= 1, f"--epochs must be >= 1, not {self.epochs}"),
            (self.steps is None or self.steps >= 1, f"--steps must be >= 1, not {self.steps}"),
            (self.val_size >= 0, f"--val-size must be >= 0, not {self.val_size}"),
            (self.evaluate_test or not self.fwt, "--fwt scores unseen tasks on test; a run that does "
             "not read test cannot have it"),
            (self.evaluate_test or self.val_size > 0,
             "a run that does not read test needs a validation split: give --val-size > 0"),
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
        if d["steps"] is None:
            del d["steps"]
        if d["evaluate_test"]:
            del d["evaluate_test"]
        if self.tasks and d["stream"] == DEFAULT_STREAM:
            # With explicit --tasks the default stream's name matters only through its caps, which
            # the run id holds as resolved: so the id does not depend on which stream is the
            # default, and --tasks runs from before mixed4 became the default keep their id.
            d["stream"] = LEGACY_DEFAULT_STREAM
        # per-task caps enter the run id as resolved (ResolvedRun.run_id), stream-file caps included
        del d["max_train_by_task"], d["max_eval_by_task"]
        return {k: v for k, v in d.items() if k not in self.NON_IDENTITY}


def split_caps(value) -> tuple[int | None, dict[str, int]]:
    """A cap from the command line (`cap_spec`) or a grid file (an int) as (default, per task)."""
    return value if isinstance(value, tuple) else (value, {})


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """The RunConfig of parsed run flags (benchmark.__main__.add_run_arguments)."""
    settings = parse_assignments(args.settings)
    if args.lr is not None:
        settings["lr"] = str(args.lr)
    return RunConfig(
        strategy=args.strategy, strategy_config=settings, stream=args.stream, tasks=args.tasks,
        order=args.order, order_seed=args.order_seed, scenario=args.scenario, model=args.model, pooling=args.pooling, max_length=args.max_length,
        sampler=args.sampler, sampler_config=parse_assignments(args.sampler_settings), mtl_tasks=args.mtl_tasks,
        seed=args.seed, epochs=args.epochs, steps=args.steps, val_size=args.val_size,
        **dict(zip(("max_train", "max_train_by_task"), split_caps(args.max_train))),
        **dict(zip(("max_eval", "max_eval_by_task"), split_caps(args.max_eval))),
        batch_size=args.batch_size, eval_batch_size=args.eval_batch_size, precision=args.precision,
        fwt=args.fwt, device=args.device, output_dir=args.output_dir, data_dir=args.data_dir,
        resume=args.resume, keep_checkpoint=args.keep_checkpoint, progress=not args.quiet,
        tuned=args.tuned, allow_outside_data=bool(getattr(args, "allow_outside_data", False)),
    )


@dataclass
class ResolvedRun:
    """The config with the stream resolved: what actually runs."""

    config: RunConfig
    strategy_cls: type[Strategy]
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
        model = model_name(self.config.model)
        strategy = self.config.strategy.replace(":", "-")  # avalanche:EWC: no ":" in file names
        return f"{strategy}_{self.stream}_{model}_s{self.config.seed}_{digest}"


def resolve(cfg: RunConfig) -> ResolvedRun:
    """Check names and numbers before anything is loaded or written."""
    strategy_cls = STRATEGIES.get(cfg.strategy)
    settings = dict(cfg.strategy_config)
    if cfg.tuned:  # tuned settings first; --set and grid settings override them
        from benchmark.tune import tuned_settings

        settings = tuned_settings(cfg.tuned, cfg.strategy)[0] | settings
    strategy_config = build_config(strategy_cls.Config, settings)
    stream = (load_stream_file(cfg.stream, cfg.allow_outside_data) if is_stream_file(cfg.stream)
              else STREAMS.get(cfg.stream))
    order_seed = cfg.seed if cfg.order_seed is None else cfg.order_seed
    order_tasks, order = stream.ordered(cfg.order, order_seed)
    if cfg.tasks is not None and not cfg.tasks:
        raise UsageError("--tasks names no task; give task names (e.g. --tasks sst2,rte) or leave it "
                         "out to run the stream's tasks")
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
        from strategies.base import (
            BaseStrategy,  # imported when a run is resolved, not with the harness
        )

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


def phase_plan(strategy: Strategy, num_tasks: int, mtl_tasks: int | None) -> list[list[int]]:
    """Stream positions per phase: the strategy's plan, or with `mtl_tasks` = k (mtl-then-add)
    the first k tasks together and then one task per phase."""
    if mtl_tasks is None:
        return strategy.plan(num_tasks)
    return [list(range(mtl_tasks))] + [[i] for i in range(mtl_tasks, num_tasks)]
