"""Command line: `python -m benchmark {run,sweep,list,show,leaderboard,plot} ...` (see `python -m benchmark --help`)."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path

from benchmark.errors import UsageError

DESCRIPTION = """\
cmtbench: train a model on a stream of text-classification tasks, one after another, with a
continual-learning strategy, and measure what it keeps (the score matrix R, forgetting, BWT),
what it adds per task and what it costs.

Start with:
  python -m benchmark list                                   strategies, streams, tasks
  python -m benchmark run --strategy finetune                the default stream (mixed4), offline
  python -m benchmark show runs/<run>.json                   the R matrix and metrics of a run
  python -m benchmark sweep --strategies finetune,joint --seeds 0,1,2   a grid of runs
  python -m benchmark leaderboard runs                       a table, and ./leaderboard.csv
  python -m benchmark plot runs                              figures in ./figures/
  python -m benchmark export runs                            every score as tidy CSVs in ./export/
  python -m benchmark validate runs                          check run JSONs (schema, metrics, checkpoints)

Offline: set CMTBENCH_DATA_DIR (or --data-dir) to a folder of Hub-shaped dataset mirrors.
"""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line and exit 2, instead of usage + error
        sys.stderr.write(f"error: {message} (see {self.prog} --help)\n")
        sys.exit(2)


def _int_list(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def add_import_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--import", action="append", default=[], dest="imports", metavar="MODULE",
                   help="import a module of yours first (it registers strategies or tasks); repeatable")


def import_modules(names: list[str]) -> None:
    import importlib

    if names and "" not in sys.path:
        sys.path.insert(0, "")  # modules in the current folder, as `python -m` users expect
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise UsageError(f"--import {name}: {exc}") from None


def add_run_arguments(p: argparse.ArgumentParser, defaults: bool = True) -> None:
    """--import and the run flags, which benchmark/runconfig.py derives from RunConfig's fields."""
    from benchmark import runconfig

    add_import_argument(p)
    runconfig.add_run_arguments(p, defaults)


def _results_parser(sub, name: str, help: str, description: str) -> argparse.ArgumentParser:
    """A subcommand that reads a folder of run JSONs."""
    p = sub.add_parser(name, help=help, description=description)
    p.add_argument("results", help="folder of run JSONs (searched recursively)")
    return p


def cmd_run(args: argparse.Namespace) -> int:
    from benchmark.results import format_summary
    from benchmark.runconfig import config_from_args
    from benchmark.runner import Runner

    runner = Runner(config_from_args(args))
    if args.resume and not runner.path.exists():
        from benchmark.runstore import near_misses, settings_of

        for name, diffs in near_misses(runner.out_dir, settings_of(runner.resolved))[:1]:
            sys.stderr.write(f"warning: --resume found no run with these settings; {name} (same strategy, "
                             f"stream and seed) differs in {', '.join(diffs[:4])}: starting a new run\n")
    record = runner.run()
    print(format_summary(record))
    print(f"results: {runner.path}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    """Every name a user can give, one line each; `--strategy NAME` (and the like) for details.
    The overview imports no plug-in and no torch (benchmark/plugins.py); details import the one."""
    from benchmark.config import MODEL_ALIASES
    from benchmark.plugins import SAMPLERS, SELECTORS, STRATEGIES
    from benchmark.tasks import STREAMS, TASKS

    detail = next(((kind, getattr(args, kind)) for kind in ("strategy", "selector", "sampler", "stream", "task")
                   if getattr(args, kind, None)), None)
    if detail is not None:
        return _list_detail(*detail)
    width = max(18, *map(len, STRATEGIES.summaries()))  # the names' column fits the longest
    print("strategies (run --strategy NAME; list --strategy NAME for its settings):")
    for name, summary in STRATEGIES.summaries().items():
        print(f"  {name:<{width}} {summary}")
    import importlib.util

    if importlib.util.find_spec("avalanche") is None:
        print(f"  {'':<{width}} (avalanche:* need the avalanche extra: pip install -c constraints.txt "
              "-e '.[avalanche]'; docs/avalanche.md)")
    print("selectors (coreset-replay --set selector=NAME):")
    for name, summary in SELECTORS.summaries().items():
        print(f"  {name:<{width}} {summary}")
    print("samplers (--sampler NAME --sampler-set KEY=VALUE; phases that train several tasks):")
    for name, summary in SAMPLERS.summaries().items():
        print(f"  {name:<{width}} {summary}")
    print("streams (--stream NAME [--order ORDER]; list --stream NAME for its tasks):")
    for name, s in STREAMS.items():
        orders = ", ".join(["default", "random", *s.orders])
        print(f"  {name:<{width}} {s.scenario}: {' -> '.join(s.tasks)}; orders: {orders}")
    print("models (--model ALIAS, or any Hugging Face encoder: a Hub id or a local folder):")
    for name, (hub_id, summary) in MODEL_ALIASES.items():
        print(f"  {name:<{width}} {hub_id}: {summary}")
    print("tasks (--tasks A,B,C):")
    for name, t in TASKS.items():
        cfg = f" ({t.config})" if t.config else ""
        kind = "regression" if t.regression else f"{t.num_labels} classes"
        print(f"  {name:<{width}} {t.dataset}{cfg}, {kind}, score = mean of {'+'.join(t.main)}")
    print("scenarios beyond the stream's: --mtl-tasks K (mtl-then-add) trains the first K tasks "
          "together, then adds one task per phase")
    return 0


def _list_detail(kind: str, name: str) -> int:
    """One plug-in, stream or task in full (imports that plug-in's module)."""
    import inspect

    from benchmark.config import describe_config

    if kind == "stream":
        from benchmark.tasks import STREAMS

        s = STREAMS.get(name)
        caps = f"; caps {s.max_train} train / {s.max_eval} test per task" if s.max_train or s.max_eval else ""
        print(f"{name}: {s.description}\nscenario: {s.scenario} (supports {', '.join(s.scenarios)}){caps}")
        print(f"tasks: {' -> '.join(s.tasks)}")
        for order, tasks in s.orders.items():
            print(f"order {order}: {' -> '.join(tasks)}")
        return 0
    if kind == "task":
        from benchmark.tasks import TASKS

        t = TASKS.get(name)
        print(f"{name}: {t.description or t.dataset}\ndataset: {t.dataset}"
              f"{f' ({t.config})' if t.config else ''}, splits {t.train_split} / {t.test_split}")
        print(f"labels: {', '.join(t.label_names) if not t.regression else 'regression'}; "
              f"metrics: {', '.join(t.metrics)}; score = mean of {'+'.join(t.main)}")
        return 0
    from benchmark.plugins import SAMPLERS, SELECTORS, STRATEGIES

    obj = {"strategy": STRATEGIES, "selector": SELECTORS, "sampler": SAMPLERS}[kind].get(name)
    print(f"{name}: {inspect.cleandoc(obj.__doc__ or '')}")
    if kind == "strategy":
        print(f"scenarios: {', '.join(obj.scenarios)}")
    if getattr(obj, "formula", ""):
        print(f"formula: {obj.formula}")
    if hasattr(obj, "Config"):
        flag = {"strategy": "--set", "sampler": "--sampler-set"}[kind]
        print(f"settings ({flag} KEY=VALUE):")
        for setting, tp, default, help_ in describe_config(obj.Config):
            print(f"  {setting:<16} {tp:<10} default {default!s:<10} {help_}")
    elif kind == "selector":
        params = [p for p in inspect.signature(obj).parameters.values() if p.kind is p.KEYWORD_ONLY
                  or p.default is not p.empty]
        if params:
            print("settings: " + ", ".join(f"{p.name}={p.default}" for p in params))
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from benchmark.results import format_summary, read_run

    bad = 0
    for path in args.runs:  # a file that is not a valid run: one line, and on to the next
        try:
            if not Path(path).is_file():
                raise UsageError(f"no run file at {path}")
            print(format_summary(read_run(Path(path))))
        except (ValueError, OSError) as exc:
            sys.stderr.write(f"error: {exc}\n")
            bad += 1
    return 2 if bad else 0


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="python -m benchmark", description=DESCRIPTION,
                    formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    p = sub.add_parser("run", help="run one experiment (a strategy over a stream)",
                       description="Run one strategy over a stream and write its run JSON.")
    add_run_arguments(p)
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("list", help="list strategies, selectors, samplers, streams, models and tasks",
                       description="Every name a user can give, one line each; --strategy NAME "
                                   "(or --selector, --sampler, --stream, --task) shows one in full.")
    add_import_argument(p)
    g = p.add_mutually_exclusive_group()
    g.add_argument("--strategy", default=None, metavar="NAME", help="one strategy: its paper and settings")
    g.add_argument("--selector", default=None, metavar="NAME", help="one coreset selector")
    g.add_argument("--sampler", default=None, metavar="NAME", help="one task sampler: formula and settings")
    g.add_argument("--stream", default=None, metavar="NAME", help="one stream: tasks, caps and orders")
    g.add_argument("--task", default=None, metavar="NAME", help="one task: dataset, labels and metrics")
    p.set_defaults(func=cmd_list)
    p = sub.add_parser("show", help="print the R matrix and metrics of run JSONs")
    p.add_argument("runs", nargs="+", help="run JSON files")
    p.set_defaults(func=cmd_show)

    from benchmark.tune import OBJECTIVES
    from benchmark.tune import __doc__ as tune_doc

    p = sub.add_parser("tune", help="choose a strategy's settings on validation (Optuna)",
                       description=tune_doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_arguments(p)
    g = p.add_argument_group("tuning")
    g.add_argument("--trials", type=int, default=12, help="trials in the study in all (a rerun adds "
                   "only the missing ones); default 12")
    g.add_argument("--tune-tasks", type=int, default=None, metavar="K",
                   help="tune on the first K tasks of the stream (Chaudhry et al. 2019); default: all "
                        "tasks of --stream/--tasks")
    g.add_argument("--tune-seeds", default=None, metavar="A,B",
                   help="seeds each trial runs (the objective is their mean); default --seed")
    g.add_argument("--objective", default="final_average", choices=list(OBJECTIVES),
                   help="validation metric to maximise; default final_average")
    g.add_argument("--params", default=None, metavar="K1,K2",
                   help="tune only these settings of the strategy's search space")
    g.add_argument("--grid", nargs="+", default=None, metavar="KEY=V1,V2",
                   help="try every combination of these values once instead of --trials draws from "
                        "the search space, e.g. --grid lr=1e-4,3e-4,1e-3; rerun with more values to "
                        "add only the new points")
    g.add_argument("--tuning-dir", default="results/tuning",
                   help="trial runs and the SQLite study go here; default results/tuning")
    g.add_argument("--storage", default=None, metavar="URL",
                   help="Optuna storage: an RDB URL shared by several machines; default "
                        "sqlite:///TUNING_DIR/optuna.db")
    g.add_argument("--study", default=None, help="study name; default strategy_stream_tasks_model")
    g.add_argument("--tuned-output", default=None, metavar="TOML",
                   help="where the chosen settings go; default results/tuned/STREAM_MODEL.toml")
    g.add_argument("--share-from", default=None, metavar="STRATEGY",
                   help="run no trials: give --strategy the settings already tuned for STRATEGY in "
                        "the same file that it also has (e.g. replay takes finetune's lr)")
    p.set_defaults(func=cmd_tune)

    from benchmark.sweep import __doc__ as sweep_doc
    from benchmark.sweep import add_sweep_arguments

    p = sub.add_parser("sweep", help="run a grid: strategies x seeds x task orders",
                       description=sweep_doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_arguments(p, defaults=False)
    add_sweep_arguments(p)
    p.set_defaults(func=cmd_sweep)
    p = _results_parser(sub, "leaderboard", "aggregate run JSONs into leaderboard.csv and a table",
                        "Group complete runs by stream, scenario, task set, model, protocol and "
                        "strategy config; mean and std over seeds and orders.")
    p.add_argument("--output", default=None, metavar="CSV",
                   help="where the CSV goes; default ./leaderboard.csv in the current directory "
                        "(refused when that is inside RESULTS: nothing is written there unasked)")
    p.add_argument("--format", default="table", choices=["table", "markdown", "latex"],
                   help="how the table is printed: plain text, markdown for docs, or a LaTeX "
                        "tabular (booktabs) for a paper")
    p.add_argument("--baseline", default=None, metavar="STRATEGY",
                   help="also each group's final average, normalised score and forgetting minus this "
                        "strategy's (e.g. finetune), paired by seed and task order within a setting, with "
                        "95%% CIs over the pairs: less noisy than comparing the two means")
    p.set_defaults(func=cmd_leaderboard)
    p = _results_parser(sub, "export", "every run's scores and metrics as tidy CSVs for your own analysis",
                        "Write runs.csv (one row per complete run: setting, strategy, seed, order, "
                        "metrics, costs) and scores.csv (one row per score of each run's R and R_val: "
                        "split, phase, task, score and the metrics behind it).")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="where the two CSVs go; default ./export in the current directory "
                        "(refused when that is inside RESULTS: nothing is written there unasked)")
    p.set_defaults(func=cmd_export)
    p = _results_parser(sub, "plot", "comparison figures (PNG, PDF or SVG) from run JSONs",
                        "R heatmaps, each task's score along the stream, forgetting, and final "
                        "average vs what a strategy keeps per task, per stream and model.")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="where the figures go; default ./figures in the current directory "
                        "(refused when that is inside RESULTS: nothing is written there unasked)")
    p.add_argument("--format", default="png", choices=["png", "pdf", "svg"],
                   help="file format of the figures; default png")
    p.add_argument("--strategies", default=None, metavar="A,B",
                   help="draw only these strategies (names, or labels such as "
                        "'coreset-replay (selector=herding)'); default all")
    p.add_argument("--metric", default="final_average", choices=["final_average", "normalised_average"],
                   help="the score of the Pareto plot; normalised_average needs records with "
                        "single-task references; default final_average")
    p.add_argument("--layout", default="strategies", choices=["strategies", "tasks"],
                   help="the along-the-stream figure: one panel per strategy (each task a line; "
                        "default) or one panel per task (each strategy a line: pick a few with "
                        "--strategies)")
    p.add_argument("--baseline", default=None, metavar="STRATEGY",
                   help="also draw paired_<setting>: each strategy's final average and forgetting minus "
                        "this strategy's (e.g. finetune), paired by seed and task order, with intervals; "
                        "with --strategies, the baseline is drawn too")
    p.add_argument("--per-run", action="store_true", help="also draw the R heatmap of every run")
    p.add_argument("--interval", default="ci95", choices=["ci95", "se"],
                   help="error bars and bands: Student-t 95%% confidence interval of the mean "
                        "(default) or ±1 standard error")
    p.set_defaults(func=cmd_plot)
    p = _results_parser(sub, "validate", "check run JSONs: schema, metrics recomputed from R, checkpoints",
                        "Check every run JSON under a folder: the schema, the summary metrics "
                        "recomputed from R, R against R_metrics, the checkpoint an unfinished run "
                        "names, and no absolute machine paths. One line per problem; exit 0 when "
                        "clean, 1 when a problem is found.")
    p.set_defaults(func=cmd_validate)
    return parser


def cmd_validate(args: argparse.Namespace) -> int:
    from benchmark.validate import validate_folder

    return validate_folder(args.results)


def cmd_tune(args: argparse.Namespace) -> int:
    from benchmark.runconfig import config_from_args
    from benchmark.tune import parse_grid, tune, tuned_file, write_tuned

    base = config_from_args(args)
    if args.tune_tasks is not None:  # Chaudhry et al.: the first k tasks of the stream
        from benchmark.runconfig import resolve

        tasks = resolve(base).tasks
        if not 1 <= args.tune_tasks <= len(tasks):
            raise UsageError(f"--tune-tasks must be in 1..{len(tasks)}, not {args.tune_tasks}")
        base = dataclasses.replace(base, tasks=tasks[: args.tune_tasks], order="default")
    stream = base.stream if not Path(base.stream).suffix else Path(base.stream).stem
    path = tuned_file(Path(args.tuned_output) if args.tuned_output else None, stream, base.model)
    if args.share_from:
        from benchmark.runconfig import resolve
        from benchmark.tune import share_settings

        shared = share_settings(path, resolve(base).strategy_cls, args.share_from)
        print(f"{base.strategy} takes {args.share_from}'s {', '.join(f'{k}={v}' for k, v in shared.items())}; "
              f"written to {path}")
        return 0
    seeds = [int(s) for s in _int_list(args.tune_seeds)] if args.tune_seeds else [base.seed]
    chosen = tune(base, trials=args.trials, seeds=seeds, objective=args.objective,
                  tuning_dir=Path(args.tuning_dir), storage=args.storage, study_name=args.study,
                  params=_int_list(args.params) if args.params else None,
                  grid=parse_grid(args.grid) if args.grid else None)
    write_tuned(path, base.strategy, chosen)
    shown = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in chosen["params"].items())
    print(f"best of {chosen['study']['trials']} trials: {shown} (validation "
          f"{args.objective} {chosen['study']['value'] * 100:.2f})")
    print(f"written to {path}; use it with: python -m benchmark run --strategy {base.strategy} --tuned {path}")
    return 0


def _busy(result) -> str:
    return f"{len(result.busy)} in progress in another process, " if result.busy else ""


def cmd_sweep(args: argparse.Namespace) -> int:
    from benchmark.sweep import (
        SweepResult,
        cpu_left,
        cpu_left_summary,
        grid_from_args,
        plan,
        run_status,
        run_sweep,
        submitit_executor,
    )

    if args.jobs < 1:
        raise UsageError(f"--jobs must be >= 1, not {args.jobs}")
    grid, base, cli_settings = grid_from_args(args)
    runs = plan(grid, base, cli_settings)
    if args.orders is not None and args.orders.strip().isdigit():
        from benchmark.tasks import STREAMS

        named = STREAMS.get(base.stream).orders if base.stream in STREAMS else {}
        n = args.orders.strip()
        if n in named:
            _warn(f"--orders {n} draws {n} random orders; for the stream's named order {n} give "
                  f"--order {n} (or `--orders {n},`)")
    out_dir = Path(base.output_dir)
    print(f"sweep: {len(runs)} runs ({len(grid.strategies)} strategy settings x {len(grid.seeds)} "
          f"seeds x {len(grid.orders)} orders) into {out_dir}")
    if args.dry_run:
        left = cpu_left(runs)
        for item in runs:
            status = run_status(item.path)
            todo = {None: "new", "complete": "skip (complete)"}.get(status, f"resume ({status})")
            if left.get(item.run_id) is not None:
                todo += f", about {left[item.run_id]:,.0f} CPU s"
            print(f"  {item.label}: {todo} -> {item.path.name}")
        print(cpu_left_summary(left))
        return 0
    executor = None
    if args.executor == "submitit":
        executor = submitit_executor(out_dir / "submitit", dict(
            setting.split("=", 1) if "=" in setting else (setting, "") for setting in args.executor_settings))
    elif args.executor_settings:
        raise UsageError("--executor-set is for --executor submitit; give that too, or leave it out")
    result = SweepResult()
    try:
        result = run_sweep(runs, result=result, jobs=args.jobs, executor=executor, imports=args.imports)
    except KeyboardInterrupt:
        print(f"sweep interrupted after {result.complete} complete, {result.skipped} skipped, "
              f"{_busy(result)}{len(result.failed)} failed; run the same command again to continue")
        return 130
    print(f"sweep done: {result.complete} complete, {result.skipped} skipped (already complete), "
          f"{_busy(result)}{len(result.failed)} failed; run JSONs in {out_dir}")
    if result.busy:
        print("in progress in another process: " + "; ".join(result.busy) + " (that process finishes them; "
              "rerun this command afterwards to check)")
    if result.failed:
        print("failed: " + "; ".join(result.failed) + " (their JSONs hold the error; rerun to retry)")
        return 1
    print(f"next: python -m benchmark leaderboard {out_dir}")
    return 0


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def output_outside(results: str | Path, given: str | Path | None, default: str, flag: str) -> Path:
    """Where a command that reads `results` writes: `given` when the flag was passed (anywhere,
    inside `results` too: that was asked for), else `default` in the current directory, refused
    when that lies inside `results`, so a command never writes into the folder it reads unasked."""
    if given is not None:
        return Path(given)
    out = Path(default)
    inside = Path.cwd().resolve() / default
    if inside.is_relative_to(Path(results).resolve()):
        raise UsageError(f"the default output ./{default} is inside the results folder {results}; "
                         f"pass {flag} to write there or run from elsewhere")
    return out


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from benchmark.leaderboard import display_frame, leaderboard, to_latex, to_markdown

    output = output_outside(args.results, args.output, "leaderboard.csv", "--output")
    board, loaded = leaderboard(args.results, _warn, args.baseline)
    output.parent.mkdir(parents=True, exist_ok=True)
    board.to_csv(output, index=False, float_format="%.10g")
    shown = display_frame(board)
    if args.format == "markdown":
        print(to_markdown(shown))
    elif args.format == "latex":
        print(to_latex(shown))
    else:
        print(shown.to_string(index=False))
    print(f"leaderboard: {loaded.summary()}; {len(board)} groups; scores x100, mean ± std over "
          f"seeds and orders; written to {output}", file=sys.stderr)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from benchmark.export import export

    out = output_outside(args.results, args.out, "export", "--out")
    runs, scores, loaded = export(args.results, _warn)
    out.mkdir(parents=True, exist_ok=True)
    runs.to_csv(out / "runs.csv", index=False, float_format="%.10g")
    scores.to_csv(out / "scores.csv", index=False, float_format="%.10g")
    print(f"export: {loaded.summary()}; {len(scores)} scores; written to {out / 'runs.csv'} and "
          f"{out / 'scores.csv'}", file=sys.stderr)
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from benchmark.plots import parse_strategies, plot_results

    out = output_outside(args.results, args.out, "figures", "--out")
    files = plot_results(args.results, out, args.per_run, _warn, args.interval, args.format,
                         parse_strategies(args.strategies), args.metric, args.layout, args.baseline)
    for f in files:
        print(f)
    print(f"plot: {len(files)} figures written", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        import_modules(getattr(args, "imports", []))
        return args.func(args)
    except UsageError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("interrupted; finished tasks are saved: rerun with --resume to continue\n")
        return 130
    except BrokenPipeError:  # the reader went away (`show ... | head`): not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 0


if __name__ == "__main__":
    sys.exit(main())
