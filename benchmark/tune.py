"""Choosing a strategy's settings by a stated protocol (Chaudhry et al. 2019, "Efficient Lifelong
Learning with A-GEM", section 4): settings are chosen on the validation split (held out from each
task's training split) of a tuning stream or of the stream's first k tasks, and only then is the
strategy run and scored on the whole stream's test splits. The test split is never read while
tuning: the trial runs are made with `evaluate_test=False`, which does not even load it.

    python -m benchmark tune --strategy lora --tasks sst2 --trials 12
    python -m benchmark run --strategy lora --tasks sst2 --tuned results/tuned/custom_minilm.toml

Optuna searches the strategy's declared `search_space` (strategies/base.py) with its TPE sampler.
The study lives in SQLite (`<tuning dir>/optuna.db`) so that it resumes, or in any RDB URL
(`--storage postgresql://...`) so that several machines share it. Every trial is an ordinary run
whose JSON lands in `<tuning dir>/runs`, so a trial that was interrupted resumes, and a finished
one is never trained twice. The chosen settings go to a TOML per (stream, model) that `run` and
`sweep` read with `--tuned FILE`; its `_study` table says which study chose them, on what.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from pathlib import Path
from typing import Any

from benchmark.config import as_setting, model_name
from benchmark.errors import UsageError

OBJECTIVES = {
    "final_average": "mean validation score over the tuning tasks after the last one",
    "learning_accuracy": "mean validation score of each tuning task right after learning it",
    "accuracy_average": "final mean validation accuracy (tasks with an accuracy)",
}
STUDY_KEY = "_study"


def suggest(trial, name: str, space: tuple) -> Any:
    """One setting drawn by an Optuna trial from its declared range."""
    kind, *args = space
    if kind == "log":
        return trial.suggest_float(name, args[0], args[1], log=True)
    if kind == "float":
        return trial.suggest_float(name, args[0], args[1])
    if kind == "int":
        return trial.suggest_int(name, args[0], args[1])
    if kind == "log-int":
        return trial.suggest_int(name, args[0], args[1], log=True)
    if kind == "choice":
        return trial.suggest_categorical(name, list(args[0]))
    if kind == "grid":  # an enqueued grid point: a numeric range that a grown grid may widen
        values = list(args[0])
        if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            return trial.suggest_int(name, min(values), max(values))
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            return trial.suggest_float(name, min(values), max(values))
        return trial.suggest_categorical(name, values)
    raise ValueError(f"search space of {name!r}: unknown kind {kind!r}")


def grid_value(raw: str) -> Any:
    """A grid point as given on the command line, as the number or word it spells (so that the
    tuned-settings TOML holds lr = 0.0003, not "3e-4")."""
    for tp in (int, float):
        try:
            return tp(raw)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(raw.lower(), raw)


def parse_grid(items: list[str]) -> dict[str, list[Any]]:
    """["lr=1e-4,3e-4", "r=4,8"] -> {"lr": [0.0001, 0.0003], "r": [4, 8]}."""
    grid: dict[str, list[Any]] = {}
    for item in items:
        key, sep, values = item.partition("=")
        points = [v.strip() for v in values.split(",") if v.strip()]
        if not sep or not key.strip() or not points:
            raise UsageError(f"--grid expects key=v1,v2,..., got {item!r} (e.g. --grid lr=1e-4,3e-4,1e-3)")
        values = [grid_value(v) for v in points]
        if any(isinstance(v, float) for v in values) and all(isinstance(v, (int, float)) for v in values):
            values = [float(v) for v in values]  # 0.3,1,3: one float setting, not ints and a float
        grid[key.strip()] = values
    return grid


def search_space(strategy_cls, only: list[str] | None = None) -> dict[str, tuple]:
    space = dict(getattr(strategy_cls.Config, "search_space", {}))
    if only:
        unknown = [k for k in only if k not in space]
        if unknown:
            raise UsageError(f"--params {unknown[0]}: not in {strategy_cls.name}'s search space "
                             f"({', '.join(space)})")
        space = {k: space[k] for k in only}
    if not space:
        raise UsageError(f"strategy {strategy_cls.name!r} declares no search space")
    return space


def default_storage(tuning_dir: Path) -> str:
    return f"sqlite:///{tuning_dir / 'optuna.db'}"


def public_storage(storage: str) -> str:
    """The storage URL as it may be committed: no password, no absolute path of this machine."""
    from urllib.parse import urlsplit, urlunsplit

    if storage.startswith("sqlite:///"):
        path = Path(storage[len("sqlite:///"):])
        return f"sqlite:///{path.name if path.is_absolute() else path}"
    parts = urlsplit(storage)
    host = parts.hostname or ""
    return urlunsplit(parts._replace(netloc=f"{parts.username + '@' if parts.username else ''}{host}"
                                            f"{':' + str(parts.port) if parts.port else ''}"))


def tuned_file(out: Path | None, stream: str, model: str) -> Path:
    return out if out is not None else Path("results") / "tuned" / f"{stream}_{model_name(model)}.toml"


def trial_config(base, params: dict[str, Any], seed: int, tuning_dir: Path):
    """The RunConfig of one trial at one seed: validation only, into the tuning folder."""
    settings = dict(base.strategy_config) | {k: as_setting(v) for k, v in params.items()}
    return dataclasses.replace(base, strategy_config=settings, seed=seed, evaluate_test=False,
                               resume=True, fwt=False, output_dir=str(tuning_dir / "runs"),
                               keep_checkpoint=False)


def objective_value(record: dict, objective: str) -> float:
    value = record["metrics_val"].get(objective)
    if value is None or not math.isfinite(value):
        raise ValueError(f"the trial's validation {objective} is undefined")
    return float(value)


def tune(base, *, trials: int, seeds: list[int], objective: str = "final_average",
         tuning_dir: Path = Path("results/tuning"), storage: str | None = None,
         study_name: str | None = None, params: list[str] | None = None, sampler_seed: int = 0,
         grid: dict[str, list[Any]] | None = None, echo=print) -> dict[str, Any]:
    """Run (or resume) the study and return {"params": best settings, "study": its description}.

    With `grid` ({setting: [values]}) the study tries every combination once (enqueued trials)
    instead of drawing `trials` points from the declared search space: with a budget of a
    handful of trials a small fixed grid is a better search than a random start-up."""
    import optuna

    from benchmark.runconfig import resolve
    from benchmark.runner import run

    if objective not in OBJECTIVES:
        raise UsageError(f"--objective must be one of {', '.join(OBJECTIVES)}, not {objective!r}")
    if base.val_size <= 0:
        raise UsageError("tuning chooses on the validation split: give --val-size > 0")
    resolved = resolve(dataclasses.replace(base, evaluate_test=False))
    if grid:
        if params:
            raise UsageError("--grid names the settings it searches; drop --params")
        fields = {f.name for f in dataclasses.fields(resolved.strategy_cls.Config)}
        unknown = [k for k in grid if k not in fields]
        if unknown:
            raise UsageError(f"--grid {unknown[0]}: {resolved.strategy_cls.name} has no such setting "
                             f"(see python -m benchmark list --strategy {resolved.strategy_cls.name})")
        space = {k: ("grid", v) for k, v in grid.items()}
        trials = math.prod(len(v) for v in grid.values())
    else:
        space = search_space(resolved.strategy_cls, params)
    fixed = sorted(set(space) & set(base.strategy_config))
    if fixed:
        raise UsageError(f"{fixed[0]!r} is both --set and searched; drop one (or use --params)")
    tuning_dir.mkdir(parents=True, exist_ok=True)
    storage = storage or default_storage(tuning_dir)
    name = study_name or f"{base.strategy}_{resolved.stream}_{'+'.join(resolved.tasks)}_{model_name(base.model)}"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # TPE starts with random trials (10 by default); with a small budget half of it is random
    # start-up and half is TPE, so that a study of 8 trials is more than a random search
    sampler = optuna.samplers.TPESampler(seed=sampler_seed, n_startup_trials=min(10, max(3, trials // 2)))
    study = optuna.create_study(study_name=name, storage=storage, direction="maximize",
                                sampler=sampler, load_if_exists=True)
    if grid:  # every point not yet tried, enqueued once: a grid grown later adds only its new points
        todo = _enqueue_grid(study, grid)
    # A trial killed mid-way stays RUNNING in the storage (another machine may still be running
    # it in a shared study): it is not counted, and a new trial takes its place.

    def objective_fn(trial) -> float:
        values = {k: suggest(trial, k, v) for k, v in space.items()}
        scores = []
        for seed in seeds:
            try:
                record = run(trial_config(base, values, seed, tuning_dir))
                scores.append(objective_value(record, objective))
            except ValueError as exc:  # a diverged setting (non-finite loss or weights) is a bad one
                echo(f"trial {trial.number}: {values} failed: {exc}")
                return float("-inf")
        value = sum(scores) / len(scores)
        echo(f"trial {trial.number}: {values} -> validation {objective} {value * 100:.2f}")
        return value

    done = trials - todo if grid else len([t for t in study.trials if t.state.is_finished()])
    if done < trials:
        echo(f"study {name!r}: {done} of {trials} trials done; running {trials - done} more")
        study.optimize(objective_fn, n_trials=trials - done, gc_after_trial=True)
    best = study.best_trial
    from optuna.trial import TrialState

    complete = sum(t.state == TrialState.COMPLETE for t in study.trials)
    if not math.isfinite(best.value):
        raise UsageError(f"every trial of study {name!r} failed; widen or move the search space")
    return {
        "params": best.params,
        "study": {
            "name": name,
            "storage": public_storage(storage),
            "objective": f"validation {objective}",
            "value": best.value,
            "trial": best.number,
            "trials": complete,  # trials that ran to the end; a killed one stays RUNNING in the storage
            "trials_unfinished": len(study.trials) - complete or None,
            "strategy": base.strategy,
            "stream": resolved.stream,
            "tasks": resolved.tasks,
            "model": model_name(base.model),
            "seeds": seeds,
            "val_size": base.val_size,
            "epochs": base.epochs,
            "steps": base.steps,
            "fixed_settings": dict(base.strategy_config),
            "search": {"grid": grid} if grid else
                      {"sampler": "tpe", "space": {k: list(map(str, v)) for k, v in space.items()}},
            "protocol": "Chaudhry et al. 2019: chosen on validation of the tuning tasks; test never read",
        },
    }


def _enqueue_grid(study, grid: dict[str, list[Any]]) -> int:
    """Queue the grid's points that the study has not completed (nor queued) and return how many
    are to run. Optuna's GridSampler would rerun points of an earlier, smaller grid of the study
    (it matches points by their index in one search space) and may skip new ones."""
    import itertools

    from optuna.trial import TrialState

    keys = list(grid)
    done = {tuple(t.params.get(k) for k in keys) for t in study.trials if t.state == TrialState.COMPLETE}
    queued = {tuple(t.system_attrs.get("fixed_params", {}).get(k) for k in keys)
              for t in study.trials if t.state == TrialState.WAITING}
    missing = [p for p in itertools.product(*grid.values()) if p not in done]
    for point in missing:
        if point not in queued:
            study.enqueue_trial(dict(zip(keys, point)))
    return len(missing)


def write_tuned(path: Path, strategy: str, chosen: dict[str, Any]) -> None:
    """Add or replace the strategy's table in the tuned-settings TOML (other strategies stay)."""
    from filelock import FileLock

    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock"):  # studies running side by side share the file
        _write_tuned(path, strategy, chosen)


def _write_tuned(path: Path, strategy: str, chosen: dict[str, Any]) -> None:
    import tomli_w

    data = read_tuned(path) if path.exists() else {}
    study = {k: v for k, v in chosen["study"].items() if v is not None}  # TOML has no null
    # the table holds every setting the chosen trial ran with: the searched ones and those the
    # study held fixed (--set), so that --tuned reproduces the trial that was validated
    fixed = {k: grid_value(v) if isinstance(v, str) else v
             for k, v in chosen["study"].get("fixed_settings", {}).items()}
    data[strategy] = fixed | dict(chosen["params"]) | {STUDY_KEY: study}
    header = ("# Strategy settings chosen by `python -m benchmark tune` on validation splits (held out\n"
              "# from train); test was never read. Each table's _study says how. Used by --tuned.\n")
    tmp = path.with_suffix(".toml.tmp")
    tmp.write_text(header + tomli_w.dumps(data))
    tmp.replace(path)


def share_settings(path: Path, strategy_cls, source: str) -> dict[str, Any]:
    """Give `strategy_cls` the settings tuned for `source` that it also has (e.g. the backbone
    learning rate chosen for finetune, for replay): write its table, whose _study names the
    source study, and return the settings shared. No trial runs; the table says so."""
    table = read_tuned(path).get(source) if path.exists() else None
    if not isinstance(table, dict):
        raise UsageError(f"--share-from {source}: {path} has no [{source}] table (tune {source} first)")
    fields = {f.name for f in dataclasses.fields(strategy_cls.Config)}
    shared = {k: v for k, v in table.items() if k != STUDY_KEY and k in fields}
    if not shared:
        raise UsageError(f"--share-from {source}: none of its settings ({', '.join(k for k in table if k != STUDY_KEY)}) "
                         f"is a setting of {strategy_cls.name}")
    study = dict(table.get(STUDY_KEY, {})) | {"shared_from": source, "strategy": strategy_cls.name,
                                              "note": f"not tuned for {strategy_cls.name}: settings "
                                                      f"chosen for {source} on the same tuning tasks"}
    write_tuned(path, strategy_cls.name, {"params": shared, "study": study | {"fixed_settings": {}}})
    return shared


def read_tuned(path: str | Path) -> dict[str, dict]:
    try:
        return tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise UsageError(f"--tuned {path}: no such file (python -m benchmark tune writes it)") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"--tuned {path}: not a TOML file ({exc})") from None


def tuned_settings(path: str | Path, strategy: str) -> tuple[dict[str, str], dict | None]:
    """(settings as --set strings, the study that chose them) for `strategy`; empty when the file
    has no table for it (a strategy that was not tuned runs at its defaults)."""
    table = read_tuned(path).get(strategy)
    if table is None:
        return {}, None
    if not isinstance(table, dict):
        raise UsageError(f"--tuned {path}: [{strategy}] is not a table")
    study = table.get(STUDY_KEY)
    return {k: as_setting(v) for k, v in table.items() if k != STUDY_KEY}, study
