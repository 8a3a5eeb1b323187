"""Margin selection (margin sampling, Scheffer et al., 2001; Settles 2009, sec. 3.1): keep the
examples with the smallest gap p_(1) - p_(2) between the two most probable classes. Regression:
the largest squared errors (see `regression_error`)."""

from __future__ import annotations

import numpy as np

from benchmark.data import Examples
from data_selection.base import SelectionContext, register, regression_error, top


@register("margin")
class MarginSelector:
    """Smallest gap between the two most probable classes (regression: largest squared error)."""

    def select(self, examples: Examples, budget: int, context: SelectionContext) -> np.ndarray:
        if context.regression:
            return top(regression_error(examples, context), budget)
        p = np.sort(context.predict(examples), axis=1)
        return top(-(p[:, -1] - p[:, -2]), budget)
