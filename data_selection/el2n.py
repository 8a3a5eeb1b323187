"""EL2N (Paul et al., 2021, "Deep Learning on a Data Diet"): keep the examples with the
largest error L2 norm || p(.|x) - onehot(y) ||_2, the hardest ones for the trained model. Paul et
al. score early in training and over several runs; here the score comes from the model as it is at
the end of the task, which is what a memory can afford. Regression: the largest squared errors,
the same ranking as the absolute error that EL2N reduces to for one output."""

from __future__ import annotations

import numpy as np

from benchmark.data import Examples
from data_selection.base import SelectionContext, register, regression_error, top


@register("el2n")
class EL2NSelector:
    """Largest error norm ||p - onehot(y)|| (regression: largest squared error)."""

    def select(self, examples: Examples, budget: int, context: SelectionContext) -> np.ndarray:
        if context.regression:
            return top(regression_error(examples, context), budget)
        p = context.predict(examples).copy()
        p[np.arange(len(p)), context.targets(examples)] -= 1.0
        return top(np.linalg.norm(p, axis=1), budget)

