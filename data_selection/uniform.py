"""Random selection: a uniform sample without replacement, the baseline every coreset must beat
(and what experience replay uses; Chaudhry et al., 2019, "On Tiny Episodic Memories")."""

from __future__ import annotations

import numpy as np

from benchmark.data import Examples
from data_selection.base import SelectionContext, register


@register("random")
class RandomSelector:
    """Uniform sample without replacement."""

    def select(self, examples: Examples, budget: int, context: SelectionContext) -> np.ndarray:
        k = min(max(0, budget), len(examples))
        return context.rng.permutation(len(examples))[:k].astype(np.int64)
