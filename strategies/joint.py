"""Joint multi-task training: all tasks of the stream at once, one phase, batches drawn from each
task in proportion to its size (every example once per epoch). The usual upper bound of continual
learning, as in the multi-task rows of Stickland & Murray (2019) and d'Autume et al. (2019).
Its R matrix has one row, after training, so forgetting and BWT are undefined (null)."""

from __future__ import annotations

from strategies.base import BaseStrategy, register


@register("joint")
class Joint(BaseStrategy):
    """Train on all tasks at once, sampling tasks by size (upper bound)."""

    def plan(self, num_tasks: int) -> list[list[int]]:
        return [list(range(num_tasks))]
