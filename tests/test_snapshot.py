"""The embedded snapshot: a run on it is the same run, row for row, as on the full data it was
cut from; seeds and caps it does not cover stop with one line; --data-dir overrides it."""

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest
from conftest import registered

from benchmark import data, snapshot
from benchmark.errors import UsageError
from benchmark.runner import run
from benchmark.tasks import STREAMS, TASKS, Stream, TaskSpec

SPEC = TaskSpec("snaptask", dataset="someone/snaptask", mirror="snapmir", text_fields=("text",),
                label_names=("a", "b"), test_split="test")


def load_script():
    path = Path(__file__).resolve().parents[1] / "scripts" / "make_snapshot.py"
    module = importlib.util.spec_from_file_location("make_snapshot", path)
    mod = importlib.util.module_from_spec(module)
    module.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def mirror(tmp_path_factory):
    """A Hub-shaped mirror of one task (parquet, with a few unlabelled rows), and its stream."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from benchmark.testing import COLOURS

    root = tmp_path_factory.mktemp("mirror")
    rng = np.random.default_rng(0)
    words = [*COLOURS, *(f"w{i}" for i in range(8))]
    for split, n in (("train", 300), ("test", 80)):
        texts = [" ".join(rng.choice(words, rng.integers(3, 10))) for _ in range(n)]
        labels = [int("red" in t) if i % 37 else -1 for i, t in enumerate(texts)]  # -1: unlabelled
        (root / "snapmir" / "data").mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table({"text": texts, "label": labels}),
                       root / "snapmir" / "data" / f"{split}-00000-of-00001.parquet")
    STREAMS.add("snapstream", Stream("snapstream", ("snaptask",), max_train=60, max_eval=30))
    registration = registered([SPEC])
    next(registration)
    yield root
    next(registration, None)
    STREAMS.remove("snapstream")


@pytest.fixture
def embedded(mirror, tmp_path_factory, monkeypatch):
    mirror_root = mirror
    out = tmp_path_factory.mktemp("snap")
    monkeypatch.delenv(data.DATA_DIR_ENV, raising=False)
    assert load_script().main(["--stream", "snapstream", "--data-dir", str(mirror_root),
                               "--seeds", "0-2", "--val-size", "20", "--out", str(out)]) == 0
    monkeypatch.setattr(snapshot, "SNAPSHOT_DIR", out)
    snapshot.manifest.cache_clear()
    yield mirror_root, out
    snapshot.manifest.cache_clear()


def test_snapshot_rows_equal_the_full_data_rows_for_every_covered_seed(embedded, tiny_model):
    from transformers import AutoTokenizer

    mirror_root, out = embedded
    tok = AutoTokenizer.from_pretrained(tiny_model)
    for seed in (0, 1, 2):
        a = data.prepare_task(SPEC, 0, tok, None, 60, 30, seed, 32, val_size=20)
        b = data.prepare_task(SPEC, 0, tok, mirror_root, 60, 30, seed, 32, val_size=20)
        assert (a.source, b.source) == ("embedded", "data-dir:snapmir")
        for split in ("train", "validation", "test"):
            assert a.split(split).input_ids == b.split(split).input_ids
            assert a.split(split).labels.tolist() == b.split(split).labels.tolist()
        assert a.available_train == b.available_train
    # the pool holds the union of the seeds' samples, not the whole split
    manifest = snapshot.manifest()["tasks"]["snaptask"]
    assert manifest["files"]["train"]["rows"] < manifest["files"]["train"]["usable_rows"]
    with pytest.raises(UsageError, match="holds the train rows of seeds 0-2"):
        data.prepare_task(SPEC, 0, tok, None, 60, 30, 3, 32, val_size=20)
    with pytest.raises(UsageError, match="use the full data"):
        data.prepare_task(SPEC, 0, tok, None, 60, 10, 0, 32, val_size=20)  # another test cap


def test_snapshot_is_deterministic_and_sha_checked(embedded, tmp_path):
    mirror_root, out = embedded
    again = tmp_path / "again"
    load_script().main(["--stream", "snapstream", "--data-dir", str(mirror_root), "--seeds", "0-2",
                        "--val-size", "20", "--out", str(again)])
    for f in snapshot.manifest()["tasks"]["snaptask"]["files"].values():
        assert (out / f["path"]).read_bytes() == (again / f["path"]).read_bytes()
        assert data_sha(out / f["path"]) == f["sha256"]


def data_sha(path):
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_task_of_the_same_name_with_other_data_is_not_served_from_the_snapshot(embedded):
    other = TaskSpec("snaptask", dataset="someone/else", text_fields=("text",), label_names=("a", "b"))
    assert snapshot.find(other) is None and snapshot.find(SPEC) is not None


def test_a_run_on_the_snapshot_equals_the_run_on_the_mirror(embedded, make_config, tmp_path):
    mirror_root, _ = embedded
    kw = dict(tasks=["snaptask"], max_train=60, max_eval=30, val_size=20, epochs=1)
    a = run(make_config(output_dir=str(tmp_path / "a"), **kw))
    b = run(make_config(output_dir=str(tmp_path / "b"), data_dir=str(mirror_root), **kw))
    assert a["R"] == b["R"] and a["R_val"] == b["R_val"]
    assert a["run"]["data_source"] == "embedded" and b["run"]["data_source"] == "data-dir:snapmir"


@pytest.mark.realdata
@pytest.mark.skipif(not os.environ.get(data.DATA_DIR_ENV), reason="set CMTBENCH_DATA_DIR to the mirrors")
def test_the_committed_snapshot_has_the_schema_and_rows_of_its_mirrors():
    import datasets
    import pyarrow.parquet as pq

    from benchmark.tasks import DEFAULT_STREAM

    data.set_offline()
    root = data.resolve_data_dir(None)
    tasks = snapshot.manifest()["tasks"]
    assert set(STREAMS.get(DEFAULT_STREAM).tasks) <= set(tasks)  # the default stream is embedded
    for name, meta in tasks.items():
        spec = TASKS.get(name)
        full = datasets.load_dataset(str(root / meta["mirror"]), meta["config"])
        for split, f in meta["files"].items():
            table = pq.read_table(snapshot.SNAPSHOT_DIR / f["path"])
            assert data_sha(snapshot.SNAPSHOT_DIR / f["path"]) == f["sha256"]
            src = full[f["source_split"]]
            labels = data._labels(src, spec, split)
            usable = np.flatnonzero(np.isfinite(labels))
            assert len(usable) == f["usable_rows"]
            rows = src.select(usable[np.asarray(table.column(snapshot.POS).to_pylist())]).flatten_indices()
            assert table.drop_columns([snapshot.POS]).schema.names == rows.data.table.schema.names
            assert table.drop_columns([snapshot.POS]).to_pylist() == rows.data.table.to_pylist()


def test_the_default_stream_loads_from_the_package_with_no_network(tiny_model, monkeypatch):
    from conftest import refuse_connections
    from transformers import AutoTokenizer

    from benchmark.tasks import DEFAULT_STREAM

    monkeypatch.delenv(data.DATA_DIR_ENV, raising=False)
    connects = refuse_connections(monkeypatch)
    tok = AutoTokenizer.from_pretrained(tiny_model)
    stream = STREAMS.get(DEFAULT_STREAM)
    for name in stream.tasks:
        t = data.prepare_task(TASKS.get(name), 0, tok, None, stream.max_train, stream.max_eval, 0, 32,
                              val_size=500)
        assert t.source == "embedded" and len(t.test) == 500
        # 1,000 train and 500 validation rows, or 4/5 and 1/5 of a smaller training split
        assert (len(t.train), len(t.validation)) in ((1000, 500), (t.available_train * 4 // 5, t.available_train // 5))
    assert connects == []
