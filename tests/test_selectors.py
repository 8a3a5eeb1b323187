"""Coreset selectors on constructed data (no model), each against the property it exists for, plus
the contract all of them keep; then the model-backed context and the replay memory."""

import numpy as np
import pytest
import torch

from benchmark.data import Examples
from data_selection import SELECTORS, SelectionContext, Selector, get_selector
from data_selection.base import balanced_quotas, interleave, label_groups
from data_selection.herding import herd
from data_selection.k_center import covering_radius
from data_selection.memory import ReplayMemory, even_quotas


def examples(labels, lengths=None) -> Examples:
    labels = np.asarray(labels, dtype=np.float32)
    lengths = lengths if lengths is not None else [3 + i % 5 for i in range(len(labels))]
    return Examples([[2] + [7] * (n - 2) + [3] for n in lengths], None, labels)


def blobs(n_per_class=100, classes=2, dim=8, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 4, (classes, dim))
    x = np.concatenate([c + rng.normal(0, 1, (n_per_class, dim)) for c in centres]).astype(np.float32)
    y = np.repeat(np.arange(classes), n_per_class)
    return x, y


def classification_case(n=60, seed=0):
    x, y = blobs(n // 2, seed=seed)
    p = np.random.default_rng(seed).dirichlet([1, 1], size=len(y))
    return examples(y), SelectionContext(embeddings=x, outputs=p, seed=seed)


def regression_case(n=60, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.normal(2.5, 1.0, n)
    x = np.c_[y, rng.normal(size=(n, 3))].astype(np.float32)
    pred = y + rng.normal(0, 0.5, n)
    return examples(y), SelectionContext(regression=True, embeddings=x, outputs=pred, seed=seed)


@pytest.mark.parametrize("name", SELECTORS.names())
@pytest.mark.parametrize("case", [classification_case, regression_case])
def test_every_selector_keeps_the_contract(name, case):
    ex, _ = case()
    pick = lambda budget, seed=0: get_selector(name).select(ex, budget, case(seed=seed)[1])  # noqa: E731
    assert isinstance(get_selector(name), Selector)
    chosen = pick(10)
    assert chosen.dtype == np.int64 and len(chosen) == 10 == len(set(chosen.tolist()))
    assert chosen.min() >= 0 and chosen.max() < len(ex)
    assert np.array_equal(chosen, pick(10))  # seeded
    assert len(pick(0)) == 0
    assert sorted(pick(10 * len(ex)).tolist()) == list(range(len(ex)))  # a budget above n keeps all


def test_random_is_uniform_over_examples_and_seeds():
    ex = examples(np.zeros(20))
    counts = np.zeros(20)
    for seed in range(300):
        counts[get_selector("random").select(ex, 10, SelectionContext(seed=seed))] += 1
    assert counts.min() > 100 and counts.max() < 200  # 150 expected each (binomial sd ~8.7)


def test_herding_mean_is_closer_to_the_class_mean_than_random():
    x, y = blobs(n_per_class=200)
    ex = examples(y)
    # in the raw space the means below are measured in (normalize=True herds unit vectors)
    chosen = get_selector("herding", normalize=False).select(ex, 20, SelectionContext(embeddings=x))
    assert np.bincount(y[chosen]).tolist() == [10, 10]
    for c in (0, 1):
        mean = x[y == c].mean(0)
        herded = np.linalg.norm(x[chosen][y[chosen] == c].mean(0) - mean)
        rng = np.random.default_rng(c)
        randoms = [np.linalg.norm(x[rng.choice(np.flatnonzero(y == c), 10, replace=False)].mean(0) - mean)
                   for _ in range(50)]
        assert herded < min(randoms)


def test_herding_order_follows_the_greedy_rule():
    x = np.array([[0.0], [10.0], [1.0], [-1.0], [4.0]])  # mean 2.8
    # first the point nearest the mean (4), then the one that brings the pair's mean nearest (1.0)
    assert herd(x, 3).tolist()[:2] == [4, 2]


def test_herding_normalises_the_embeddings_as_icarl_does():
    x = np.array([[0.0, 2.0], [5.0, 0.0], [1.0, 5.0]])  # one class
    # raw: mean (2, 7/3); squared distances 4.1, 14.4, 8.1 -> row 0; then the pair means (2.5, 1)
    # and (0.5, 3.5) are 2.0 and 3.6 away -> row 1
    # unit rows (0, 1), (1, 0), (0.196, 0.981): mean (0.399, 0.660); distances 0.27, 0.80, 0.14 ->
    # row 2; then the pair means (0.098, 0.990) and (0.598, 0.490) are 0.20 and 0.07 away -> row 1
    ex, ctx = examples(np.zeros(3)), SelectionContext(embeddings=x)
    assert get_selector("herding", normalize=False).select(ex, 3, ctx).tolist() == [0, 1, 2]
    assert get_selector("herding").select(ex, 3, ctx).tolist() == [2, 1, 0]  # iCaRL's default


def test_k_center_covers_better_than_random():
    x = np.random.default_rng(0).uniform(0, 1, (400, 2))
    chosen = get_selector("k-center").select(examples(np.zeros(400)), 12, SelectionContext(embeddings=x))
    rng = np.random.default_rng(0)
    randoms = [covering_radius(x, rng.choice(len(x), 12, replace=False)) for _ in range(50)]
    # greedy k-center is within 2x of the best radius; random draws leave holes (checked on 5 seeds:
    # greedy 0.28-0.30, random median 0.40-0.46)
    assert covering_radius(x, chosen) < 0.8 * np.median(randoms)


def test_k_means_takes_one_example_per_well_separated_cluster():
    x, y = blobs(n_per_class=50, classes=3, seed=3)
    chosen = get_selector("k-means").select(examples(y), 3, SelectionContext(embeddings=x * 5))
    assert sorted(y[chosen].tolist()) == [0, 1, 2]


def test_class_balanced_counts_and_balanced_prefixes():
    y = np.repeat([0, 1, 2], [100, 30, 5])
    chosen = get_selector("class-balanced").select(examples(y), 30, SelectionContext(seed=1))
    counts = np.bincount(y[chosen], minlength=3)
    assert counts[2] == 5 and sorted(counts[:2].tolist()) == [12, 13]  # the small class is all in
    assert np.bincount(y[chosen[:15]], minlength=3).tolist() == [5, 5, 5]  # every prefix balanced


def test_class_balanced_stratifies_regression_on_label_quantiles():
    y = np.random.default_rng(0).exponential(1.0, 500)
    chosen = get_selector("class-balanced").select(examples(y), 50, SelectionContext(regression=True))
    bins = label_groups(examples(y), regression=True)
    assert np.bincount(bins[chosen]).tolist() == [10] * 5


def test_balanced_quotas_and_interleave():
    rng = np.random.default_rng(0)
    assert balanced_quotas(np.array([10, 2, 10]), 12, rng).tolist() == [5, 2, 5]
    assert balanced_quotas(np.array([1, 1]), 5, rng).tolist() == [1, 1]
    assert interleave([np.array([1, 2, 3]), np.array([7])]).tolist() == [1, 7, 2, 3]


def test_entropy_margin_and_el2n_pick_the_uncertain_examples():
    p = np.array([[0.98, 0.01, 0.01], [0.34, 0.33, 0.33], [0.6, 0.4, 0.0], [0.5, 0.5, 0.0],
                  [0.9, 0.05, 0.05]])
    ex = examples([0, 0, 0, 1, 2])
    ctx = lambda: SelectionContext(outputs=p)  # noqa: E731
    assert get_selector("entropy").select(ex, 2, ctx()).tolist() == [1, 3]  # near uniform first
    assert get_selector("margin").select(ex, 2, ctx()).tolist() == [3, 1]  # tied top two first
    # error norm ||p - onehot(y)||: the wrong confident one (index 4, true class 2) first
    assert get_selector("el2n").select(ex, 1, ctx()).tolist() == [4]


def test_uncertainty_selectors_rank_regression_by_squared_error():
    y = np.array([1.0, 2.0, 3.0, 4.0])
    ctx = SelectionContext(regression=True, outputs=np.array([1.1, 0.0, 3.0, 5.0]))
    for name in ("entropy", "margin", "el2n"):
        assert get_selector(name).select(examples(y), 2, ctx).tolist() == [1, 3]


def test_a_context_without_model_or_data_says_what_it_needs():
    with pytest.raises(ValueError, match="needs embeddings or outputs"):
        get_selector("herding").select(examples([0, 1]), 1, SelectionContext())
    with pytest.raises(ValueError, match="one SelectionContext per set"):
        get_selector("herding").select(examples([0, 1, 1]), 1, SelectionContext(embeddings=np.zeros((2, 3))))


def test_context_embeds_with_the_model(tiny_model):
    from transformers import AutoModel

    from benchmark.data import collate
    from benchmark.model import MultiTaskModel
    from benchmark.tasks import TaskSpec

    torch.manual_seed(0)
    model = MultiTaskModel(AutoModel.from_pretrained(tiny_model))
    model.add_task(TaskSpec("t", dataset="x", label_names=("a", "b")), 0, seed=0)
    model.train()
    ex = Examples([[2, 10, 11, 3], [2, 12, 3], [2, 13, 14, 15, 3]], None, np.array([0, 1, 1], np.float32))
    ctx = SelectionContext(model=model, task_index=0)
    emb, probs = ctx.embed(ex), ctx.predict(ex)
    assert model.training  # restored
    model.eval()
    with torch.inference_mode():
        batch = collate([(0, ex, [0, 1, 2])], 0)
        expected = model.encode(batch)
        ((_, _, out),) = model.outputs(batch)
    np.testing.assert_allclose(emb, expected.numpy(), atol=1e-5)
    np.testing.assert_allclose(probs, out.softmax(-1).numpy(), atol=1e-5)


def test_memory_samples_shrinks_and_counts():
    mem = ReplayMemory()
    mem.add(0, examples([0] * 6, lengths=[4] * 6))
    mem.add(2, examples([1] * 4, lengths=[5] * 4))
    assert len(mem) == 10 and mem.num_tokens == 6 * 4 + 4 * 5
    g = torch.Generator().manual_seed(0)
    parts = mem.sample(7, g)
    assert sum(len(idx) for _, _, idx in parts) == 7 and {t for t, _, _ in parts} <= {0, 2}
    assert sum(len(idx) for _, _, idx in mem.sample(50, g)) == 10  # never more than it has
    mem.shrink({0: 2, 2: 3})
    assert [len(e) for e in mem.tasks.values()] == [2, 3] and mem.num_tokens == 2 * 4 + 3 * 5
    assert even_quotas(10, 3) == [4, 3, 3]
