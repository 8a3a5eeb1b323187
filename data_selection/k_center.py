"""k-center greedy (Sener & Savarese, 2018, Algorithm 1): repeatedly add the example farthest from
everything chosen so far, u = argmax_i min_{j in S} ||x_i - x_j||, which 2-approximates the
smallest covering radius of the embeddings. Over all examples of the task, not per class."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import pairwise_distances

from benchmark.data import Examples
from data_selection.base import SelectionContext, register


def k_center_greedy(x: np.ndarray, k: int) -> np.ndarray:
    """Greedy order of the first k centres; starts from the example nearest the mean (scikit-learn
    has the distances, not the greedy loop)."""
    k = min(k, len(x))
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    first = int(np.argmin(pairwise_distances(x, x.mean(0, keepdims=True)).ravel()))
    chosen = [first]
    nearest = pairwise_distances(x, x[[first]]).ravel()
    for _ in range(k - 1):
        i = int(np.argmax(nearest))
        chosen.append(i)
        nearest = np.minimum(nearest, pairwise_distances(x, x[[i]]).ravel())
    return np.asarray(chosen, dtype=np.int64)


def covering_radius(x: np.ndarray, centres: np.ndarray) -> float:
    """Largest distance from an example to its nearest chosen example."""
    return float(pairwise_distances(x, x[centres]).min(1).max())


@register("k-center")
class KCenterSelector:
    """Greedy k-center coreset on the embeddings (Sener & Savarese 2018)."""

    def select(self, examples: Examples, budget: int, context: SelectionContext) -> np.ndarray:
        return k_center_greedy(context.embed(examples), budget)
