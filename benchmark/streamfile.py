"""User streams from a TOML or YAML file: tasks by Hub id or local CSV / JSONL / parquet files.

    name = "support"                       # optional; default: the file name
    scenario = "task-incremental"          # optional; or class-/domain-incremental
    max_train = 1000                       # optional default caps
    max_eval = 500

    [[tasks]]
    name = "sst2"                          # a built-in task, by name alone
    max_train = 250                        # optional per-task caps over the stream's

    [[tasks]]
    name = "tickets"
    train = "tickets_train.csv"            # paths relative to the stream file
    test = "tickets_test.jsonl"
    text = ["subject", "body"]             # joined into one text; `pair` for a second segment
    label = "category"
    label_names = ["bug", "question", "idea"]

    [[tasks]]
    name = "news"
    dataset = "fancyzhx/ag_news"           # a Hub dataset (or a mirror folder name via `mirror`)
    text = ["text"]
    label_names = ["World", "Sports", "Business", "Sci/Tech"]
    test_split = "test"

docs/data.md has the complete reference. Every problem is a UsageError naming the file and task.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from benchmark.errors import UsageError
from benchmark.paths import check_name, data_file
from benchmark.tasks import SCENARIOS, TASKS, Stream, TaskSpec

STREAM_KEYS = {"name", "description", "scenario", "max_train", "max_eval", "orders", "tasks"}
TASK_KEYS = {"name", "dataset", "config", "mirror", "train", "test", "text", "pair", "label",
             "label_names", "regression", "train_split", "test_split", "metrics", "main",
             "label_space", "description", "max_train", "max_eval"}
_FROM_FILES: set[str] = set()  # task names registered by stream files (reloading replaces them)
FORMATS = {".csv": "csv", ".tsv": "csv", ".jsonl": "json", ".json": "json", ".parquet": "parquet"}


def is_stream_file(name: str) -> bool:
    return Path(name).suffix.lower() in (".toml", ".yaml", ".yml")


def _read(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise UsageError(f"stream file {str(path)!r} does not exist")
    text = path.read_text()
    try:
        if path.suffix.lower() == ".toml":
            data = tomllib.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as exc:  # TOMLDecodeError or yaml.YAMLError
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UsageError(f"stream file {path.name}: cannot parse it ({first})") from None
    if not isinstance(data, dict):
        raise UsageError(f"stream file {path.name}: expected a table of keys at the top level")
    return data


def _check_keys(where: str, data: dict, allowed: set[str]) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise UsageError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(allowed))})")


def _cap(where: str, key: str, table: dict) -> int | None:
    """The cap `key` of a stream or task table (None when absent): an integer >= 0."""
    if key not in table:
        return None
    value = table[key]
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise UsageError(f"{where}: {key} must be an integer >= 0")
    return value


def _strings(where: str, key: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise UsageError(f"{where}: {key!r} must be a string or a non-empty list of strings")
    return tuple(value)


def _task(path: Path, i: int, entry: Any, allow_outside_data: bool = False) -> TaskSpec:
    where = f"stream file {path.name}, task {i + 1}"
    if not isinstance(entry, dict) or "name" not in entry:
        raise UsageError(f"{where}: each task needs at least a 'name'")
    _check_keys(where, entry, TASK_KEYS)
    name = check_name(f"{where}: the task name", entry["name"])
    if "." in name:  # a task name keys the model's heads, where a '.' would mean a submodule
        raise UsageError(f"{where}: the task name {name!r} holds a '.'; use '_' or '-' instead")
    where = f"stream file {path.name}, task {name!r}"
    if set(entry) == {"name"}:
        return TASKS.get(name)  # a built-in task
    if name in TASKS and name not in _FROM_FILES:
        raise UsageError(f"{where}: the name is taken by a built-in task; choose another name")
    local = "train" in entry or "test" in entry
    if local == ("dataset" in entry):
        raise UsageError(f"{where}: give either 'dataset' (a Hub id) or 'train' and 'test' files")
    for key in ("text", "label_names") if not entry.get("regression") else ("text",):
        if key not in entry:
            raise UsageError(f"{where}: missing {key!r}")
    kwargs: dict[str, Any] = {}
    if local:
        files = {}
        for split in ("train", "test"):
            if split not in entry:
                raise UsageError(f"{where}: missing {split!r} file")
            file = data_file(path.parent, where, split, entry[split], allow_outside_data)
            if not file.is_file():
                raise UsageError(f"{where}: {split} file {entry[split]!r} does not exist")
            files[split] = str(file)
        suffixes = {FORMATS.get(Path(f).suffix.lower()) for f in files.values()}
        if None in suffixes or len(suffixes) != 1:
            raise UsageError(f"{where}: train and test must both be .csv/.tsv, .jsonl/.json or .parquet")
        kwargs |= {"dataset": suffixes.pop(), "data_files": files, "test_split": "test"}
        if any(Path(f).suffix.lower() == ".tsv" for f in files.values()):
            raise UsageError(f"{where}: .tsv files need a comma separator; convert them to .csv")
    else:
        kwargs |= {"dataset": entry["dataset"], "config": entry.get("config"), "mirror": entry.get("mirror"),
                   "train_split": entry.get("train_split", "train"),
                   "test_split": entry.get("test_split", "validation")}
    regression = bool(entry.get("regression", False))
    default_metrics = ("pearson", "spearman") if regression else ("accuracy",)
    metrics = _strings(where, "metrics", entry.get("metrics", list(default_metrics)))
    try:
        return TaskSpec(
            name, text_fields=_strings(where, "text", entry["text"]),
            pair_fields=_strings(where, "pair", entry["pair"]) if "pair" in entry else (),
            label_field=entry.get("label", "label"),
            label_names=() if regression else _strings(where, "label_names", entry["label_names"]),
            regression=regression, metrics=metrics,
            main=_strings(where, "main", entry.get("main", list(metrics))),
            label_space=entry.get("label_space"), description=entry.get("description", ""), **kwargs,
        )
    except ValueError as exc:
        raise UsageError(f"{where}: {exc}") from None


def load_stream_file(path: str | Path, allow_outside_data: bool = False) -> Stream:
    """Read, check and register a stream file's tasks; returns its Stream (not registered).

    Names (the stream's, the tasks') become parts of file names: they must be safe path
    components. Data files resolve relative to the stream file's folder and must stay inside it
    unless `allow_outside_data` (--allow-outside-data)."""
    path = Path(path)
    data = _read(path)
    _check_keys(f"stream file {path.name}", data, STREAM_KEYS)
    if "name" in data:
        stream_name = check_name(f"stream file {path.name}: its name", data["name"])
    else:
        stream_name = check_name(f"stream file {path.name}: its file name (or give name = ...)", path.stem)
    entries = data.get("tasks")
    if not isinstance(entries, list) or not entries:
        raise UsageError(f"stream file {path.name}: needs a non-empty list of [[tasks]]")
    specs = [_task(path, i, e, allow_outside_data) for i, e in enumerate(entries)]
    names = [s.name for s in specs]
    dup = next((n for i, n in enumerate(names) if n in names[:i]), None)
    if dup:
        raise UsageError(f"stream file {path.name}: task {dup!r} appears twice")
    scenario = data.get("scenario", "task-incremental")
    if scenario not in SCENARIOS:
        raise UsageError(f"stream file {path.name}: scenario must be one of {', '.join(SCENARIOS)}")
    caps = {key: _cap(f"stream file {path.name}", key, data) for key in ("max_train", "max_eval")}
    by_task = {key: {name: _cap(f"stream file {path.name}, task {name!r}", key, entry)
                     for name, entry in zip(names, entries) if key in entry}
               for key in ("max_train", "max_eval")}
    orders = {}
    for oname, order in (data.get("orders") or {}).items():
        order = _strings(f"stream file {path.name}, order {oname!r}", "order", order)
        if sorted(order) != sorted(names):
            raise UsageError(f"stream file {path.name}: order {oname!r} must list each task once")
        orders[str(oname)] = order
    for s in specs:
        if s.name in _FROM_FILES or s.name not in TASKS:
            TASKS.remove(s.name)
            TASKS.add(s.name, s)
            _FROM_FILES.add(s.name)
    others = tuple(sc for sc in SCENARIOS if sc != scenario)
    return Stream(stream_name, tuple(names), scenario=scenario,
                  scenarios=(scenario, *others), orders=orders, max_train=caps["max_train"],
                  max_eval=caps["max_eval"], max_train_by_task=by_task["max_train"],
                  max_eval_by_task=by_task["max_eval"], description=str(data.get("description", "")))
