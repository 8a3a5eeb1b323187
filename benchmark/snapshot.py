"""The embedded snapshot: the default stream's data shipped inside the package, so that
`python -m benchmark run` works on a fresh machine with no network and no data folder.

For each task of the stream, `benchmark/snapshot_data/` holds the rows of the Hub split that runs
at the stream's default caps draw, for seeds 0-4: the train and validation samples of every such
seed (their union) and the fixed test sample. Every row keeps its position among the split's
usable rows (`__pos__`), and the manifest keeps the number of usable rows, so a run draws exactly
the positions it would draw from the full split, and reads them here: a run on the snapshot is the
same run, row for row, as on the Hub or a full mirror (tests/test_snapshot.py checks it). A seed or
cap the snapshot does not cover stops with one line that points to the full data.

`scripts/make_snapshot.py` writes it from Hub-shaped sources; the manifest names each file's
source, rows, sha256 and licence. Hub ids stay the source of every other task, and `--data-dir`
(or CMTBENCH_DATA_DIR) overrides the snapshot.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmark.errors import UsageError
from benchmark.tasks import TaskSpec

SNAPSHOT_DIR = Path(__file__).parent / "snapshot_data"
POS = "__pos__"


@dataclass
class TaskSnapshot:
    spec: TaskSpec
    meta: dict  # the task's manifest entry

    def load_splits(self, load_test: bool = True) -> dict:
        import datasets
        import pyarrow.parquet as pq

        wanted = ("train", "test") if load_test else ("train",)
        return {s: datasets.Dataset(pq.read_table(SNAPSHOT_DIR / self.meta["files"][s]["path"]))
                for s in wanted}

    def usable_rows(self, split: str) -> int:
        """Usable (labelled) rows of the full split the snapshot was cut from."""
        return int(self.meta["files"][split]["usable_rows"])

    def locator(self, ds, split: str):
        """A function: positions among the full split's usable rows -> rows of `ds`."""
        where = {int(p): i for i, p in enumerate(ds[POS])}

        def locate(positions: np.ndarray) -> np.ndarray:
            try:
                return np.asarray([where[int(p)] for p in positions], dtype=np.int64)
            except KeyError:
                m = self.meta
                raise UsageError(
                    f"task {self.spec.name!r}: the embedded snapshot holds the {split} rows of seeds "
                    f"{m['seeds'][0]}-{m['seeds'][-1]} at --max-train {m['max_train']}, --max-eval "
                    f"{m['max_eval']}, --val-size {m['val_size']}; for other seeds or caps use the full "
                    f"data (--data-dir, or the Hub)") from None

        return locate


@functools.cache
def manifest() -> dict:
    path = SNAPSHOT_DIR / "manifest.json"
    return json.loads(path.read_text()) if path.exists() else {"tasks": {}}


def find(spec: TaskSpec) -> TaskSnapshot | None:
    """The snapshot of a task, when the package embeds one for exactly this dataset config."""
    meta = manifest()["tasks"].get(spec.name)
    if meta is None or spec.data_files is not None:
        return None
    if (meta["dataset"], meta.get("config"), meta["train_split"], meta["test_split"]) != (
            spec.dataset, spec.config, spec.train_split, spec.test_split):
        return None  # a task of the same name reads other data
    return TaskSnapshot(spec, meta)
