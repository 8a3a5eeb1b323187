"""Task samplers: empirical task frequencies against their formulas, uncertainty sampling on a
constructed case, determinism, and the steps per epoch. No model is trained here."""

from collections import Counter

import numpy as np
import pytest
import torch

from benchmark.context import Budget, RunContext, StreamData
from benchmark.data import Examples, TaskData
from benchmark.errors import UsageError
from benchmark.samplers import SAMPLERS, TemperatureConfig, annealed_alpha, normalised_entropy
from benchmark.tasks import TaskSpec
from strategies.base import Phase

SIZES = (100, 400, 1600)


def make_task(index: int, n: int, num_labels: int = 2, ids=None) -> TaskData:
    spec = TaskSpec(f"t{index}", dataset="json", label_names=tuple(f"c{i}" for i in range(num_labels)))
    ids = ids if ids is not None else [[1, 5, 6, 2]] * n
    ex = Examples([list(x) for x in ids], None, np.zeros(n, dtype=np.float32))
    return TaskData(spec, index, ex, ex, n)


def make_ctx(tasks, sampler: str, config=None, seed: int = 0, epochs: int = 1, batch_size: int = 1,
             model=None) -> RunContext:
    sampler_obj = SAMPLERS.get(sampler)(config)
    return RunContext(seed, StreamData(tasks), Budget(epochs, batch_size=batch_size, eval_batch_size=64),
                      sampler=sampler_obj, model=model, show_progress=False)


def task_counts(ctx: RunContext, epoch_range=None) -> list[Counter]:
    plan = ctx.task_batches(Phase(0, ctx.tasks))
    return [Counter(t.index for t, _ in plan.index_batches(e)) for e in range(ctx.epochs)]


def frequencies(counts: Counter, n: int) -> np.ndarray:
    return np.array([counts[i] for i in range(n)]) / sum(counts.values())


@pytest.mark.parametrize("name, config, expected", [
    ("uniform", None, [1 / 3] * 3),
    ("sqrt", None, np.sqrt(SIZES) / np.sqrt(SIZES).sum()),
    ("temperature", TemperatureConfig(temperature=4.0), np.power(SIZES, 0.25) / np.power(SIZES, 0.25).sum()),
    ("temperature", TemperatureConfig(temperature=1.0), np.array(SIZES) / sum(SIZES)),
])
def test_weighted_samplers_match_their_formulas(name, config, expected):
    tasks = [make_task(i, n) for i, n in enumerate(SIZES)]
    ctx = make_ctx(tasks, name, config, epochs=4)
    counts = task_counts(ctx)
    total = sum(counts, Counter())
    assert sum(total.values()) == 4 * sum(SIZES)  # as many steps as proportional sampling
    # 8,400 draws: the standard error of each frequency is below 0.006
    np.testing.assert_allclose(frequencies(total, 3), expected, atol=0.02)


def test_proportional_is_every_example_once_per_epoch():
    tasks = [make_task(i, n) for i, n in enumerate(SIZES)]
    ctx = make_ctx(tasks, "proportional", batch_size=7, epochs=2)
    plan = ctx.task_batches(Phase(0, tasks))
    for epoch in range(2):
        seen = {t.index: [] for t in tasks}
        for t, idx in plan.index_batches(epoch):
            seen[t.index] += idx
        assert {i: sorted(v) for i, v in seen.items()} == {i: list(range(n)) for i, n in enumerate(SIZES)}
    assert len(plan) == 2 * sum(-(-n // 7) for n in SIZES)


def test_annealed_goes_from_sizes_to_nearly_uniform():
    assert [annealed_alpha(e, 5) for e in range(5)] == pytest.approx([1.0, 0.8, 0.6, 0.4, 0.2])
    assert annealed_alpha(0, 1) == 1.0
    tasks = [make_task(i, n) for i, n in enumerate(SIZES)]
    counts = task_counts(make_ctx(tasks, "annealed", epochs=5))
    first, last = frequencies(counts[0], 3), frequencies(counts[-1], 3)
    np.testing.assert_allclose(first, np.array(SIZES) / sum(SIZES), atol=0.03)
    np.testing.assert_allclose(last, np.power(SIZES, 0.2) / np.power(SIZES, 0.2).sum(), atol=0.03)
    assert np.abs(last - 1 / 3).max() < np.abs(first - 1 / 3).max() / 3  # ~0.09 against ~0.43


def test_a_task_drawn_more_often_than_its_size_repeats_examples_across_reshuffles():
    tasks = [make_task(0, 10), make_task(1, 990)]
    ctx = make_ctx(tasks, "uniform", batch_size=5)
    plan = ctx.task_batches(Phase(0, tasks))
    small = [i for t, idx in plan.index_batches(0) if t.index == 0 for i in idx]
    assert len(small) > 300  # ~half of 200 steps, 5 examples each, from a task of 10
    # every reshuffle covers the task once before any example comes again
    for start in range(0, len(small) - 10, 10):
        assert sorted(small[start:start + 10]) == list(range(10))
    assert ctx.usage.unique(0) == 10 and ctx.usage.unique(1) < 990


def test_sampling_is_seeded():
    tasks = [make_task(i, n) for i, n in enumerate(SIZES)]

    def draws(seed):
        plan = make_ctx(tasks, "sqrt", seed=seed, batch_size=8).task_batches(Phase(0, tasks))
        return [(t.index, idx) for t, idx in plan.index_batches(0)]

    assert draws(0) == draws(0)
    assert draws(0) != draws(1)


def test_unknown_sampler_and_bad_settings_are_usage_errors():
    with pytest.raises(UsageError, match="Did you mean 'uniform'"):
        SAMPLERS.get("unifrom")
    with pytest.raises(UsageError, match="temperature must be > 0"):
        TemperatureConfig(temperature=0)


def test_normalised_entropy_is_divided_by_log_classes():
    uniform2, uniform4 = torch.zeros(1, 2), torch.zeros(1, 4)
    certain = torch.tensor([[30.0, 0.0, 0.0, 0.0]])
    assert [normalised_entropy(x).item() for x in (uniform2, uniform4, certain)] == pytest.approx(
        [1.0, 1.0, 0.0], abs=1e-6)
    p = torch.tensor([[0.5, 0.25, 0.25]])  # entropy 1.5 log 2
    assert normalised_entropy(p.log()).item() == pytest.approx(1.5 * np.log(2) / np.log(3))


HARD, EASY, OTHER = 9, 8, 7  # second token of an example: what the stub model reads


class EntropyStub(torch.nn.Module):
    """Outputs of known entropy: task 0's "hard" examples uniform (entropy 1), its "easy" ones
    confident (entropy ~0); task 1 always the same (its candidates always score 1)."""

    def outputs(self, batch):
        result = []
        for tid in batch.task_ids.unique().tolist():
            rows = (batch.task_ids == tid).nonzero(as_tuple=True)[0]
            if tid == 0:
                hard = (batch.input_ids[rows, 1] == HARD).float().unsqueeze(-1)
                out = torch.tensor([[20.0, -20.0]]) * (1 - hard)
            else:
                out = torch.tensor([[2.0, 0.0, 0.0]]).expand(len(rows), 3)
            result.append((tid, rows, out))
        return result


@pytest.mark.parametrize("window, easy_allowed", [(0, 3), (10, 10)])
def test_uncertainty_prefers_batches_above_their_task_usual_entropy(window, easy_allowed):
    ids0 = [[1, EASY, 2]] * 50 + [[1, HARD, 2]] * 50
    tasks = [make_task(0, 100, ids=ids0), make_task(1, 100, num_labels=3, ids=[[1, OTHER, 2]] * 100)]
    model = EntropyStub()
    config = SAMPLERS.get("uncertainty").Config(window=window)
    ctx = make_ctx(tasks, "uncertainty", config, model=model, epochs=2)
    plan = ctx.task_batches(Phase(0, tasks))
    draws = [(t.index, idx[0]) for e in range(2) for t, idx in plan.index_batches(e)]
    assert len(draws) == len(plan) == 400
    from_0 = [i for t, i in draws if t == 0]
    # 400 rounds see each of task 0's examples 4 times. A hard candidate scores about 2 (entropy 1
    # over a mean near 1/2) and beats task 1, whose candidates always score 1; an easy one scores
    # about 0 and loses, except in a tie at 1: while every recent candidate of task 0 was easy
    assert sum(i < 50 for i in from_0) <= easy_allowed
    assert sum(i >= 50 for i in from_0) >= 180
    assert ctx.usage.unique(0) <= 50 + easy_allowed
    assert model.training  # put back in training mode after scoring


def test_uncertainty_top_k_trains_several_candidates_per_round():
    tasks = [make_task(i, 20) for i in range(3)]
    ctx = make_ctx(tasks, "uncertainty", SAMPLERS.get("uncertainty").Config(top_k=3), model=EntropyStub())
    plan = ctx.task_batches(Phase(0, tasks))
    draws = [t.index for t, _ in plan.index_batches(0)]
    assert len(draws) == 60
    assert all(sorted(draws[r:r + 3]) == [0, 1, 2] for r in range(0, 60, 3))  # every candidate kept
