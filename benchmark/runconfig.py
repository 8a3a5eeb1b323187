"""What a run is: its configuration (`RunConfig`), checked and resolved against the registries
(`resolve`: strategy, stream, order, scenario, sampler, caps) into the `ResolvedRun` that names
it (its run id) before anything is loaded or written.

`RunConfig` is the one place a run option is defined. Each field carries, in its metadata
(`option(...)`), its help text, its command-line flag, whether it is part of the run's identity,
whether it separates leaderboard groups, and since when it exists (`Since`: the value runs from
before it had). From that: the run flags (`add_run_arguments`), the flags' values as a config
(`config_values`), the keys a sweep grid file may set (`grid_keys`), the run id (`identity`,
`ResolvedRun.run_id`), the settings a run record holds (`ResolvedRun.recorded`) and the
leaderboard's setting columns (`setting_columns`, `not_settings`, `absent_values`). Adding a run
option is adding one field.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from benchmark.config import build_config, model_name, parse_assignments
from benchmark.errors import UsageError
from benchmark.plugins import SAMPLERS, STRATEGIES  # registries without torch: `list` stays fast
from benchmark.streamfile import is_stream_file, load_stream_file
from benchmark.tasks import DEFAULT_STREAM, SCENARIOS, STREAMS, resolve_tasks

if TYPE_CHECKING:
    from benchmark.api import Strategy
    from benchmark.samplers import TaskSampler

LEGACY_DEFAULT_STREAM = "glue-small"  # the default stream before mixed4 (run-id compatibility)

# argument groups of the run flags, in the order `--help` shows them
WHAT, MTL, TRAINING, FILES = ("what to run", "multi-task phases (docs/multitask.md)", "data and training", "files")


@dataclass(frozen=True)
class Since:
    """A run option added after runs were recorded: `label` says which change brought it, `absent`
    is the value every run from before it had (and readers give records that lack it). With
    `keep_ids`, a run at `absent` leaves the field out of its run id (with the fields of its
    `id_group`), so runs from before the field keep their ids."""

    label: str
    absent: Any = None
    keep_ids: bool = True


@dataclass(frozen=True)
class Flag:
    """A command-line flag of a RunConfig field: its name, `argparse` arguments, and how its parsed
    value becomes field values (`parse`: value -> {field: value}; default: the field itself)."""

    name: str
    group: str = TRAINING
    kwargs: dict[str, Any] = field(default_factory=dict)
    parse: Callable[[Any], dict[str, Any]] | None = None

    @property
    def dest(self) -> str:
        return self.kwargs.get("dest", self.name.lstrip("-").replace("-", "_"))


def option(default: Any = None, help: str = "", *, flag: Flag | tuple[Flag, ...] | str | None = "",
           identity: bool = True, leaderboard: str | None = "", record: bool = True, grid: bool = True,
           since: Since | None = None, id_group: str | None = None, default_factory: Any = None) -> Any:
    """A RunConfig field and what the harness derives from it:
      help         the flag's help text (and the field's documentation)
      flag         its flag(s): a `Flag`, a group name for a plain `--field-name` flag, or None
      identity     part of the run's identity (the run id hashes it)
      leaderboard  "column": a setting column the leaderboard always shows (in field order);
                   "setting": separates groups, a column when records hold it; None: neither.
                   Default: "setting" for identity fields that the record holds
      record       the run record's `run` section holds it (ResolvedRun.recorded)
      grid         a sweep grid file may set it by name (fields with a flag named after them)
      since        when it appeared, and the value runs from before it had
      id_group     the field whose presence in the run id it shares (sampler_config: sampler)
    """
    flags = () if flag is None else (flag,) if isinstance(flag, Flag) else flag if isinstance(flag, tuple) \
        else "plain"
    meta = {"help": help, "flags": flags, "identity": identity, "record": record, "grid": grid,
            "since": since, "id_group": id_group,
            "leaderboard": ("setting" if identity and record else None) if leaderboard == "" else leaderboard,
            "group": flag if isinstance(flag, str) and flag else TRAINING}
    if default_factory is not None:
        return field(default_factory=default_factory, metadata=meta)
    return field(default=default, metadata=meta)


def _task_list(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def cap_spec(text: str) -> int | tuple[int | None, dict[str, int]]:
    """`N`, or comma-separated items `N` (the default) and `TASK=N` (per-task caps)."""
    default, per_task = None, {}
    for item in filter(None, (i.strip() for i in text.split(","))):
        name, eq, value = item.rpartition("=")
        try:
            number = int(value)
        except ValueError:
            number = -1
        if number < 0 or (eq and not name):
            raise argparse.ArgumentTypeError(
                f"{item!r} is not a cap: give N or TASK=N with N >= 0 (0 = no cap), e.g. 1000,rte=250")
        if eq:
            per_task[name.strip()] = number
        elif default is not None:
            raise argparse.ArgumentTypeError(f"{text!r} gives two default caps; give one N and TASK=N items")
        else:
            default = number
    return default if not per_task else (default, per_task)


def split_caps(value) -> tuple[int | None, dict[str, int]]:
    """A cap from the command line (`cap_spec`) or a grid file (an int) as (default, per task)."""
    return value if isinstance(value, tuple) else (value, {})


def _caps(kind: str) -> Callable[[Any], dict[str, Any]]:
    return lambda value: dict(zip((f"max_{kind}", f"max_{kind}_by_task"), split_caps(value)))


def _lr(value: float | None) -> dict[str, Any]:
    return {} if value is None else {"strategy_config": {"lr": str(value)}}


@dataclass
class RunConfig:
    """Everything that defines a run. Fields that change the numbers go into the run id. The
    leaderboard's fixed setting columns are the `leaderboard="column"` fields in this order."""

    strategy: str = option("finetune", "strategy name (see `list`); default finetune", flag=WHAT,
                           leaderboard=None, grid=False)
    strategy_config: dict[str, Any] = option(
        help="strategy settings, e.g. --set lr=3e-5 (see `list --strategy NAME`)", leaderboard=None,
        default_factory=dict,
        flag=(Flag("--set", WHAT, {"nargs": "+", "default": [], "metavar": "KEY=VALUE", "dest": "settings"},
                   lambda v: {"strategy_config": parse_assignments(v)}),
              Flag("--lr", TRAINING, {"type": float, "default": None,
                                      "help": "learning rate (same as --set lr=...); default 1e-4"}, _lr)))
    stream: str = option(DEFAULT_STREAM, "named stream, or a stream file (.toml/.yaml, see docs/data.md); "
                         f"default {DEFAULT_STREAM}", flag=WHAT, leaderboard="column")
    scenario: str | None = option(
        None, "default: the stream's (task-incremental for GLUE, class-incremental for text5)",
        flag=Flag("--scenario", WHAT, {"choices": list(SCENARIOS)}), leaderboard="column",
        since=Since("scenarios", "task-incremental", keep_ids=False))
    tasks: list[str] | None = option(
        None, "explicit tasks in order (overrides the stream's list), e.g. sst2,rte,mrpc",
        flag=Flag("--tasks", WHAT, {"type": _task_list, "metavar": "A,B,C"}), leaderboard="column",
        record=False)  # the record's own `tasks`
    order: str = option("default", "task order: default, random (seeded by --seed) or a named order of "
                        "the stream", flag=WHAT, leaderboard=None, grid=False)
    order_seed: int | None = option(
        None, "seed of --order random when it should differ from --seed (sweeps use 0, 1, ...)",
        flag=Flag("--order-seed", WHAT, {"metavar": "N"}), leaderboard=None, record=False, grid=False,
        since=Since("order seeds"))  # recorded within `order` ("random-3")
    model: str = option("minilm", "Hugging Face encoder: Hub id or local folder; 'minilm' = the packaged "
                        "all-MiniLM-L6-v2", flag=WHAT, leaderboard="column")
    max_train: int | None = option(
        None, "train examples per task (seeded sample); default: the stream's cap; 0 = all. Per-task caps: "
        "--max-train 1000,rte=250,cola=0 (tasks not named get 1000) or --max-train rte=250 (the others "
        "keep the stream's cap)", leaderboard="column",
        flag=Flag("--max-train", TRAINING, {"type": cap_spec, "metavar": "N|TASK=N,..."}, _caps("train")))
    max_eval: int | None = option(
        None, "test examples per task (fixed sample); default: the stream's cap; 0 = all; per-task caps "
        "as for --max-train", leaderboard="column",
        flag=Flag("--max-eval", TRAINING, {"type": cap_spec, "metavar": "N|TASK=N,..."}, _caps("eval")))
    epochs: int = option(1, "epochs per task; default 1", flag=TRAINING, leaderboard="column")
    batch_size: int = option(32, "training batch size; default 32", flag=TRAINING, leaderboard="column")
    max_length: int = option(128, "tokens per input, longer ones truncated", flag=TRAINING,
                             leaderboard="column")
    pooling: str = option("mean", "sentence pooling; default mean",
                          flag=Flag("--pooling", WHAT, {"choices": ["mean", "cls"]}), leaderboard="column")
    precision: str = option("fp32", "mixed precision through accelerate: bf16 autocast (~1.4x faster on "
                            "CPUs with AMX) or, on a GPU, fp16 with a loss scaler; default fp32",
                            flag=Flag("--precision", TRAINING, {"choices": ["fp32", "bf16", "fp16"]}),
                            leaderboard="column")
    gradient_checkpointing: bool = option(
        False, "keep only each encoder layer's input for backward and recompute the layer there: "
        "less activation memory for a second forward pass of each layer (docs/performance.md); the same "
        "scores, since the recomputation replays the dropout masks", flag=TRAINING, identity=False, leaderboard=None,
        since=Since("gradient checkpointing", False))
    seed: int = option(0, "seed for sampling, initialisation and random orders", flag=WHAT,
                       leaderboard=None, grid=False)
    tuned: str | None = option(
        None, "settings chosen by `tune` (e.g. results/tuned/sst2_minilm.toml); --set overrides them; a "
        "strategy without a table runs at its defaults", flag=Flag("--tuned", WHAT, {"metavar": "TOML"}),
        identity=False, since=Since("tuning"))  # its settings enter strategy_config
    # settings added after the first runs; a leaderboard column (in this order) where records hold them
    max_eval_by_task: dict[str, int] = option(  # set by --max-eval; enters the run id as resolved
        help="per-task test caps, over max_eval", flag=None, default_factory=dict,
        since=Since("per-task caps", {}))
    max_train_by_task: dict[str, int] = option(
        help="per-task train caps, over max_train", flag=None, default_factory=dict,
        since=Since("per-task caps", {}))
    mtl_tasks: int | None = option(
        None, "mtl-then-add: train the first K tasks of the stream together in one phase, then add the "
        "others one per phase (any strategy with the sequential plan)",
        flag=Flag("--mtl-tasks", MTL, {"metavar": "K"}), since=Since("mtl-then-add"))
    sampler: str = option(
        "proportional", "how a phase that trains several tasks (joint, --mtl-tasks) picks the task of "
        "each batch: proportional (default: every example once per epoch), uniform, temperature, sqrt, "
        "annealed, uncertainty (see `list`)", flag=MTL, since=Since("samplers", "proportional"))
    sampler_config: dict[str, Any] = option(
        help="sampler settings, e.g. --sampler temperature --sampler-set temperature=5",
        default_factory=dict, since=Since("samplers", {}), id_group="sampler",
        flag=Flag("--sampler-set", MTL, {"nargs": "+", "default": [], "metavar": "KEY=VALUE",
                                         "dest": "sampler_settings"},
                  lambda v: {"sampler_config": parse_assignments(v)}))
    steps: int | None = option(
        None, "optimizer steps per task instead of epochs (compare strategies at equal steps)",
        flag=Flag("--steps", TRAINING, {"metavar": "N"}), since=Since("step budgets"))
    val_size: int = option(
        500, "validation examples held out from each task's training split (at most a fifth of it; "
        "seeded, disjoint from train); settings are chosen on them, never on test. 0 = no validation "
        "split. Default 500", flag=Flag("--val-size", TRAINING, {"metavar": "N"}),
        since=Since("validation splits", 0, keep_ids=False))
    # identity, but no leaderboard setting
    evaluate_test: bool = option(True, "False: the test split is never read (tuning)", flag=None,
                                 leaderboard=None, since=Since("validation-only runs", True))
    eval_batch_size: int = option(128, "evaluation batch size; default 128", flag=TRAINING,
                                  leaderboard=None, record=False)
    fwt: bool = option(False, "also score unseen tasks after each phase (forward transfer; slower)",
                       flag=TRAINING, leaderboard=None)
    # where and how; not part of the run's identity
    device: str = option("auto", "default: cuda if present", identity=False, record=False,
                         flag=Flag("--device", TRAINING, {"choices": ["auto", "cpu", "cuda"]}))
    data_dir: str | None = option(
        None, "folder of Hub-shaped dataset mirrors (default: $CMTBENCH_DATA_DIR, else the Hub)",
        flag=FILES, identity=False, record=False)
    output_dir: str = option("runs", "where run JSONs go; default runs/", flag=FILES, identity=False,
                             record=False)
    resume: bool = option(False, "continue an unfinished run with this configuration (or reuse a "
                          "finished one)", flag=FILES, identity=False, record=False, grid=False)
    keep_checkpoint: bool = option(False, "keep the model checkpoint after the run", flag=FILES,
                                   identity=False, record=False)
    allow_outside_data: bool = option(  # only the person at the command line may give it
        False, "let a stream file name data files outside its own folder (absolute or ../ paths)",
        flag=FILES, identity=False, record=False, grid=False)
    log_with: str | None = option(
        None, "also log to a tracker, through accelerate: the loss and learning rate of every step, R "
        "after each phase, examples/s and tokens/s. tensorboard (files under OUTPUT_DIR/trackers), wandb "
        "or mlflow; each needs its package", identity=False, record=False,
        flag=Flag("--log-with", FILES, {"choices": ["tensorboard", "wandb", "mlflow"]}))
    # a stream with fixed sizes runs on the data there is (tasks without data left out) instead of
    # stopping at a shortfall (benchmark/availability.py)
    partial_data: bool = option(
        False, "run a stream with fixed sizes (standard-cl, long-15) on the rows the data folder has, "
        "leaving out tasks it lacks, instead of stopping at the first shortfall", flag=FILES,
        since=Since("partial data", False))
    progress: bool = option(True, "no progress bars", identity=False, record=False,
                            flag=Flag("--quiet", FILES, {"action": "store_true", "default": False},
                                      lambda quiet: {"progress": not quiet}))

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
            (self.precision in ("fp32", "bf16", "fp16"), f"--precision must be fp32, bf16 or fp16, not {self.precision!r}"),
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
        """The identity fields as the run id hashes them (`ResolvedRun.run_id` puts in the
        resolved values first), less the fields that run ids from before them did not have."""
        return leave_out_absent(self._identity_values(), type(self))

    def _identity_values(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.metadata["identity"]}
        if self.tasks and d["stream"] == DEFAULT_STREAM:
            # With explicit --tasks the default stream's name matters only through its caps, which
            # the run id holds as resolved: so the id does not depend on which stream is the
            # default, and --tasks runs from before mixed4 became the default keep their id.
            d["stream"] = LEGACY_DEFAULT_STREAM
        return d


# -- what is derived from the fields' metadata ------------------------------------------------------
def _fields(cls: type = RunConfig) -> tuple[dataclasses.Field, ...]:
    return dataclasses.fields(cls)


def flags_of(f: dataclasses.Field) -> tuple[Flag, ...]:
    """The flags of a field (a plain one is `--field-name` in the field's group)."""
    flags = f.metadata["flags"]
    return (Flag("--" + f.name.replace("_", "-"), f.metadata["group"]),) if flags == "plain" else flags


def _argparse_type(f: dataclasses.Field, cls: type) -> dict[str, Any]:
    """A flag's type from the field's annotation: int and float parsed, bool a switch."""
    tp = typing.get_type_hints(cls)[f.name]
    inner = [a for a in typing.get_args(tp) if a is not type(None)] or [tp]
    return {"action": "store_true"} if tp is bool else {"type": inner[0]} if inner[0] in (int, float) else {}


def add_run_arguments(p: argparse.ArgumentParser, defaults: bool = True, cls: type = RunConfig) -> None:
    """The run flags, one per RunConfig field that has one. `defaults=False`: a flag not given is
    absent from the parsed namespace (a sweep tells the flags given from those left alone)."""
    groups = {name: p.add_argument_group(name) for name in (WHAT, MTL, TRAINING, FILES)}
    for f in _fields(cls):
        for flag in flags_of(f):
            kwargs = {"help": f.metadata["help"], "default": f.default,
                      **(_argparse_type(f, cls) if flag.parse is None else {}), **flag.kwargs}
            if not defaults:
                kwargs["default"] = argparse.SUPPRESS
            groups[flag.group].add_argument(flag.name, **kwargs)


def config_values(args: argparse.Namespace, cls: type = RunConfig) -> dict[str, Any]:
    """RunConfig field values from the parsed run flags present in `args`; dict values of several
    flags merge (--set, then --lr)."""
    out: dict[str, Any] = {}
    given = vars(args)
    for f in _fields(cls):
        for flag in flags_of(f):
            if flag.dest not in given:
                continue
            value = given[flag.dest]
            for name, v in (flag.parse(value) if flag.parse else {f.name: value}).items():
                out[name] = out[name] | v if isinstance(v, dict) and isinstance(out.get(name), dict) else v
    return out


def config_from_args(args: argparse.Namespace, cls: type = RunConfig) -> RunConfig:
    """The RunConfig of parsed run flags (`add_run_arguments`)."""
    return cls(**config_values(args, cls))


def grid_keys(cls: type = RunConfig) -> list[str]:
    """RunConfig fields a sweep grid file may set by name: those with a flag named after them,
    less the grid's own axes and what only the command line may give."""
    return [f.name for f in _fields(cls) if f.metadata["grid"]
            and any(flag.dest == f.name for flag in flags_of(f))]


def leave_out_absent(d: dict[str, Any], cls: type = RunConfig) -> dict[str, Any]:
    """`d` without the fields that run ids from before them did not have: a field at its `Since`
    value (with `keep_ids`) is left out, together with the fields of its id group when they are
    all at theirs."""
    groups: dict[str, list[dataclasses.Field]] = {}
    for f in _fields(cls):
        if f.name in d:
            groups.setdefault(f.metadata["id_group"] or f.name, []).append(f)
    out = dict(d)
    for members in groups.values():
        sinces = [f.metadata["since"] for f in members]
        if all(s is not None and s.keep_ids and d[f.name] == s.absent for f, s in zip(members, sinces)):
            for f in members:
                del out[f.name]
    return out


def setting_columns(cls: type = RunConfig) -> list[str]:
    """The leaderboard's fixed setting columns, in field order."""
    return [f.name for f in _fields(cls) if f.metadata["leaderboard"] == "column"]


def not_settings(cls: type = RunConfig) -> set[str]:
    """Recorded run fields that do not separate leaderboard groups."""
    return {f.name for f in _fields(cls) if f.metadata["record"] and f.metadata["leaderboard"] is None}


def absent_values(cls: type = RunConfig) -> dict[str, Any]:
    """The value of each later-added field in records from before it."""
    return {f.name: f.metadata["since"].absent for f in _fields(cls) if f.metadata["since"] is not None}


def recorded_fields(cls: type = RunConfig) -> list[str]:
    """The RunConfig fields a run record's `run` section holds."""
    return [f.name for f in _fields(cls) if f.metadata["record"]]


def identity_fields(cls: type = RunConfig) -> list[str]:
    """The RunConfig fields that make a run's identity (its run id)."""
    return [f.name for f in _fields(cls) if f.metadata["identity"]]


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
    sampler: TaskSampler | None = None  # resolve() always sets it
    # tasks whose cap differs from max_train / max_eval (None = uncapped)
    max_train_by_task: dict[str, int | None] = field(default_factory=dict)
    max_eval_by_task: dict[str, int | None] = field(default_factory=dict)
    # what the data source lacks for a stream with fixed sizes, run anyway (--partial-data)
    shortfalls: list = field(default_factory=list)

    def caps(self, task: str) -> tuple[int | None, int | None]:
        """(train cap, test cap) of one task; None = all its examples."""
        return (self.max_train_by_task.get(task, self.max_train),
                self.max_eval_by_task.get(task, self.max_eval))

    def _resolved_identity(self) -> dict[str, Any]:
        """Identity fields whose value in the run id is the resolved one."""
        return {"tasks": self.tasks, "strategy_config": dataclasses.asdict(self.strategy_config),
                "max_train": self.max_train, "max_eval": self.max_eval,
                "max_train_by_task": self.max_train_by_task, "max_eval_by_task": self.max_eval_by_task,
                "sampler_config": dataclasses.asdict(self.sampler.config)}

    @property
    def run_id(self) -> str:
        ident = leave_out_absent(self.config._identity_values() | self._resolved_identity(), type(self.config))
        digest = hashlib.sha1(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()[:8]
        model = model_name(self.config.model)
        strategy = self.config.strategy.replace(":", "-")  # avalanche:EWC: no ":" in file names
        return f"{strategy}_{self.stream}_{model}_s{self.config.seed}_{digest}"

    def recorded(self) -> dict[str, Any]:
        """The RunConfig fields as the run record's `run` section holds them: resolved (strategy
        and sampler settings, stream, order, scenario, caps) where resolving decides them."""
        from benchmark.runstore import recorded_model

        resolved = self._resolved_identity() | {
            "stream": self.stream, "order": self.order, "scenario": self.scenario,
            "model": recorded_model(self.config.model)}
        return {name: resolved[name] if name in resolved else getattr(self.config, name)
                for name in recorded_fields(type(self.config))}


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
    shortfalls = []
    if stream.fixed_sizes and stream_name == stream.name:
        specs, shortfalls = _check_sizes(cfg, stream, specs)
        tasks = [s.name for s in specs]
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
                       max_train, max_eval, sampler, train_by_task, eval_by_task, shortfalls)


def _check_sizes(cfg: RunConfig, stream, specs: list) -> tuple[list, list]:
    """The tasks a stream with fixed sizes can run on the data source, and what it lacks: a
    UsageError naming every shortfall, unless --partial-data (then tasks without data are left out)."""
    from benchmark.availability import shortfalls as find_shortfalls
    from benchmark.data import MIRROR_HINT, resolve_data_dir

    names = [s.name for s in specs]
    train = _resolve_caps("train", names, cfg.max_train, cfg.max_train_by_task, stream.max_train,
                          stream.max_train_by_task)
    test = _resolve_caps("eval", names, cfg.max_eval, cfg.max_eval_by_task, stream.max_eval,
                         stream.max_eval_by_task)
    data_dir = resolve_data_dir(cfg.data_dir)
    found = find_shortfalls(specs, lambda t: (train[1].get(t, train[0]), test[1].get(t, test[0])), data_dir)
    if found and not cfg.partial_data:
        raise UsageError(f"stream {stream.name!r} needs data that {data_dir.name!r} lacks: "
                         f"{'; '.join(map(str, found))}; add --partial-data to run on what is there "
                         "(scores then compare only with other --partial-data runs)")
    left_out = {f.task for f in found if f.fatal}
    kept = [s for s in specs if s.name not in left_out]
    if not kept:
        raise UsageError(f"stream {stream.name!r}: no task has data in {data_dir.name!r}; {MIRROR_HINT}")
    return kept, found


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
