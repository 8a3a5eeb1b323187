"""k-means coreset: cluster the embeddings into `budget` clusters (scikit-learn's KMeans) and keep
the example nearest each centre, larger clusters first so a shrinking memory keeps the main modes."""

from __future__ import annotations

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import pairwise_distances

from benchmark.data import Examples
from data_selection.base import SelectionContext, register


@register("k-means")
class KMeansSelector:
    """The example nearest each k-means centre of the embeddings."""

    def select(self, examples: Examples, budget: int, context: SelectionContext) -> np.ndarray:
        k = min(max(0, budget), len(examples))
        if k == 0:
            return np.zeros(0, dtype=np.int64)
        x = context.embed(examples).astype(np.float64)
        seed = int(context.rng.integers(2**31))
        km = KMeans(n_clusters=k, n_init="auto", random_state=seed).fit(x)
        dist = pairwise_distances(km.cluster_centers_, x)
        sizes = np.bincount(km.labels_, minlength=k)
        chosen: list[int] = []
        for c in np.argsort(-sizes, kind="stable"):
            d = dist[c].copy()
            d[chosen] = np.inf  # two centres may share a nearest example: take the next one
            chosen.append(int(np.argmin(d)))
        return np.asarray(chosen, dtype=np.int64)
