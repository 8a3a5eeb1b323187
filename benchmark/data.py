"""Loading, tokenising and batching task data.

Data always goes through `datasets.load_dataset`: from the Hub id by default, or from a folder of
Hub-shaped mirrors (`--data-dir` / CMTBENCH_DATA_DIR) that holds `<dir>/glue`, `<dir>/ag_news`, ...
Batches use dynamic padding (to the longest sequence in the batch) and, for training,
length-grouped sampling: on a CPU, padding tokens are the biggest waste of time.
"""

from __future__ import annotations

import hashlib
import os
import socket
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import torch

from benchmark.errors import UsageError
from benchmark.tasks import TaskSpec

DATA_DIR_ENV = "CMTBENCH_DATA_DIR"
MIRROR_HINT = (
    f"point --data-dir or {DATA_DIR_ENV} at a folder of Hub-shaped mirrors (e.g. ../shared/data)"
)
EVAL_SAMPLE_SEED = 0  # test subsets are the same for every run seed, so runs compare on equal ground


def resolve_data_dir(data_dir: str | os.PathLike | None) -> Path | None:
    """The data folder from the flag, else the environment variable, else None (use the Hub)."""
    value = data_dir if data_dir not in (None, "") else os.environ.get(DATA_DIR_ENV) or None
    if value is None:
        return None
    path = Path(value).expanduser().resolve()
    if not path.is_dir():
        raise UsageError(f"data folder {str(value)!r} does not exist; {MIRROR_HINT}")
    return path


def set_offline() -> None:
    """Switch the Hugging Face libraries to offline mode (no network retries).

    The variables are read at import, so the already imported modules' flags are set too.
    """
    os.environ["HF_DATASETS_OFFLINE"] = "1"
    os.environ["HF_HUB_OFFLINE"] = "1"
    import datasets.config
    import huggingface_hub.constants

    datasets.config.HF_HUB_OFFLINE = True
    huggingface_hub.constants.HF_HUB_OFFLINE = True


def hub_reachable(timeout: float = 2.0) -> bool:
    """One quick TCP connect to the Hub endpoint: without it `load_dataset` retries for ~20 s."""
    if os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("HF_DATASETS_OFFLINE") == "1":
        return False
    url = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    try:
        socket.create_connection((url.hostname, url.port or 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def _local(path: str | os.PathLike) -> Path | None:
    """A local path (not a URL or a Hub id that happens not to exist here)."""
    text = str(path)
    return None if "://" in text or not Path(text).exists() else Path(text)


def content_cache_dir(files: Sequence[Path]) -> str:
    """A `datasets` cache folder keyed by the files' contents. `datasets` keys the cache of local
    files by their path's name and modification time only, so a file rewritten with the same
    time, or another folder of the same name, would be served from the cache of the old one;
    keyed by content, a changed data source is always read afresh."""
    import datasets.config

    h = hashlib.sha256()
    for f in sorted(files):
        h.update(f.name.encode() + b"\0")
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        h.update(b"\0")
    return str(Path(datasets.config.HF_DATASETS_CACHE) / "cmtbench-local" / h.hexdigest()[:20])


def _refuse_scripts(spec: TaskSpec, folder: Path) -> None:
    """A dataset folder holding Python code is never loaded (a loading script would run it)."""
    script = next((p for p in sorted(folder.rglob("*.py")) if not p.name.startswith(".")), None)
    if script is not None:
        raise UsageError(f"task {spec.name!r}: the data folder {folder.name!r} holds Python code "
                         f"({script.relative_to(folder)}); loading scripts are never run: keep only "
                         "data files (parquet, JSON, CSV) and a README in a mirror")


def load_splits(spec: TaskSpec, data_dir: Path | None, load_test: bool = True) -> dict:
    """The task's train and test splits as `datasets.Dataset`s (train only when not `load_test`).
    Local data is cached by content (`content_cache_dir`)."""
    import datasets

    datasets.disable_progress_bars()
    if spec.data_files is not None:
        # one split at a time: files whose columns differ get the column error of their split
        # instead of a schema-cast failure across splits
        dsd = {}
        for split, file in spec.data_files.items():
            if not load_test and split != spec.train_split:
                continue
            local = _local(file)
            if local is not None and local.is_file() and not local.read_bytes().strip():
                raise UsageError(f"task {spec.name!r}: its {split} file {local.name!r} is empty; give it "
                                 "examples or name another file")
            cache = {"cache_dir": content_cache_dir([local])} if local is not None and local.is_file() else {}
            try:
                dsd[split] = datasets.load_dataset(spec.dataset, data_files={split: file}, **cache)[split]
            except Exception as exc:  # the builders raise many types (CastError, ArrowInvalid, ...)
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                raise UsageError(f"task {spec.name!r}: cannot read {file!r} as {spec.dataset}: {first}") from exc
        source = spec.dataset
    else:
        if data_dir is not None and spec.mirror:
            mirror = data_dir / spec.mirror
            if not mirror.is_dir():
                raise UsageError(
                    f"data folder {str(data_dir)!r} has no {spec.mirror!r} mirror for task {spec.name!r}; "
                    f"{MIRROR_HINT}"
                )
            _refuse_scripts(spec, mirror)
            source = str(mirror)
            files = [p for p in mirror.rglob("*") if p.is_file() and not p.name.startswith(".")]
            cache = {"cache_dir": content_cache_dir(files)}
        else:
            source, cache = spec.dataset, {}
        try:
            dsd = datasets.load_dataset(source, spec.config, **cache)
        except (ConnectionError, OSError) as exc:
            if data_dir is None:
                raise UsageError(
                    f"cannot load {spec.dataset!r} ({spec.config}) for task {spec.name!r}: the Hub is "
                    f"unreachable and it is not cached; {MIRROR_HINT}"
                ) from exc
            raise UsageError(f"cannot load task {spec.name!r} from {source!r}: {exc}") from exc
    wanted = (spec.train_split, spec.test_split) if load_test else (spec.train_split,)
    missing = [s for s in wanted if s not in dsd]
    if missing:
        raise UsageError(
            f"task {spec.name!r}: dataset {source!r} has no split {missing[0]!r} "
            f"(it has {', '.join(dsd)}); fix the TaskSpec's split names"
        )
    return {"train": dsd[spec.train_split], **({"test": dsd[spec.test_split]} if load_test else {})}


@dataclass
class Examples:
    """Tokenised examples of one split: ragged token lists plus labels (float32, also for classes)."""

    input_ids: list[list[int]]
    token_type_ids: list[list[int]] | None
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def lengths(self) -> np.ndarray:
        return np.fromiter((len(x) for x in self.input_ids), dtype=np.int64, count=len(self))

    def subset(self, idx: Sequence[int]) -> Examples:
        tt = None if self.token_type_ids is None else [self.token_type_ids[i] for i in idx]
        return Examples([self.input_ids[i] for i in idx], tt, self.labels[np.asarray(idx, dtype=np.int64)])


@dataclass
class TaskData:
    """A task of the stream, ready to train on: its spec, its position and tokenised splits."""

    spec: TaskSpec
    index: int  # position in the stream; the task id the model routes on
    train: Examples
    test: Examples | None  # None when the run never reads test (tuning)
    available_train: int  # labelled rows of the training split, before validation and the cap
    validation: Examples | None = None  # held out from the training split; None when --val-size 0
    source: str = ""  # "hub", "data-dir:<mirror>", "embedded" or "files" (no machine paths)

    @property
    def fingerprint(self) -> str:
        """sha256 of the examples as loaded (token ids, token types and labels of each split):
        a run resumes only on the same data."""
        h = hashlib.sha256()
        for name in ("train", "validation", "test"):
            ex = getattr(self, name)
            h.update(f"{name}:{0 if ex is None else len(ex)}\n".encode())
            if ex is None:
                continue
            for rows in (ex.input_ids, ex.token_type_ids or []):
                lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
                h.update(lengths.tobytes())
                h.update(np.fromiter((x for r in rows for x in r), dtype=np.int64).tobytes())
            h.update(np.ascontiguousarray(ex.labels, dtype=np.float32).tobytes())
        return h.hexdigest()

    def split(self, name: str) -> Examples:
        """The examples of split `name` ("train", "validation" or "test")."""
        ex = getattr(self, name)
        if ex is None:
            raise RuntimeError(f"task {self.name!r} has no {name} split in this run")
        return ex

    @property
    def name(self) -> str:
        return self.spec.name


def _texts(ds, fields: tuple[str, ...]) -> list[str]:
    cols = [list(ds[f]) for f in fields]  # list(): datasets 5 returns lazy Column objects
    return [" ".join(str(v) for v in vals if v) for vals in zip(*cols)]


def _sample(n: int, cap: int | None, seed: int, name: str) -> np.ndarray:
    if cap is None or cap >= n:
        return np.arange(n)
    rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
    return np.sort(rng.choice(n, size=cap, replace=False))


def tokenize_split(ds, spec: TaskSpec, tokenizer, max_length: int, labels: np.ndarray) -> Examples:
    """Tokenise a split (truncating long inputs); padding happens per batch in `collate`."""
    a = _texts(ds, spec.text_fields)
    b = _texts(ds, spec.pair_fields) if spec.pair_fields else None
    enc = tokenizer(a, b, truncation=True, max_length=max_length)
    tt = enc.get("token_type_ids")
    return Examples(list(enc["input_ids"]), list(tt) if tt is not None else None,
                    np.asarray(labels, dtype=np.float32))


def _labels(ds, spec: TaskSpec, split: str) -> np.ndarray:
    """The label column as numbers: class ids (NaN = drop the row) or regression targets.

    String labels (CSV/JSON files) are looked up in the label names; -1 (GLUE's hidden label)
    and classes that `label_map` sends to None are dropped.
    """
    for f in (*spec.text_fields, *spec.pair_fields, spec.label_field):
        if f not in ds.column_names:
            raise UsageError(
                f"task {spec.name!r}: column {f!r} not found in its {split} split "
                f"(columns: {', '.join(ds.column_names)})"
            )
    raw = list(ds[spec.label_field])
    if not spec.regression and any(isinstance(v, str) for v in raw):
        index = {n: i for i, n in enumerate(spec.label_names)}
        unknown = sorted({v for v in raw if v not in index}, key=str)
        if unknown:
            raise UsageError(
                f"task {spec.name!r}: label {unknown[0]!r} in its {split} split is not one of the "
                f"label names ({', '.join(spec.label_names)}); add it or fix the data"
            )
        raw = [index[v] for v in raw]
    labels = np.asarray([np.nan if v is None else v for v in raw], dtype=np.float64)
    if spec.regression:
        return labels
    labels[labels < 0] = np.nan  # GLUE marks hidden labels with -1
    known = np.isfinite(labels)
    fractional = labels[known][labels[known] != np.round(labels[known])]
    if len(fractional):
        raise UsageError(f"task {spec.name!r}: label {fractional[0]:g} in its {split} split is not a class "
                         "number; a classification task needs whole-number labels (or label names), "
                         "a regression task regression = true")
    if spec.label_map:
        known = np.isfinite(labels)
        if known.any() and labels[known].max() >= len(spec.label_map):
            raise UsageError(f"task {spec.name!r}: label {int(labels[known].max())} has no entry in label_map")
        mapped = [spec.label_map[int(v)] if np.isfinite(v) else None for v in labels]
        labels = np.asarray([np.nan if v is None else v for v in mapped], dtype=np.float64)
    known = np.isfinite(labels)
    if known.any() and labels[known].max() >= spec.num_labels:
        raise UsageError(
            f"task {spec.name!r}: label {int(labels[known].max())} is outside 0..{spec.num_labels - 1}; "
            "fix the label names or the label column"
        )
    return labels


def validation_size(requested: int, usable: int) -> int:
    """Rows held out for validation: `requested`, but at most a fifth of the usable train rows,
    so a small task keeps most of its data for training."""
    return min(requested, usable // 5)


def split_train(n: int, cap: int | None, val_size: int, seed: int, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(train positions, validation positions) among n usable rows of a training split.

    Validation is a seeded sample disjoint from train. When the train cap leaves room, the train
    sample is exactly the one drawn without a validation split (so capped runs keep their data and
    their scores) and validation comes from the rows the cap left out; otherwise validation is
    drawn first and train is sampled from the rest.
    """
    n_val = validation_size(val_size, n)
    val_rng = np.random.default_rng([seed, zlib.crc32(name.encode()), 1])
    if n_val == 0:
        return _sample(n, cap, seed, name), np.arange(0)
    if cap is not None and cap + n_val <= n:
        train = _sample(n, cap, seed, name)
        rest = np.setdiff1d(np.arange(n), train)
        return train, np.sort(val_rng.choice(rest, size=n_val, replace=False))
    val = np.sort(val_rng.choice(n, size=n_val, replace=False))
    rest = np.setdiff1d(np.arange(n), val)
    return rest[_sample(len(rest), cap, seed, name)], val


def prepare_task(
    spec: TaskSpec,
    index: int,
    tokenizer,
    data_dir: Path | None,
    max_train: int | None,
    max_eval: int | None,
    seed: int,
    max_length: int,
    warn=None,
    val_size: int = 0,
    load_test: bool = True,
) -> TaskData:
    """Load, split, cap (seeded for train and validation, fixed for test) and tokenise one task.

    Validation (`val_size` rows, see `split_train`) is held out from the training split; test is
    the dataset's labelled evaluation split. With `load_test=False` (tuning) the test split is
    never read. `warn(message)`, when given, hears of test examples whose text also occurs in the
    train sample.
    """
    from benchmark import snapshot

    snap = snapshot.find(spec) if data_dir is None else None
    splits = snap.load_splits(load_test) if snap else load_splits(spec, data_dir, load_test=load_test)
    out, texts = {}, {}

    def rows(split: str):
        """(dataset, labels, n usable rows, usable position -> row of the dataset)."""
        ds = splits[split]
        labels = _labels(ds, spec, split)
        if snap:  # the snapshot holds some usable rows of the full split, tagged by position
            return ds, labels, snap.usable_rows(split), snap.locator(ds, split)
        usable = np.flatnonzero(np.isfinite(labels))
        return ds, labels, len(usable), usable.__getitem__

    ds, labels, n_train, locate = rows("train")
    if n_train == 0:
        raise UsageError(f"task {spec.name!r} has no labelled examples in its train split "
                         f"({spec.train_split!r}); use a split with labels")
    train_pos, val_pos = split_train(n_train, max_train, val_size, seed, spec.name)
    parts = {"train": (ds, locate(train_pos), labels), "validation": (ds, locate(val_pos), labels)}
    if load_test:
        test_ds, test_labels, n_test, test_locate = rows("test")
        if n_test == 0:
            raise UsageError(f"task {spec.name!r} has no labelled examples in its test split "
                             f"({spec.test_split!r}); use a split with labels")
        parts["test"] = (test_ds, test_locate(_sample(n_test, max_eval, EVAL_SAMPLE_SEED, spec.name)),
                         test_labels)
    for split, (split_ds, chosen, split_labels) in parts.items():
        if len(chosen) == 0:
            out[split] = None
            continue
        part = split_ds.select(chosen)
        if warn is not None:
            empty = sum(not t.strip() for t in _texts(part, spec.text_fields))
            if empty:
                warn(f"warning: task {spec.name!r}: {empty} of {len(chosen)} {split} examples have an "
                     f"empty {'/'.join(spec.text_fields)}")
        out[split] = tokenize_split(part, spec, tokenizer, max_length, split_labels[chosen])
        if warn is not None and split != "validation":
            fields = (*spec.text_fields, *spec.pair_fields)
            texts[split] = list(zip(*(_texts(part, (f,)) for f in fields)))
    if warn is not None and "test" in texts:
        overlap = len(set(texts["test"]) & set(texts["train"]))
        if overlap:
            warn(f"warning: task {spec.name!r}: {overlap} of {len(texts['test'])} test examples also "
                 "occur in its train sample")
    source = ("embedded" if snap else "files" if spec.data_files is not None
              else f"data-dir:{spec.mirror}" if data_dir is not None and spec.mirror else "hub")
    return TaskData(spec, index, out["train"], out.get("test"), n_train, out["validation"], source)


@dataclass
class Batch:
    """A padded batch. `task_ids` routes each example to its task's head (batches may mix tasks)."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    token_type_ids: torch.Tensor | None
    labels: torch.Tensor
    task_ids: torch.Tensor

    def __len__(self) -> int:
        return self.input_ids.shape[0]

    def to(self, device: torch.device | str) -> Batch:
        def move(t):
            return None if t is None else t.to(device, non_blocking=True)

        return Batch(*(move(getattr(self, f)) for f in self.__dataclass_fields__))

    @property
    def num_tokens(self) -> int:
        return int(self.attention_mask.sum())


def collate(parts: Sequence[tuple[TaskData | int, Examples, Sequence[int]]], pad_id: int) -> Batch:
    """Pad the chosen examples of one or more tasks into one Batch.

    parts: (task or task index, examples, indices) triples; replay mixes memory in this way.
    """
    ids, tts, labels, tids = [], [], [], []
    for task, ex, idx in parts:
        tid = task if isinstance(task, int) else task.index
        for i in idx:
            ids.append(torch.tensor(ex.input_ids[i], dtype=torch.long))
            tts.append(torch.tensor(ex.token_type_ids[i], dtype=torch.long) if ex.token_type_ids else None)
            labels.append(float(ex.labels[i]))
            tids.append(tid)
    input_ids = torch.nn.utils.rnn.pad_sequence(ids, batch_first=True, padding_value=pad_id)
    mask = torch.nn.utils.rnn.pad_sequence([torch.ones_like(x) for x in ids], batch_first=True)
    tt = None
    if all(t is not None for t in tts):
        tt = torch.nn.utils.rnn.pad_sequence(tts, batch_first=True)
    return Batch(input_ids, mask, tt, torch.tensor(labels), torch.tensor(tids, dtype=torch.long))


def length_grouped_order(lengths: np.ndarray, batch_size: int, generator: torch.Generator) -> list[list[int]]:
    """Training batches of similar length: the sampler of `transformers` Trainer
    (random mega-batches of 50 batches, sorted by length inside), cut into batches."""
    from transformers.trainer_pt_utils import LengthGroupedSampler

    order = list(LengthGroupedSampler(batch_size, lengths=lengths.tolist(), generator=generator))
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def eval_order(lengths: np.ndarray, batch_size: int) -> list[list[int]]:
    """Evaluation batches sorted by length (no randomness needed: order does not change the scores)."""
    order = np.argsort(-lengths, kind="stable").tolist()
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
