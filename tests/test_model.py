"""The multi-task model: heads, routing of mixed batches, parameter accounting."""

import pytest
import torch

from benchmark.data import Batch
from benchmark.model import MultiTaskModel, added_params, param_snapshot
from benchmark.tasks import TaskSpec

CLS3 = TaskSpec("c3", dataset="x", label_names=("a", "b", "c"))
REG = TaskSpec("reg", dataset="x", regression=True, metrics=("pearson",), main=("pearson",))


@pytest.fixture
def model(tiny_model):
    from transformers import AutoModel

    torch.manual_seed(0)
    return MultiTaskModel(AutoModel.from_pretrained(tiny_model))


def batch(task_ids, labels):
    n = len(task_ids)
    ids = torch.randint(5, 40, (n, 6))
    return Batch(ids, torch.ones_like(ids), None, torch.tensor(labels, dtype=torch.float),
                 torch.tensor(task_ids))


def test_heads_are_counted_as_head_params(model):
    before = param_snapshot(model)
    model.add_task(CLS3, 0, seed=0)
    model.add_task(REG, 1, seed=0, train_labels=[1.0, 3.0])
    heads, patches = added_params(before, param_snapshot(model))
    h = model.hidden_size
    assert heads == (h * 3 + 3) + (h * 1 + 1) and patches == 0
    model.add_task(CLS3, 0, seed=0)  # idempotent
    assert len(model.heads) == 2


def test_wrapping_a_layer_is_not_a_new_parameter(model):
    before = param_snapshot(model)
    layer = model.encoder.encoder.layer[0].attention.self
    wrapped = torch.nn.Sequential(layer.query)  # renames query.weight -> query.0.weight
    layer.query = wrapped
    heads, patches = added_params(before, param_snapshot(model))
    assert heads == 0 and patches == 0


def test_new_modules_inside_the_encoder_are_patches(model):
    before = param_snapshot(model)
    model.encoder.extra = torch.nn.Linear(model.hidden_size, 4)
    assert added_params(before, param_snapshot(model)) == (0, model.hidden_size * 4 + 4)


def test_fresh_heads_are_deterministic(model):
    model.add_task(CLS3, 0, seed=3)
    w = model.heads["c3"][1].weight.detach().clone()
    del model.heads["c3"], model.specs[0]
    model.add_task(CLS3, 0, seed=3)
    assert torch.equal(w, model.heads["c3"][1].weight)


def test_mixed_batch_routes_each_example_to_its_head(model):
    model.add_task(CLS3, 0, seed=0)
    model.add_task(REG, 1, seed=0, train_labels=[2.0, 4.0, 6.0])
    model.eval()
    b = batch([0, 1, 0, 1], [2, 3.5, 0, 5.0])
    per = model.per_example_loss(b)
    pooled = model.encode(b)
    logits = model.heads["c3"](pooled[[0, 2]])
    ce = torch.nn.functional.cross_entropy(logits, torch.tensor([2, 0]), reduction="none")
    assert torch.allclose(per[[0, 2]], ce, atol=1e-6)
    mean, std = model.target_stats[1]
    assert (mean, std) == (4.0, 2.0)
    pred = model.heads["reg"](pooled[[1, 3]]).squeeze(-1) * std + mean
    assert torch.allclose(per[[1, 3]], ((pred - torch.tensor([3.5, 5.0])) / std) ** 2, atol=1e-5)


def test_route_by_task_encodes_each_task_with_active_task_set(model):
    model.add_task(CLS3, 0, seed=0)
    model.add_task(CLS3.__class__("c3b", dataset="x", label_names=("a", "b")), 1, seed=0)
    seen = []
    model.encoder.register_forward_pre_hook(lambda m, a: seen.append(model.active_task))
    model.route_by_task = True
    model.eval()
    b = batch([1, 0, 1], [0, 1, 1])
    routed = model.encode(b)
    assert sorted(seen) == [0, 1] and model.active_task is None
    model.route_by_task = False
    assert torch.allclose(routed, model.encode(b), atol=1e-5)
