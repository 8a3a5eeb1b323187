"""Does the data source hold what a stream with fixed sizes needs? (`Stream.fixed_sizes`)

The literature's streams (standard-cl, long-15) prescribe how many rows each task trains and is
tested on. A data folder of partial mirrors may hold fewer rows, or lack a split or a task; the
run then stops with one line naming every shortfall, or, with --partial-data, runs on what is
there: tasks that cannot run at all (no mirror, no split) are left out, the others use the rows
they have.

Rows are counted from the mirror's Hub metadata (`dataset_info` in its README, read by
`datasets.load_dataset_builder` without loading any data), or by loading the split when the
metadata has no sizes. The Hub itself is taken to hold the official splits; tasks read from
files or from the embedded snapshot are not checked here (the snapshot refuses other caps itself).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from benchmark.tasks import TaskSpec


@dataclass(frozen=True)
class Shortfall:
    """Something a task of the stream lacks in the data source."""

    task: str
    what: str
    fatal: bool  # the task cannot run at all (no mirror, no split)

    def __str__(self) -> str:
        return f"{self.task}: {self.what}"


def mirror_rows(spec: TaskSpec, data_dir: Path) -> dict[str, int] | None:
    """Rows per split of the task's mirror in `data_dir`; None when the mirror folder is missing."""
    from benchmark.data import _refuse_scripts

    folder = data_dir / spec.mirror
    if not folder.is_dir():
        return None
    _refuse_scripts(spec, folder)
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
    # a run resolves its configuration more than once (CLI, runner, sweep plans): read each
    # mirror once per process while its files are unchanged
    stamp = tuple((str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files)
    return dict(_rows(str(folder), spec.config, stamp))


@functools.lru_cache(maxsize=64)
def _rows(folder: str, config: str | None, stamp: tuple) -> tuple[tuple[str, int], ...]:
    import datasets

    from benchmark.data import content_cache_dir

    cache = content_cache_dir([Path(f) for f, _, _ in stamp])
    datasets.disable_progress_bars()
    builder = datasets.load_dataset_builder(folder, config, cache_dir=cache)
    if builder.info.splits:
        return tuple((name, int(s.num_examples)) for name, s in builder.info.splits.items())
    loaded = datasets.load_dataset(folder, config, cache_dir=cache)
    return tuple((name, len(ds)) for name, ds in loaded.items())


def shortfalls(specs: list[TaskSpec], caps: Callable[[str], tuple[int | None, int | None]],
               data_dir: Path | None) -> list[Shortfall]:
    """What the data source lacks for each task at its (train, test) caps; None caps ask for any rows."""
    if data_dir is None:
        return []
    out = []
    for spec in specs:
        if spec.data_files is not None or not spec.mirror:
            continue
        rows = mirror_rows(spec, data_dir)
        if rows is None:
            out.append(Shortfall(spec.name, f"no {spec.mirror!r} mirror in the data folder", True))
            continue
        for split, role, cap in ((spec.train_split, "train", caps(spec.name)[0]),
                                 (spec.test_split, "test", caps(spec.name)[1])):
            label = split if split == role else f"{split!r} ({role})"
            if split not in rows:
                out.append(Shortfall(spec.name, f"no {label} split", True))
            elif cap is not None and rows[split] < cap:
                out.append(Shortfall(spec.name, f"{label} has {rows[split]:,} rows, the stream uses {cap:,}",
                                     False))
    return out
