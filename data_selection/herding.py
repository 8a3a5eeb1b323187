"""Herding (Rebuffi et al., 2017, iCaRL, Algorithm 4), per class: greedily add the example that
brings the mean embedding of the selection closest to the class mean,

    p_k = argmin_x || mu - (x + sum_{j<k} p_j) / k ||,   mu = class mean of the embeddings.

Embeddings are the model's pooled sentence vectors, L2-normalised first as in iCaRL (its features
phi(x) are normalised before the class mean and the herding loop); `normalize=False` herds the raw
vectors instead, the space the linear heads here read. Regression tasks use label-quantile bins as
classes.
"""

from __future__ import annotations

import numpy as np

from benchmark.data import Examples
from data_selection.base import SelectionContext, per_group, register


def herd(x: np.ndarray, k: int) -> np.ndarray:
    """Herding order of the first k rows of x (no library implements it: a short greedy loop)."""
    x = x.astype(np.float64)
    mu = x.mean(0)
    chosen: list[int] = []
    total = np.zeros_like(mu)
    free = np.ones(len(x), dtype=bool)
    for step in range(1, min(k, len(x)) + 1):
        dist = np.square(mu - (total + x) / step).sum(1)
        dist[~free] = np.inf
        i = int(np.argmin(dist))
        chosen.append(i)
        total += x[i]
        free[i] = False
    return np.asarray(chosen, dtype=np.int64)


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (a zero row stays zero)."""
    norms = np.linalg.norm(x.astype(np.float64), axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0)


@register("herding")
class HerdingSelector:
    """Per class, the examples whose running mean embedding tracks the class mean (iCaRL)."""

    def __init__(self, normalize: bool = True) -> None:
        self.normalize = normalize

    def select(self, examples: Examples, budget: int, context: SelectionContext) -> np.ndarray:
        emb = context.embed(examples)
        if self.normalize:
            emb = l2_normalize(emb)
        return per_group(examples, budget, context, lambda pos, k: pos[herd(emb[pos], k)])
