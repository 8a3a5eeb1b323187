"""Loading, caps, tokenisation, dynamic padding and length-grouped batches."""

import numpy as np
import pytest
import torch
from conftest import refuse_connections

from benchmark import data
from benchmark.errors import UsageError
from benchmark.tasks import TASKS, TaskSpec


@pytest.fixture(scope="module")
def tokenizer(tiny_model):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model)


def prepare(name, tokenizer, **kw):
    args = dict(data_dir=None, max_train=None, max_eval=None, seed=0, max_length=32) | kw
    return data.prepare_task(TASKS.get(name), 0, tokenizer, **args)


def test_caps_are_seeded_for_train_and_fixed_for_test(synthetic_tasks, tokenizer):
    a = prepare("syn_red", tokenizer, max_train=50, max_eval=20, seed=1)
    b = prepare("syn_red", tokenizer, max_train=50, max_eval=20, seed=1)
    c = prepare("syn_red", tokenizer, max_train=50, max_eval=20, seed=2)
    assert len(a.train) == 50 and len(a.test) == 20 and a.available_train == 400
    assert a.train.input_ids == b.train.input_ids
    assert a.train.input_ids != c.train.input_ids
    assert a.test.input_ids == c.test.input_ids  # same test sample whatever the run seed


def test_truncation_and_labels(synthetic_tasks, tokenizer):
    t = prepare("syn_count", tokenizer, max_length=8)
    assert max(len(x) for x in t.train.input_ids) <= 8
    assert t.train.labels.dtype == np.float32 and t.train.labels.max() > 1


def test_hidden_labels_are_dropped_and_empty_split_is_an_error(tmp_path, tokenizer):
    import json

    rows = [{"text": "w1 w2", "label": -1}] * 3 + [{"text": "red w2", "label": 1}] * 2
    (tmp_path / "train.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    (tmp_path / "test.jsonl").write_text("\n".join(json.dumps(r) for r in rows[:3]))
    spec = TaskSpec("hidden", dataset="json", text_fields=("text",), label_names=("a", "b"),
                    test_split="test", data_files={"train": str(tmp_path / "train.jsonl"),
                                                   "test": str(tmp_path / "test.jsonl")})
    with pytest.raises(UsageError, match="no labelled examples in its test split"):
        data.prepare_task(spec, 0, tokenizer, None, None, None, 0, 32)
    spec2 = TaskSpec("hidden2", dataset="json", text_fields=("text",), label_names=("a", "b"),
                     test_split="train", data_files={"train": str(tmp_path / "train.jsonl")})
    t = data.prepare_task(spec2, 0, tokenizer, None, None, None, 0, 32)
    assert len(t.train) == 2 and set(t.train.labels) == {1.0}


def test_missing_column_and_label_out_of_range(tmp_path, tokenizer):
    import json

    (tmp_path / "d.jsonl").write_text(json.dumps({"text": "w1", "label": 5}) + "\n")
    files = {"train": str(tmp_path / "d.jsonl")}
    spec = TaskSpec("x", dataset="json", text_fields=("sentence",), label_names=("a", "b"),
                    test_split="train", data_files=files)
    with pytest.raises(UsageError, match="column 'sentence' not found"):
        data.prepare_task(spec, 0, tokenizer, None, None, None, 0, 32)
    spec = TaskSpec("x", dataset="json", text_fields=("text",), label_names=("a", "b"),
                    test_split="train", data_files=files)
    with pytest.raises(UsageError, match="label 5 is outside 0..1"):
        data.prepare_task(spec, 0, tokenizer, None, None, None, 0, 32)


def test_collate_pads_to_the_longest_in_the_batch(synthetic_tasks, tokenizer):
    t = prepare("syn_red", tokenizer)
    idx = [0, 1, 2, 3]
    b = data.collate([(t, t.train, idx)], pad_id=0)
    lengths = [len(t.train.input_ids[i]) for i in idx]
    assert b.input_ids.shape == (4, max(lengths))
    assert b.attention_mask.sum(1).tolist() == lengths
    assert b.token_type_ids is not None and b.task_ids.tolist() == [0] * 4


def test_collate_mixes_tasks(synthetic_tasks, tokenizer):
    a = prepare("syn_red", tokenizer)
    c = data.prepare_task(TASKS.get("syn_count"), 2, tokenizer, None, None, None, 0, 32)
    b = data.collate([(a, a.train, [0, 1]), (c, c.train, [5])], pad_id=0)
    assert b.task_ids.tolist() == [0, 0, 2]
    assert b.labels[2].item() == pytest.approx(float(c.train.labels[5]))


def test_length_grouping_cuts_padding():
    rng = np.random.default_rng(0)
    lengths = rng.integers(5, 120, size=2000)
    g = torch.Generator().manual_seed(0)
    grouped = data.length_grouped_order(lengths, 32, g)
    assert sorted(i for b in grouped for i in b) == list(range(2000))  # every example once
    perm = rng.permutation(2000)
    shuffled = [perm[i : i + 32] for i in range(0, 2000, 32)]

    def padded(batches):
        return sum(len(b) * lengths[b].max() for b in map(np.asarray, batches))

    assert padded(grouped) < 0.7 * padded(shuffled)
    ev = data.eval_order(lengths, 64)
    assert padded(ev) <= padded(grouped)


def test_missing_mirror_and_data_dir(tmp_path, monkeypatch):
    monkeypatch.delenv(data.DATA_DIR_ENV, raising=False)
    assert data.resolve_data_dir(None) is None
    with pytest.raises(UsageError, match="does not exist"):
        data.resolve_data_dir(tmp_path / "nope")
    monkeypatch.setenv(data.DATA_DIR_ENV, str(tmp_path))
    assert data.resolve_data_dir(None) == tmp_path.resolve()
    with pytest.raises(UsageError, match="has no 'glue' mirror"):
        data.load_splits(TASKS.get("sst2"), tmp_path)


def test_unreachable_hub_fails_fast_with_a_hint(monkeypatch):
    data.set_offline()
    connects = refuse_connections(monkeypatch)
    with pytest.raises(UsageError, match="CMTBENCH_DATA_DIR"):
        data.load_splits(TaskSpec("nohub", dataset="cmtbench-test/does-not-exist", mirror="x",
                                  label_names=("a", "b")), None)
    assert connects == []  # offline: no connection tried, so no ~20 s of retries
