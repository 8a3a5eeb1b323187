"""Class-balanced random selection: equal numbers per class (what a small class cannot fill goes to
the others), random inside each class. Regression tasks are stratified on label-quantile bins."""

from __future__ import annotations

import numpy as np

from benchmark.data import Examples
from data_selection.base import SelectionContext, per_group, register


@register("class-balanced")
class ClassBalancedSelector:
    """Equal count per class (per label-quantile bin for regression), random within each."""

    def select(self, examples: Examples, budget: int, context: SelectionContext) -> np.ndarray:
        return per_group(examples, budget, context, lambda pos, k: context.rng.permutation(pos)[:k])
