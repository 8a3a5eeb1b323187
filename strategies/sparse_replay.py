"""Sparse experience replay (d'Autume et al., 2019, "Episodic Memory in Lifelong Language
Learning", sec. 3.2): train on the current task's batches as they come, and after every
`replay_every` of them take one extra step on a batch drawn uniformly from the memory alone.
The paper replays 100 examples after every 10,000 new ones (a 1% rate) over long streams; on
short streams the default replays more often, or most tasks would see no replay at all."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import ClassVar

from benchmark.data import Batch
from benchmark.errors import UsageError
from strategies.base import Phase, SearchSpace, register
from strategies.replay import MemoryConfig, MemoryStrategy


@dataclass
class SparseReplayConfig(MemoryConfig):
    search_space: ClassVar[SearchSpace] = {**MemoryConfig.search_space, "replay_every": ("log-int", 1, 100)}

    replay_every: int = field(default=10, metadata={"help": "task batches between two memory batches"})
    replay_batch_size: int = field(default=0, metadata={
        "help": "examples per memory batch (0 = the training batch size)"})

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.replay_every < 1:
            raise UsageError(f"replay_every must be >= 1, not {self.replay_every}")
        if self.replay_batch_size < 0:
            raise UsageError(f"replay_batch_size must be >= 0, not {self.replay_batch_size}")


@register("sparse-replay")
class SparseReplay(MemoryStrategy):
    """Sparse experience replay: a memory-only batch every N task batches (d'Autume et al. 2019)."""

    Config = SparseReplayConfig

    def batches(self, phase: Phase) -> Iterable[Batch]:
        if len(self.memory_) == 0:
            return super().batches(phase)
        return SparseReplayBatches(self, phase)


class SparseReplayBatches:
    """The phase's batches with a memory-only batch after every `replay_every` of them."""

    def __init__(self, strategy: SparseReplay, phase: Phase) -> None:
        self.ctx, self.phase, self.memory = strategy.ctx, phase, strategy.memory_
        self.every = strategy.config.replay_every
        self.k = strategy.config.replay_batch_size or self.ctx.batch_size
        self.plan = self.ctx.task_batches(phase)

    def __len__(self) -> int:  # sizes the learning-rate schedule
        return len(self.plan) + len(self.plan) // self.every

    def __iter__(self) -> Iterator[Batch]:
        g = self.ctx.generator("replay", self.phase.index)
        for step, batch in enumerate(self.plan, start=1):
            yield batch
            if step % self.every == 0:
                yield self.ctx.collate(self.memory.sample(self.k, g))
