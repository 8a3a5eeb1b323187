"""Entropy selection (uncertainty sampling, Settles 2009, "Active Learning Literature Survey",
sec. 3.1): keep the examples with the highest predictive entropy H(p(.|x)) = -sum_c p_c log p_c of
the model at the end of the task. Regression: the largest squared errors (see `regression_error`)."""

from __future__ import annotations

import numpy as np
from scipy.stats import entropy

from benchmark.data import Examples
from data_selection.base import SelectionContext, register, regression_error, top


@register("entropy")
class EntropySelector:
    """Highest predictive entropy (regression: largest squared error)."""

    def select(self, examples: Examples, budget: int, context: SelectionContext) -> np.ndarray:
        if context.regression:
            return top(regression_error(examples, context), budget)
        return top(entropy(context.predict(examples), axis=1), budget)
