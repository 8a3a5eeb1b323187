"""Experience replay (Chaudhry et al., 2019, "On Tiny Episodic Memories in Continual Learning";
Rolnick et al., 2019): keep a few examples of each finished task and mix a random draw of them into
every batch of the current task, so each step minimises

    L = mean_{(x,y) in B_t ∪ B_M} l(f(x), y),   B_M ~ Uniform(memory),  |B_M| = |B_t| (the paper's),

with each memory example routed to its own task's head. The memory holds `budget` examples per
task, or a `total_budget` shared evenly by the tasks seen (old tasks shrink as new ones arrive).
Examples are chosen at random here; coreset-replay chooses them with a selector.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from benchmark.data import Batch, TaskData
from benchmark.errors import UsageError
from data_selection.base import SelectionContext, get_selector
from data_selection.memory import ReplayMemory, even_quotas
from strategies.base import (
    BaseStrategy,
    Phase,
    SearchSpace,
    StateSize,
    StrategyConfig,
    count_floats,
    register,
)


@dataclass
class MemoryConfig(StrategyConfig):
    search_space: ClassVar[SearchSpace] = {**StrategyConfig.search_space, "budget": ("log-int", 10, 500)}

    budget: int = field(default=100, metadata={"help": "examples kept per task (when total_budget is 0)"})
    total_budget: int = field(default=0, metadata={
        "help": "examples kept in all, shared evenly by the tasks seen; replaces budget when > 0"})

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.budget < 0 or self.total_budget < 0:
            raise UsageError(f"budget and total_budget must be >= 0, not {self.budget} and {self.total_budget}")
        if self.budget == 0 and self.total_budget == 0:
            raise UsageError("budget or total_budget must be > 0, or the memory stays empty")


class MemoryStrategy(BaseStrategy):
    """Fills a replay memory (`memory_`) after each task; subclasses decide how to use it."""

    Config = MemoryConfig
    kept = ("memory_",)

    def selector_name(self) -> str:
        """The data_selection selector that fills the memory (a setting of coreset-replay)."""
        return "random"

    def selector_settings(self) -> dict[str, Any]:
        """Keyword arguments of the selector (coreset-replay passes herding's `normalize`)."""
        return {}

    def setup(self, model, ctx) -> None:
        super().setup(model, ctx)
        self.memory_ = ReplayMemory()

    def after_task(self, phase: Phase) -> None:
        cfg = self.config
        for task in phase.tasks:
            quota = cfg.budget
            if cfg.total_budget:
                quota = even_quotas(cfg.total_budget, len(self.memory_.tasks) + 1)[-1]
            self.memory_.add(task.index, task.train.subset(self.select(task, quota)))
        if cfg.total_budget:  # earlier tasks shrink to a prefix of their selection, their best
            quotas = even_quotas(cfg.total_budget, len(self.memory_.tasks))
            self.memory_.shrink(dict(zip(self.memory_.tasks, quotas)))

    def select(self, task: TaskData, budget: int) -> np.ndarray:
        seed = self.ctx.generator("select", task.index).initial_seed()
        context = SelectionContext.for_task(self.model, task, self.ctx, seed)
        return get_selector(self.selector_name(), **self.selector_settings()).select(task.train, budget, context)

    def state_size(self) -> StateSize:
        return StateSize(floats=count_floats(self.state_dict()), examples=len(self.memory_),
                         tokens=self.memory_.num_tokens)


@dataclass
class ReplayConfig(MemoryConfig):
    search_space: ClassVar[SearchSpace] = {**MemoryConfig.search_space, "replay_ratio": ("float", 0.25, 2.0)}

    # Chaudhry et al. 2019 (sec. 4) concatenate each batch of the task with a memory batch of the
    # same size (10 and 10): ratio 1. Earlier versions used 0.5 (16 memory examples per 32 new).
    replay_ratio: float = field(default=1.0, metadata={
        "help": "memory examples added to each batch, as a share of the batch size (1 = equal halves, the paper's)"})
    replay_per_batch: int = field(default=0, metadata={
        "help": "memory examples added to each batch; replaces replay_ratio when > 0"})

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 <= self.replay_ratio <= 8:
            raise UsageError(f"replay_ratio must be in [0, 8], not {self.replay_ratio}")
        if self.replay_per_batch < 0:
            raise UsageError(f"replay_per_batch must be >= 0, not {self.replay_per_batch}")


class ReplayBatches:
    """The phase's batches, each with `k` memory examples appended."""

    def __init__(self, ctx, phase: Phase, memory: ReplayMemory, k: int) -> None:
        self.ctx, self.phase, self.memory, self.k = ctx, phase, memory, k
        self.plan = ctx.task_batches(phase)

    def __len__(self) -> int:
        return len(self.plan)

    def __iter__(self) -> Iterator[Batch]:
        g = self.ctx.generator("replay", self.phase.index)
        for task, idx in self.plan.index_stream():
            yield self.ctx.collate([(task, task.train, idx), *self.memory.sample(self.k, g)])


@register("replay")
class Replay(MemoryStrategy):
    """Experience replay: random memory examples mixed into every batch."""

    Config = ReplayConfig

    def batches(self, phase: Phase) -> Iterable[Batch]:
        cfg = self.config
        k = cfg.replay_per_batch or round(cfg.replay_ratio * self.ctx.batch_size)
        if k == 0 or len(self.memory_) == 0:
            return super().batches(phase)
        return ReplayBatches(self.ctx, phase, self.memory_, k)
