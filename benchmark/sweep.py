"""Sweeps: a grid of runs (strategies and their setting variants x seeds x task orders) into one
output folder, one run after another.

    python -m benchmark sweep --strategies finetune,joint --seeds 0,1,2 --orders 3 --output-dir runs/s
    python -m benchmark sweep --grid grid.toml                   # a grid from a file

Each run is an ordinary run with its own JSON: a run that is complete is skipped, an unfinished
one resumes (RunConfig.resume), and a failed one is reported while the sweep goes on; the exit
code is 1 when any run failed. A grid file holds `strategies`, `seeds`, `orders`, `settings` and
any run flag by its option name (`stream`, `epochs`, `max_train`, ...); flags given on the command
line override the file. `--orders N` draws N random orders with order seeds 0..N-1, recorded in
each run JSON as run.order = "random-<order seed>".

Runs are planned seed-major (every strategy at seed 0, then at seed 1, ...), so a sweep stopped
part-way still compares every strategy. By default they happen in this process, one after
another: modules loaded with `--import` (and tasks registered by tests) stay registered, no run
pays the start-up of Python and torch again, and the runner already turns a failed run into a
recorded status and an exception that the sweep catches. A run that kills the process (out of
memory) stops the sweep; rerunning the same command continues after the runs already complete.
`--jobs N` runs N at once in forked workers (which keep those registrations), each with
1/N of the CPU threads; runs are independent (one JSON and one lock each), so this is safe.

Beyond one machine, `--executor submitit` hands each run to submitit as a job: on Slurm when the
machine has it, else in local processes (`--executor-set cluster=local`), with submitit's settings
(`--executor-set timeout_min=120 slurm_partition=gpu gpus_per_node=1`). Jobs start in a fresh
Python: the `--import` modules are imported again there and tasks registered in this process are
handed over. The sweep waits for them and reports each as above; its logs are under
OUTPUT_DIR/submitit. Stopping the sweep leaves submitted jobs running; rerunning the command skips
the runs that completed and resumes the others.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import gc
import statistics
import time
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmark.config import _convert, as_setting
from benchmark.errors import RunInProgress, UsageError
from benchmark.formatting import mean_std
from benchmark.runconfig import RunConfig, cap_spec, config_values, grid_keys, split_caps

GRID_KEYS = ("strategies", "seeds", "orders", "settings")
EXECUTORS = ("local", "submitit")
# Besides the grid's own keys, a grid file sets the run options that RunConfig marks for it by
# their field names (benchmark.runconfig.grid_keys), and `lr`, the --lr shorthand for a setting.


@dataclass(frozen=True)
class OrderSpec:
    """One task order of the grid: the stream's, a named one, a seeded random one, or explicit tasks."""

    label: str
    order: str = "default"
    order_seed: int | None = None
    tasks: tuple[str, ...] | None = None


@dataclass
class Grid:
    strategies: list[tuple[str, dict[str, str]]] = field(default_factory=list)  # (name, settings)
    seeds: list[int] = field(default_factory=list)
    orders: list[OrderSpec] = field(default_factory=list)
    settings: dict[str, str] = field(default_factory=dict)  # for every strategy
    run: dict[str, Any] = field(default_factory=dict)  # RunConfig field values from the file


@dataclass
class PlannedRun:
    label: str
    config: RunConfig
    run_id: str
    path: Path
    setting: str = ""  # the strategy and its settings variant, as in the label


@dataclass
class SweepResult:
    complete: int = 0
    skipped: int = 0
    failed: list[str] = field(default_factory=list)  # labels of the failed runs
    busy: list[str] = field(default_factory=list)  # labels of runs another live process is running


# -- parsing the grid ---------------------------------------------------------------------------
def _settings(where: str, table: Any) -> dict[str, str]:
    if table is None:
        return {}
    if not isinstance(table, dict):
        raise UsageError(f"{where}: expected a table of settings (key = value), not {table!r}")
    out = {}
    for key, value in table.items():
        if isinstance(value, dict) or value is None:
            raise UsageError(f"{where}: setting {key!r} must be a number, string, boolean or list")
        out[str(key)] = as_setting(value)
    return out


def parse_strategies(where: str, value: Any) -> list[tuple[str, dict[str, str]]]:
    """`a,b` or ["a", "b"]; or {name: {settings}} / {name: [{variant}, {variant}]} (one run per variant)."""
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, list) and all(isinstance(v, str) for v in value) and value:
        return [(name, {}) for name in value]
    if isinstance(value, dict) and value:
        out = []
        for name, spec in value.items():
            variants = spec if isinstance(spec, list) else [spec]
            if not variants:
                raise UsageError(f"{where}: strategies.{name} lists no variants")
            out += [(str(name), _settings(f"{where}: strategies.{name}", v)) for v in variants]
        return out
    raise UsageError(f"{where}: strategies must be a list of names or a table of name = settings")


def parse_seeds(where: str, value: Any) -> list[int]:
    if isinstance(value, str):
        try:
            value = [int(v) for v in value.split(",") if v.strip()]
        except ValueError:
            raise UsageError(f"{where}: seeds must be integers separated by commas, not {value!r}") from None
    if not isinstance(value, list) or not value or not all(type(v) is int for v in value):
        raise UsageError(f"{where}: seeds must be a non-empty list of integers, not {value!r}")
    if len(set(value)) != len(value):
        raise UsageError(f"{where}: seeds repeat a value: {value}")
    return value


def _order_name(name: str) -> OrderSpec:
    if name.startswith("random-") and name[len("random-"):].isdigit():
        return OrderSpec(name, "random", int(name[len("random-"):]))
    return OrderSpec(name, name)


def parse_orders(where: str, value: Any) -> list[OrderSpec]:
    """N (N random orders, order seeds 0..N-1); names such as `default,random-3,2`; or, in a file,
    a list whose items are names or explicit task lists."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if type(value) is int:
        if value < 1:
            raise UsageError(f"{where}: orders = {value}: give at least one order")
        return [OrderSpec(f"random-{k}", "random", k) for k in range(value)]
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, list) or not value:
        raise UsageError(f"{where}: orders must be a number, names separated by commas, or a list")
    out = []
    for i, item in enumerate(value):
        if isinstance(item, str):
            out.append(_order_name(item))
        elif isinstance(item, list) and item and all(isinstance(t, str) for t in item):
            out.append(OrderSpec(f"explicit-{i + 1}", tasks=tuple(item)))
        else:
            raise UsageError(f"{where}: order {i + 1} must be a name or a list of task names, not {item!r}")
    return out


def _read_file(path: Path, what: str) -> Any:
    if not path.is_file():
        raise UsageError(f"{what} {str(path)!r} does not exist")
    text = path.read_text()
    try:
        if path.suffix.lower() == ".toml":
            import tomllib  # Python 3.11+

            return tomllib.loads(text)
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            return yaml.safe_load(text)
    except Exception as exc:  # TOMLDecodeError or yaml.YAMLError
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UsageError(f"{what} {path.name}: cannot parse it ({first})") from None
    return None  # not TOML or YAML: the caller decides


def load_orders_file(path: str | Path) -> list[OrderSpec]:
    """Explicit orders: TOML/YAML `orders = [[a, b, c], ...]` or `[orders] name = [a, b, c]`;
    any other file holds one order per line, tasks separated by commas or spaces (# comments)."""
    path = Path(path)
    data = _read_file(path, "orders file")
    where = f"orders file {path.name}"
    if data is None:
        lines = [ln.split("#", 1)[0].replace(",", " ").split() for ln in path.read_text().splitlines()]
        data = {"orders": [ln for ln in lines if ln]}
    if not isinstance(data, dict) or set(data) != {"orders"}:
        raise UsageError(f"{where}: expected one key, 'orders'")
    orders = data["orders"]
    if isinstance(orders, dict):
        specs = []
        for name, tasks in orders.items():
            if not isinstance(tasks, list) or not tasks or not all(isinstance(t, str) for t in tasks):
                raise UsageError(f"{where}: order {name!r} must be a list of task names")
            specs.append(OrderSpec(str(name), tasks=tuple(tasks)))
        return specs
    specs = parse_orders(where, orders)
    if any(s.tasks is None for s in specs):
        raise UsageError(f"{where}: every order must be a list of task names")
    return specs


def _caps_entry(where: str, key: str, value: str | dict) -> dict[str, Any]:
    """A grid's per-task caps: "1000,rte=250" as `--max-train` takes them, or a table
    {rte = 250, cola = 0}; as RunConfig's max_* and max_*_by_task."""
    text = value if isinstance(value, str) else ",".join(f"{k}={v}" for k, v in value.items())
    try:
        default, per_task = split_caps(cap_spec(text))
    except argparse.ArgumentTypeError as exc:
        raise UsageError(f"{where}: {key}: {exc}") from None
    return ({key: default} if default is not None else {}) | {f"{key}_by_task": per_task}


def load_grid(path: str | Path) -> Grid:
    """Read and check a grid file (TOML or YAML); every problem is a one-line UsageError. Run
    options are coerced as `--set` values are (benchmark.config._convert): "1000" is 1000."""
    path = Path(path)
    if path.suffix.lower() not in (".toml", ".yaml", ".yml"):
        raise UsageError(f"grid file {path.name}: expected a .toml, .yaml or .yml file")
    data = _read_file(path, "grid file")
    where = f"grid file {path.name}"
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise UsageError(f"{where}: expected a table of keys at the top level")
    run_keys = [*grid_keys(), "lr"]
    known = (*GRID_KEYS, *run_keys)
    for key in data:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise UsageError(f"{where}: unknown key {key!r}.{hint} Known keys: {', '.join(sorted(known))}")
    hints = typing.get_type_hints(RunConfig) | {"lr": float | None}
    grid = Grid()
    for key in run_keys:
        if key in ("max_train", "max_eval") and isinstance(data.get(key), (str, dict)):
            grid.run.update(_caps_entry(where, key, data[key]))  # per-task caps, as on the command line
        elif key in data:
            try:
                grid.run[key] = _convert(key, hints[key], data[key])
            except UsageError as exc:
                raise UsageError(f"{where}: {exc}") from None
    if "strategies" in data:
        grid.strategies = parse_strategies(where, data["strategies"])
    if "seeds" in data:
        grid.seeds = parse_seeds(where, data["seeds"])
    if "orders" in data:
        grid.orders = parse_orders(where, data["orders"])
    grid.settings = _settings(f"{where}: settings", data.get("settings"))
    return grid


# -- the command line ---------------------------------------------------------------------------
def add_sweep_arguments(p: argparse.ArgumentParser) -> None:
    """The grid's axes, for a parser that has the run flags without defaults
    (`add_run_arguments(p, defaults=False)`: a flag left alone is absent, and the grid file or
    RunConfig's default gives it)."""
    g = p.add_argument_group("the grid (a single --strategy, --seed or --order also works)")
    g.add_argument("--grid", default=None, metavar="FILE",
                   help="TOML or YAML grid: strategies (with settings and variants), seeds, orders, "
                        "settings, and run flags by name; flags on the command line override it")
    g.add_argument("--strategies", default=None, metavar="A,B", help="strategies to run, e.g. finetune,ewc")
    g.add_argument("--seeds", default=None, metavar="0,1,2", help="seeds, e.g. 0,1,2; default: --seed")
    orders = g.add_mutually_exclusive_group()
    orders.add_argument("--orders", default=None, metavar="N|A,B",
                        help="N: N random orders with order seeds 0..N-1; or names separated by commas "
                             "(default, random-K, or named orders of the stream: one named order N is "
                             "`N,` or --order N); default: --order")
    orders.add_argument("--orders-file", default=None, metavar="FILE",
                        help="explicit task orders: one per line (tasks separated by commas), or "
                             "TOML/YAML `orders = [[a, b], [b, a]]`")
    g.add_argument("--dry-run", action="store_true", help="list the runs, what would happen to each and the CPU time left (from complete runs)")
    g.add_argument("--jobs", type=int, default=1, metavar="N",
                   help="runs at once on this machine, each with its share of the CPU threads "
                        "(forked workers); default 1: one after another in this process")
    g.add_argument("--executor", choices=EXECUTORS, default="local",
                   help="local (default): this machine, see --jobs; submitit: one job per run through "
                        "submitit (Slurm, or local processes with --executor-set cluster=local)")
    g.add_argument("--executor-set", nargs="+", default=[], metavar="KEY=VALUE", dest="executor_settings",
                   help="submitit settings: cluster=slurm|local|debug, and its job parameters, e.g. "
                        "timeout_min=120 slurm_partition=gpu gpus_per_node=1 cpus_per_task=8")


def grid_from_args(args: argparse.Namespace) -> tuple[Grid, RunConfig, dict[str, str]]:
    """The grid, the shared run config (command line over grid file over RunConfig's defaults)
    and the strategy settings given on the command line (--set, --lr), which beat the file's."""
    given = config_values(args)  # only the run flags given on the command line
    cli_settings = given.pop("strategy_config", {})
    strategy, seed = given.pop("strategy", None), given.pop("seed", None)
    order, order_seed = given.pop("order", None), given.pop("order_seed", None)
    grid = load_grid(args.grid) if args.grid else Grid()
    values = dict(grid.run)
    if values.get("lr") is not None:
        grid.settings = {"lr": as_setting(values["lr"])} | grid.settings
    values.pop("lr", None)
    base = RunConfig(**(values | given))

    if strategy is not None and args.strategies is not None:
        raise UsageError("give --strategy or --strategies, not both")
    if strategy is not None or args.strategies is not None:
        # names on the command line pick from the file's strategies, keeping their settings
        chosen = parse_strategies("--strategies", args.strategies or strategy)
        grid.strategies = [v for name, _ in chosen
                           for v in ([v for v in grid.strategies if v[0] == name] or [(name, {})])]
    elif not grid.strategies:
        grid.strategies = [(base.strategy, {})]

    if seed is not None and args.seeds is not None:
        raise UsageError("give --seed or --seeds, not both")
    if seed is not None:
        grid.seeds = [seed]
    elif args.seeds is not None:
        grid.seeds = parse_seeds("--seeds", args.seeds)
    elif not grid.seeds:
        grid.seeds = [base.seed]

    single = order is not None or order_seed is not None
    if single and (args.orders is not None or args.orders_file is not None):
        raise UsageError("give --order (and --order-seed) or --orders/--orders-file, not both")
    if args.orders_file is not None:
        grid.orders = load_orders_file(args.orders_file)
    elif args.orders is not None:
        grid.orders = parse_orders("--orders", args.orders)
    elif single or not grid.orders:
        order = order or base.order
        grid.orders = [OrderSpec(f"random-{order_seed}" if order_seed is not None else order, order, order_seed)]
    return grid, base, cli_settings


def plan(grid: Grid, base: RunConfig, cli_settings: dict[str, str] | None = None) -> list[PlannedRun]:
    """Every run of the grid, resolved (names and settings checked) before any of them starts.
    Strategy settings: the file's `settings`, then the strategy's own, then the command line's."""
    from benchmark.runner import Runner

    runs: list[PlannedRun] = []
    seen: dict[str, str] = {}
    # seed-major: a sweep stopped part-way has every strategy at the first seeds, which compare
    for seed in grid.seeds:
        for name, settings in grid.strategies:
            shown = ",".join(f"{k}={v}" for k, v in settings.items())
            setting = f"{name}{f' ({shown})' if shown else ''}"
            for order in grid.orders:
                label = f"{setting} seed {seed} order {order.label}"
                cfg = dataclasses.replace(
                    base, strategy=name, seed=seed, resume=True,
                    strategy_config=grid.settings | settings | (cli_settings or {}),
                    order=order.order, order_seed=order.order_seed,
                    tasks=list(order.tasks) if order.tasks else base.tasks,
                )
                try:
                    runner = Runner(cfg)
                except UsageError as exc:
                    raise UsageError(f"{label}: {exc}") from None
                if runner.run_id in seen:
                    raise UsageError(f"{label} is the same run as {seen[runner.run_id]}; "
                                     "remove one from the grid")
                seen[runner.run_id] = label
                runs.append(PlannedRun(label, cfg, runner.run_id, runner.path, setting))
    return runs


def run_status(path: Path) -> str | None:
    """The status of the run JSON at `path`; None when there is none, "unreadable" when invalid."""
    if not path.exists():
        return None
    record = _read_record(path)
    return "unreadable" if record is None else record["status"]


def _read_record(path: Path) -> dict | None:
    """The run JSON at `path`; None when there is none or it is invalid."""
    from benchmark.results import read_run

    try:
        return read_run(path) if path.exists() else None
    except ValueError:
        return None


def cpu_left(runs: list[PlannedRun]) -> dict[str, float | None]:
    """The CPU seconds each unfinished run of the sweep may still take, by run id (None where
    nothing tells): for each phase it has not finished, the median CPU time of that phase in the
    sweep's complete runs of the same strategy setting (other seeds and orders). Phase by phase,
    because a resumed run has its first phases behind it and replay's later phases cost more."""
    records = {item.run_id: _read_record(item.path) for item in runs}
    by_setting: dict[str, dict[int, list[float]]] = {}  # phase index -> CPU s of complete runs
    n_phases: dict[str, int] = {}
    for item in runs:
        rec = records[item.run_id]
        if rec is None or rec["status"] != "complete":
            continue
        n_phases[item.setting] = len(rec["phases"])
        for i, phase in enumerate(rec["phases"]):
            if phase.get("cpu_time_s") is not None:
                by_setting.setdefault(item.setting, {}).setdefault(i, []).append(phase["cpu_time_s"])
    left: dict[str, float | None] = {}
    for item in runs:
        rec = records[item.run_id]
        if rec is not None and rec["status"] == "complete":
            continue
        known = by_setting.get(item.setting, {})
        done = len(rec["phases"]) if rec is not None else 0
        todo = range(done, len(rec["plan"]) if rec is not None and rec.get("plan") else n_phases.get(item.setting, 0))
        left[item.run_id] = (sum(statistics.median(known[i]) for i in todo)
                             if known and all(i in known for i in todo) else None)
    return left


def cpu_left_summary(left: dict[str, float | None], lead: str = "to do") -> str:
    """One line: how many runs are left and the CPU time that `cpu_left` expects of them."""
    if not left:
        return "nothing to do: every run is complete"
    known = [v for v in left.values() if v is not None]
    line = f"{lead}: {len(left)} run{'s' if len(left) != 1 else ''}"
    if known:
        line += (f", about {sum(known) / 3600:.2f} CPU-hours for {len(known)} of them (the median CPU "
                 "time of each phase in this sweep's complete runs of the same strategy setting)")
    if len(known) < len(left):
        line += f"; {len(left) - len(known)} without a complete run of their setting to go by"
    return line


def _echo(line: str) -> None:
    print(line, flush=True)  # progress shows at once when the output goes to a file


def _summary(record: dict) -> str:
    return mean_std(record["metrics"].get("final_average"))


# A run that was unfinished when the sweep started and is complete when its turn comes: another
# process (a second sweep over the same folder) finished it. Reported as skipped, not as run.
MEANWHILE = "completed meanwhile"


def _run_one(config: RunConfig, path: Path) -> str:
    """One planned run (its JSON at `path`): its final average, or MEANWHILE."""
    from benchmark.runner import run

    return MEANWHILE if run_status(path) == "complete" else _summary(run(config))


def _run_in_worker(config: RunConfig, path: Path) -> tuple[str, float]:
    """One run in a worker process of `--jobs`: its final average and seconds, or the exception
    (which the parent reports like an in-process failure)."""
    t0 = time.perf_counter()
    try:
        return _run_one(config, path), time.perf_counter() - t0
    finally:
        gc.collect()


def _init_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)  # each run gets its share of the machine's cores


def _fork_pool(jobs: int):
    """A pool of `jobs` forked workers (not spawned: tasks and strategies registered in this
    process by --import or by a test stay registered in the workers). Run-level parallelism is
    the concurrent.futures pool's; the sweep adds only the bookkeeping."""
    import multiprocessing
    import os
    from concurrent.futures import ProcessPoolExecutor

    threads = max(1, (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1) // jobs)
    return ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("fork"),
                               initializer=_init_worker, initargs=(threads,))


def _job(config: RunConfig, path: Path, specs: list, imports: list[str]) -> tuple[str, float]:
    """One run as a submitit job, in a fresh Python: the modules and tasks the sweep's process had
    registered, then the run (its final average and seconds)."""
    import importlib
    import sys

    from benchmark.tasks import TASKS

    if "" not in sys.path:
        sys.path.insert(0, "")  # --import modules of the folder the sweep started in
    for name in imports:
        importlib.import_module(name)
    for spec in specs:
        if spec.name not in TASKS:
            TASKS.add(spec.name, spec)
    return _run_in_worker(config, path)


def _job_tasks(config: RunConfig) -> list:
    """The TaskSpecs a job needs handed over: the run's tasks, unless a stream file defines them
    (the job reads the file)."""
    from benchmark.runconfig import resolve
    from benchmark.streamfile import is_stream_file
    from benchmark.tasks import resolve_tasks

    return [] if is_stream_file(config.stream) else resolve_tasks(resolve(config).tasks)


JOB_POLL_S = 2.0  # how often the sweep asks submitit whether its jobs are done


def _job_done(job) -> bool:
    try:
        return job.done()
    except Exception:  # noqa: BLE001 - the debug executor's failed job: done, its error follows
        return True


class JobFailed(Exception):
    """A submitit job's failure, named by the last line of its traceback."""


def _job_error(exc: BaseException) -> BaseException:
    """submitit reports a job's exception as text (the job's traceback): its last line says what."""
    import submitit

    if not isinstance(exc, submitit.core.utils.FailedJobError | submitit.core.utils.UncompletedJobError):
        return exc
    lines = [line.strip() for line in str(exc).splitlines() if line.strip() and not set(line.strip()) <= {"-"}]
    last = lines[-1] if lines else type(exc).__name__
    busy = f"{RunInProgress.__module__}.{RunInProgress.__name__}: "
    return RunInProgress(last.removeprefix(busy)) if last.startswith(busy) else JobFailed(last)


def submitit_executor(folder: Path, settings: dict[str, str]):
    """submitit's AutoExecutor: Slurm when the machine has it, else `cluster=local` or `debug`
    (in this process); the other settings are its job parameters (update_parameters)."""
    try:
        import submitit
    except ImportError:
        raise UsageError("--executor submitit needs the submitit package: pip install submitit "
                         "(or leave --executor out to run here)") from None
    import yaml

    settings = {k: yaml.safe_load(v) if v else None for k, v in settings.items()}  # 8 -> 8, gpu -> "gpu"
    cluster = settings.pop("cluster", None)
    try:
        executor = submitit.AutoExecutor(folder=str(folder), cluster=cluster)
        executor.update_parameters(**settings)
    except (ValueError, AssertionError, TypeError, NameError) as exc:
        raise UsageError(f"--executor-set: {str(exc).splitlines()[0]}; see submitit's AutoExecutor "
                         "parameters (e.g. timeout_min, slurm_partition, gpus_per_node)") from None
    return executor


def run_sweep(runs: list[PlannedRun], echo: Callable[[str], None] = _echo,
              result: SweepResult | None = None, jobs: int = 1, executor: Any = None,
              imports: list[str] | None = None) -> SweepResult:
    """Run the planned runs, `jobs` at a time (one: in this process, one after another), or as
    jobs of a submitit `executor`; a failed run is reported and the others go on. Counts go into
    `result` as they happen (pass one in to keep them after an interruption)."""
    result = result if result is not None else SweepResult()
    width = len(str(len(runs)))
    todo = []
    for i, item in enumerate(runs, 1):
        head = f"[{i:>{width}}/{len(runs)}] {item.label}"
        before = run_status(item.path)
        if before == "complete":
            result.skipped += 1
            echo(f"{head}: skipped, already complete ({item.path.name})")
        else:
            todo.append((head, item, before))

    def report(head: str, item: PlannedRun, before: str | None, seconds: float, outcome) -> None:
        if isinstance(outcome, str) and outcome == MEANWHILE:  # a worker's copy, not the object
            result.skipped += 1
            echo(f"{head}: skipped, completed meanwhile by another process ({item.path.name})")
            return
        if isinstance(outcome, RunInProgress):  # another sweep over the folder has it: not a failure
            result.busy.append(item.label)
            echo(f"{head}: skipped, in progress in another process ({str(outcome).split(' (')[0]})")
            return
        if isinstance(outcome, BaseException):  # the failure is in the run's JSON too
            message = str(outcome).splitlines()[0] if str(outcome) else ""
            result.failed.append(item.label)
            echo(f"{head}: FAILED after {seconds:.0f}s: {type(outcome).__name__}: {message}")
            return
        result.complete += 1
        resumed = f", resumed from {before}" if before else ""
        echo(f"{head}: complete in {seconds:.0f}s{resumed}, final average {outcome} ({item.path.name})")
        left = cpu_left(runs)
        if left:  # what a long sweep's log says of the time to go (the estimate of --dry-run)
            echo(f"  {cpu_left_summary(left, lead='left in this sweep')}")

    if executor is not None:
        pending = []
        for head, item, before in todo:
            job = executor.submit(_job, item.config, item.path, _job_tasks(item.config), list(imports or []))
            echo(f"{head}: submitted as job {job.job_id}")
            pending.append((job, head, item, before, time.perf_counter()))
        # polled here rather than with submitit.helpers.as_completed, whose done() check lets the
        # error of a failed job through with the debug executor (cluster=debug runs jobs in done())
        while pending:
            finished = [p for p in pending if _job_done(p[0])]
            for entry in finished:
                job, head, item, before, t0 = entry
                pending.remove(entry)
                exc = job.exception()
                if exc is not None:
                    report(head, item, before, time.perf_counter() - t0, _job_error(exc))
                else:
                    summary, seconds = job.result()
                    report(head, item, before, seconds, summary)
            if pending and not finished:
                time.sleep(JOB_POLL_S)
        return result

    if jobs <= 1:
        for head, item, before in todo:
            t0 = time.perf_counter()
            try:
                outcome = _run_one(item.config, item.path)
            except Exception as exc:  # noqa: BLE001 - reported, and the sweep goes on
                outcome = exc
            finally:
                gc.collect()
            report(head, item, before, time.perf_counter() - t0, outcome)
        return result

    from concurrent.futures import FIRST_COMPLETED, wait

    with _fork_pool(jobs) as pool:
        pending = {}
        for head, item, before in todo:
            pending[pool.submit(_run_in_worker, item.config, item.path)] = (head, item, before, time.perf_counter())
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                head, item, before, t0 = pending.pop(future)
                exc = future.exception()
                if exc is not None:
                    report(head, item, before, time.perf_counter() - t0, exc)
                else:
                    summary, seconds = future.result()
                    report(head, item, before, seconds, summary)
    return result
