"""The replay memory: examples kept from finished tasks, as tokens (never re-tokenised text).

The memory stores; a selector (data_selection) decides what. Each task's examples are kept in the
selector's priority order, so shrinking the memory to make room for a new task keeps a prefix.
"""

from __future__ import annotations

import numpy as np
import torch

from benchmark.api import checkpointable
from benchmark.data import Examples


def even_quotas(total: int, num_tasks: int) -> list[int]:
    """`total` slots shared by `num_tasks` tasks; the remainder goes to the earliest tasks."""
    share, extra = divmod(total, num_tasks)
    return [share + (i < extra) for i in range(num_tasks)]


@checkpointable  # a checkpoint saves its attributes (benchmark/runstore.py)
class ReplayMemory:
    """Per task (by stream position) the kept examples: tokens and labels."""

    def __init__(self) -> None:
        self.tasks: dict[int, Examples] = {}

    def add(self, task_index: int, examples: Examples) -> None:
        self.tasks[task_index] = examples

    def shrink(self, quotas: dict[int, int]) -> None:
        """Keep the first quotas[t] examples of each task t (the selector's best ones)."""
        for t, q in quotas.items():
            if q < len(self.tasks[t]):
                self.tasks[t] = self.tasks[t].subset(range(q))

    def __len__(self) -> int:
        return sum(len(ex) for ex in self.tasks.values())

    @property
    def num_tokens(self) -> int:
        return int(sum(ex.lengths.sum() for ex in self.tasks.values()))

    def sample(self, k: int, generator: torch.Generator) -> list[tuple[int, Examples, list[int]]]:
        """`k` examples drawn uniformly without replacement from the whole memory, as
        (task index, examples, positions) parts for `RunContext.collate`."""
        sizes = np.array([len(ex) for ex in self.tasks.values()])
        picks = torch.randperm(int(sizes.sum()), generator=generator)[:k].sort().values.numpy()
        starts = np.concatenate([[0], np.cumsum(sizes)])
        parts = []
        for n, (t, ex) in enumerate(self.tasks.items()):
            local = picks[(picks >= starts[n]) & (picks < starts[n + 1])] - starts[n]
            if len(local):
                parts.append((t, ex, local.tolist()))
        return parts
