"""The selector protocol, the context a selector reads, shared helpers and the selector registry.

A selector answers `select(examples, budget, context) -> indices`: at most `budget` positions in
`examples`, in priority order. Any prefix of the answer is itself a good smaller selection, so a
memory that has to shrink (a total budget shared by more tasks) keeps a prefix.

Selectors work alone from Python, with or without a model:

    ctx = SelectionContext(embeddings=my_vectors, seed=0)           # precomputed embeddings
    ctx = SelectionContext.for_task(model, task, run_ctx, seed=0)   # embed with the model
    idx = get_selector("herding").select(task.train, 100, ctx)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
import torch

from benchmark import plugins
from benchmark.data import Examples, TaskData, collate, eval_order
from benchmark.registry import Registry

if TYPE_CHECKING:
    from benchmark.context import RunContext
    from benchmark.model import MultiTaskModel

REGRESSION_BINS = 5  # label-quantile bins that stand in for classes on regression tasks


@runtime_checkable
class Selector(Protocol):
    def select(self, examples: Examples, budget: int, context: SelectionContext) -> np.ndarray: ...


@dataclass
class SelectionContext:
    """What a selector may read besides the examples: the model (to embed examples and predict),
    or embeddings and outputs given directly; whether the task is a regression; a seeded generator.

    `outputs` are class probabilities, shape (n, classes), or regression predictions, shape (n,).
    """

    regression: bool = False
    seed: int = 0
    model: MultiTaskModel | None = None
    task_index: int = 0
    pad_id: int = 0
    batch_size: int = 128
    embeddings: np.ndarray | None = None
    outputs: np.ndarray | None = None
    rng: np.random.Generator = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed)

    @classmethod
    def for_task(cls, model: MultiTaskModel, task: TaskData, ctx: RunContext, seed: int) -> SelectionContext:
        return cls(regression=task.spec.regression, seed=seed, model=model, task_index=task.index,
                   pad_id=ctx.pad_id, batch_size=ctx.eval_batch_size)

    def embed(self, examples: Examples) -> np.ndarray:
        """Pooled sentence embeddings, (n, hidden) float32."""
        if self.embeddings is None:
            self._run_model(examples)
        return self._checked(self.embeddings, examples)

    def predict(self, examples: Examples) -> np.ndarray:
        """Class probabilities (n, classes) or regression predictions (n,)."""
        if self.outputs is None:
            self._run_model(examples)
        return self._checked(self.outputs, examples)

    def targets(self, examples: Examples) -> np.ndarray:
        """Each example's label as a column of `predict`'s output (classification)."""
        offset = 0
        if self.model is not None and getattr(self.model, "shared_output", False):
            offset = self.model.offsets[self.task_index]  # one output over every task's classes
        return examples.labels.astype(np.int64) + offset

    @staticmethod
    def _checked(values: np.ndarray, examples: Examples) -> np.ndarray:
        # a context caches what it computed: it belongs to one set of examples
        if len(values) != len(examples):
            raise ValueError(f"the context holds {len(values)} rows for {len(examples)} examples; "
                             "use one SelectionContext per set of examples")
        return values

    @torch.inference_mode()
    def _run_model(self, examples: Examples) -> None:
        if self.model is None:
            raise ValueError("this selector needs embeddings or outputs: give them or a model")
        model, device = self.model, self.model.device
        was_training = model.training
        model.eval()  # no dropout: the representation the memory is judged by
        emb, out = [None] * len(examples), [None] * len(examples)
        try:
            for idx in eval_order(examples.lengths, self.batch_size):
                batch = collate([(self.task_index, examples, idx)], self.pad_id).to(device)
                pooled = model.encode(batch)
                ((_, _, o),) = model.outputs(batch, pooled)
                o = o.float() if self.regression else o.float().softmax(-1)
                for i, e, p in zip(idx, pooled.float().cpu().numpy(), o.cpu().numpy()):
                    emb[i], out[i] = e, p
        finally:
            model.train(was_training)
        self.embeddings = np.stack(emb).astype(np.float32)
        self.outputs = np.stack(out)


# -- helpers shared by selectors ---------------------------------------------------------------
def label_groups(examples: Examples, regression: bool) -> np.ndarray:
    """A group id per example: its class, or its label-quantile bin for a regression."""
    y = examples.labels
    if not regression:
        return y.astype(np.int64)
    edges = np.quantile(y, np.linspace(0, 1, REGRESSION_BINS + 1)[1:-1])
    return np.searchsorted(np.unique(edges), y, side="right")


def balanced_quotas(counts: np.ndarray, budget: int, rng: np.random.Generator) -> np.ndarray:
    """Equal shares of `budget` per group; what a small group cannot fill goes to the others.
    A remainder too small to share goes to groups drawn at random."""
    quotas = np.zeros_like(counts)
    budget = min(int(budget), int(counts.sum()))
    while budget > 0:
        open_ = np.flatnonzero(quotas < counts)
        share = budget // len(open_)
        if share == 0:
            quotas[rng.choice(open_, size=budget, replace=False)] += 1
            break
        take = np.minimum(share, counts[open_] - quotas[open_])
        quotas[open_] += take
        budget -= int(take.sum())
    return quotas


def interleave(ranked: list[np.ndarray]) -> np.ndarray:
    """Round-robin merge of per-group ranked lists, so that every prefix stays balanced."""
    ranked = [r for r in ranked if len(r)]
    if not ranked:
        return np.zeros(0, dtype=np.int64)
    items = np.concatenate(ranked)
    rank = np.concatenate([np.arange(len(r)) for r in ranked])
    group = np.concatenate([np.full(len(r), g) for g, r in enumerate(ranked)])
    return items[np.lexsort((group, rank))].astype(np.int64)


def per_group(examples: Examples, budget: int, context: SelectionContext, rank) -> np.ndarray:
    """Apply `rank(positions, quota) -> ranked positions` inside each label group with balanced
    quotas, and interleave the answers."""
    groups = label_groups(examples, context.regression)
    ids, counts = np.unique(groups, return_counts=True)
    quotas = balanced_quotas(counts, budget, context.rng)
    return interleave([rank(np.flatnonzero(groups == g), int(q)) for g, q in zip(ids, quotas) if q])


def top(scores: np.ndarray, budget: int) -> np.ndarray:
    """Positions of the `budget` highest scores, highest first (ties: earlier position first)."""
    return np.argsort(-scores, kind="stable")[: max(0, budget)].astype(np.int64)


def regression_error(examples: Examples, context: SelectionContext) -> np.ndarray:
    """Squared error of each regression prediction: a point regressor has no predictive
    distribution, and under the Gaussian likelihood its MSE loss implies the examples it fits worst
    are the ones it is least sure of (the regression stand-in for entropy and margin)."""
    return (context.predict(examples).reshape(-1) - examples.labels) ** 2


SELECTORS: Registry[type] = plugins.SELECTORS  # benchmark/plugins.py: listed without importing torch
register = SELECTORS.register


def get_selector(name: str, **settings: Any) -> Selector:
    """An instance of the registered selector `name` (UsageError with a suggestion if unknown),
    built with `settings` as keyword arguments (e.g. herding's `normalize`)."""
    return SELECTORS.get(name)(**settings)
