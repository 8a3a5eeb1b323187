"""Class- and domain-incremental scenarios: the shared output, its label space, no task id at test."""

import pytest
import torch

from benchmark import evaluate as evaluate_mod
from benchmark.errors import UsageError
from benchmark.model import MultiTaskModel
from benchmark.runner import run
from benchmark.tasks import STREAMS, TASKS


def test_text5_label_space_is_33_classes_with_yelp_and_amazon_shared(tiny_model):
    from transformers import AutoModel

    model = MultiTaskModel(AutoModel.from_pretrained(tiny_model), shared_output=True)
    for i, name in enumerate(STREAMS.get("text5").orders["1"]):
        model.add_task(TASKS.get(name), i, seed=0)
    # order 1: yelp, agnews, dbpedia, amazon, yahoo
    assert model.offsets == {0: 0, 1: 5, 2: 9, 3: 0, 4: 23}
    assert model.num_classes == 33 and len(model.heads) == 4
    ranges = {TASKS.get(n).space: (model.offsets[i], model.offsets[i] + TASKS.get(n).num_labels)
              for i, n in enumerate(STREAMS.get("text5").orders["1"])}
    spans = sorted(ranges.values())
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))  # contiguous, no collisions
    assert model.shared_logits(torch.zeros(2, model.hidden_size)).shape == (2, 33)


def test_text5_orders_are_the_published_ones():
    s = STREAMS.get("text5")
    assert s.orders == {
        "1": ("yelp", "agnews", "dbpedia", "amazon", "yahoo"),
        "2": ("dbpedia", "yahoo", "agnews", "amazon", "yelp"),
        "3": ("yelp", "yahoo", "amazon", "dbpedia", "agnews"),
        "4": ("agnews", "yelp", "amazon", "yahoo", "dbpedia"),
    }
    assert s.scenario == "class-incremental" and "task-incremental" in s.scenarios
    assert s.ordered("3", seed=0) == (s.orders["3"], "3")


def test_class_incremental_run_never_sees_a_task_id_at_test_time(make_config, monkeypatch):
    seen_ids = []
    original = MultiTaskModel.encode

    def spy(self, batch):
        if not self.training:
            seen_ids.extend(batch.task_ids.tolist())
        return original(self, batch)

    monkeypatch.setattr(MultiTaskModel, "encode", spy)
    record = run(make_config(tasks=["syn_red", "syn_blue"], scenario="class-incremental"))
    assert record["run"]["scenario"] == "class-incremental"
    assert seen_ids and set(seen_ids) == {-1}
    # one shared output of 2 + 2 classes; the second task adds only its own block
    assert [p["head_params"] for p in record["phases"]] == [2 * 33, 2 * 33]
    assert all(v is not None for v in record["R"][1])


def test_class_incremental_scores_a_class_of_another_task_as_wrong():
    from benchmark.tasks import TaskSpec

    spec = TaskSpec("t", dataset="x", label_names=("a", "b"))
    preds = evaluate_mod.score_predictions(spec, __import__("numpy").array([0, -1, 1, -1]),
                                           __import__("numpy").array([0, 1, 1, 0]))
    assert preds["accuracy"] == 0.5


def test_domain_incremental_tasks_share_one_output(tiny_model, tmp_path):
    from transformers import AutoModel

    model = MultiTaskModel(AutoModel.from_pretrained(tiny_model), shared_output=True)
    for i, name in enumerate(STREAMS.get("sentiment").tasks):
        model.add_task(TASKS.get(name), i, seed=0)
    assert model.num_classes == 2 and set(model.offsets.values()) == {0}


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(tasks=["syn_red", "syn_count"], scenario="class-incremental"), "regression task"),
        (dict(tasks=["syn_red", "syn_blue"], scenario="class-incremental", fwt=True), "--fwt"),
        (dict(tasks=None, stream="glue-small", scenario="class-incremental"), "supports the task-incremental"),
        (dict(tasks=None, stream="text5", scenario="domain-incremental"), "supports the class-incremental"),
    ],
)
def test_impossible_scenarios_are_clear_errors(make_config, overrides, message):
    with pytest.raises(UsageError, match=message):
        run(make_config(**overrides))
