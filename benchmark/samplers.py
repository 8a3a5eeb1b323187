"""Task samplers: which task each training step of a multi-task phase draws its batch from.

A phase that trains several tasks (joint, the first phase of `--mtl-tasks`) takes as many steps
per epoch as there are batches in its tasks, S = sum_i ceil(N_i / B); the sampler decides how
those S steps are shared out. With N_i the train examples of task i, e = 1..E the epoch:

    proportional   every batch of every task once per epoch, in random order (p_i = N_i / sum N)
    uniform        p_i = 1 / K
    temperature    p_i ∝ N_i^(1/T)                            (T = 1: by size, T -> inf: uniform)
    sqrt           p_i ∝ N_i^(1/2)                            (temperature with T = 2)
    annealed       p_i ∝ N_i^α, α = 1 - 0.8 (e - 1)/(E - 1)   (Stickland & Murray 2019, sec. 4)
    uncertainty    one candidate batch per task, train on the top-k by normalised entropy
                   (in the spirit of CA-MTL's MT-Uncertainty sampling, Pilault et al. 2021)

All but `proportional` draw tasks with replacement; within a task, batches come from a
length-grouped shuffle of its examples that is reshuffled whenever it runs out, so a task drawn
more often than its size repeats examples and one drawn less leaves some unused. Single-task
phases always use `proportional` (one pass over the task per epoch).

Written by hand: the task-level schedules of MT-DNN, jiant and CA-MTL live inside their training
loops and none is a library; the formulas above are a few lines each.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import numpy as np
import torch

from benchmark import plugins
from benchmark.data import TaskData, length_grouped_order
from benchmark.errors import UsageError
from benchmark.registry import Registry

if TYPE_CHECKING:
    import contextlib
    from collections.abc import Sequence

    from benchmark.data import Batch, Examples
    from benchmark.model import MultiTaskModel
    from benchmark.parallel import Parallel
    from benchmark.phase import Phase

Draw = tuple[TaskData, list[int]]  # a batch of one task: the task and its example positions


class DrawContext(Protocol):
    """What a sampler reads from the run (benchmark.context.RunContext provides it; named here so
    that this module does not import the context, which imports it)."""

    model: MultiTaskModel | None
    parallel: Parallel  # the processes of the run (their decisions must agree)

    def generator(self, *keys: int | str) -> torch.Generator: ...
    def autocast(self) -> contextlib.AbstractContextManager: ...
    def collate(self, parts: Sequence[tuple[TaskData | int, Examples, Sequence[int]]]) -> Batch: ...


class PhaseDraws:
    """Per-task cursors over shuffled batches for one phase (kept across its epochs), plus room
    for a sampler's running state. Each reshuffle is seeded by (phase, task, round), so a task's
    batches do not depend on how the sampler interleaves the tasks."""

    def __init__(self, ctx: DrawContext, phase: Phase, batch_size: int) -> None:
        self.ctx, self.phase, self.batch_size = ctx, phase, batch_size
        self.sizes = np.array([len(t.train) for t in phase.tasks], dtype=np.float64)
        self.steps_per_epoch = sum(math.ceil(len(t.train) / batch_size) for t in phase.tasks)
        self.state: dict[str, Any] = {}
        self._queues: list[list[list[int]]] = [[] for _ in phase.tasks]
        self._rounds = [0] * len(phase.tasks)

    def next(self, i: int) -> Draw:
        """The next batch of the phase's i-th task."""
        task = self.phase.tasks[i]
        if not self._queues[i]:
            g = self.ctx.generator("draws", self.phase.index, task.index, self._rounds[i])
            self._rounds[i] += 1
            self._queues[i] = length_grouped_order(task.train.lengths, self.batch_size, g)[::-1]
        return task, self._queues[i].pop()


@dataclass
class SamplerConfig:
    """Settings of a sampler (`--sampler-set KEY=VALUE`); this one has none."""


class TaskSampler:
    """Base of the samplers: `schedule` yields one epoch's draws."""

    name: ClassVar[str] = ""
    Config: ClassVar[type] = SamplerConfig
    formula: ClassVar[str] = ""

    def __init__(self, config: Any = None) -> None:
        self.config = config if config is not None else self.Config()

    def schedule(self, draws: PhaseDraws, epoch: int, epochs: int) -> Iterator[Draw]:
        raise NotImplementedError


SAMPLERS: Registry[type[TaskSampler]] = plugins.SAMPLERS  # benchmark/plugins.py: listed without importing torch


@SAMPLERS.register("proportional")
class Proportional(TaskSampler):
    """Each task by its size, without replacement: every example once per epoch (the default)."""

    formula = "p_i = N_i / sum_j N_j, each batch once per epoch"

    def schedule(self, draws: PhaseDraws, epoch: int, epochs: int) -> Iterator[Draw]:
        g = draws.ctx.generator("batches", draws.phase.index, epoch)
        plan = [(task, idx) for task in draws.phase.tasks
                for idx in length_grouped_order(task.train.lengths, draws.batch_size, g)]
        if len(draws.phase.tasks) > 1:
            plan = [plan[i] for i in torch.randperm(len(plan), generator=g).tolist()]
        return iter(plan)


class WeightedSampler(TaskSampler):
    """Draws the task of each step from fixed probabilities per epoch, with replacement."""

    def probabilities(self, sizes: np.ndarray, epoch: int, epochs: int) -> np.ndarray:
        raise NotImplementedError

    def schedule(self, draws: PhaseDraws, epoch: int, epochs: int) -> Iterator[Draw]:
        p = torch.as_tensor(self.probabilities(draws.sizes, epoch, epochs), dtype=torch.float64)
        g = draws.ctx.generator("batches", draws.phase.index, epoch)
        for i in torch.multinomial(p, draws.steps_per_epoch, replacement=True, generator=g).tolist():
            yield draws.next(i)


def power_weights(sizes: np.ndarray, exponent: float) -> np.ndarray:
    w = np.power(sizes, exponent)
    return w / w.sum()


@SAMPLERS.register("uniform")
class Uniform(WeightedSampler):
    """Every task equally often, whatever its size."""

    formula = "p_i = 1 / K"

    def probabilities(self, sizes: np.ndarray, epoch: int, epochs: int) -> np.ndarray:
        return power_weights(sizes, 0.0)


@dataclass
class TemperatureConfig(SamplerConfig):
    temperature: float = field(default=2.0, metadata={
        "help": "T in p_i ∝ N_i^(1/T): 1 = by size (with replacement), larger = closer to uniform"})

    def __post_init__(self) -> None:
        if not self.temperature > 0:
            raise UsageError(f"temperature must be > 0, not {self.temperature}")


@SAMPLERS.register("temperature")
class Temperature(WeightedSampler):
    """Sizes flattened by a temperature T (Arivazhagan et al. 2019; T = 2 is sqrt)."""

    Config = TemperatureConfig
    formula = "p_i ∝ N_i^(1/T)"

    def probabilities(self, sizes: np.ndarray, epoch: int, epochs: int) -> np.ndarray:
        return power_weights(sizes, 1.0 / self.config.temperature)


@SAMPLERS.register("sqrt")
class Sqrt(WeightedSampler):
    """By the square root of the sizes (temperature 2)."""

    formula = "p_i ∝ N_i^(1/2)"

    def probabilities(self, sizes: np.ndarray, epoch: int, epochs: int) -> np.ndarray:
        return power_weights(sizes, 0.5)


def annealed_alpha(epoch: int, epochs: int) -> float:
    """Stickland & Murray (2019): α = 1 - 0.8 (e - 1)/(E - 1) for e = epoch + 1 = 1..E."""
    return 1.0 if epochs <= 1 else 1.0 - 0.8 * epoch / (epochs - 1)


@SAMPLERS.register("annealed")
class Annealed(WeightedSampler):
    """By size in the first epoch, annealed towards uniform by the last (Stickland & Murray 2019)."""

    formula = "p_i ∝ N_i^α, α = 1 - 0.8 (e-1)/(E-1)"

    def probabilities(self, sizes: np.ndarray, epoch: int, epochs: int) -> np.ndarray:
        return power_weights(sizes, annealed_alpha(epoch, epochs))


def normalised_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Entropy of each row's softmax divided by log(classes): 0 = certain, 1 = uniform."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    return -(logp.exp() * logp).sum(-1) / math.log(logits.shape[-1])


@dataclass
class UncertaintyConfig(SamplerConfig):
    top_k: int = field(default=1, metadata={
        "help": "candidate batches trained on per round (each round draws one candidate per task)"})
    window: int = field(default=10, metadata={
        "help": "a task's running mean entropy is over its last `window` candidates (0 = all so far)"})

    def __post_init__(self) -> None:
        if self.top_k < 1 or self.window < 0:
            raise UsageError(f"top_k must be >= 1 and window >= 0, not {self.top_k} and {self.window}")


@SAMPLERS.register("uncertainty")
class Uncertainty(TaskSampler):
    """Train on the candidate batches the model is most unsure of, relative to each task's usual
    uncertainty (after CA-MTL's MT-Uncertainty sampling, Pilault et al. 2021).

    Each round draws one candidate batch per task and scores it by u = h / m_t: h is the batch's
    mean entropy normalised by log(classes) (the model in eval mode, no gradient), m_t the mean of
    h over task t's last `window` candidates, this one included (the first scores 1). A windowed
    mean follows the fall of the entropy as the model learns; a mean over all candidates would make
    every task look ever more certain than usual. The top_k candidates by u are trained on; the
    others are dropped, so some data goes unused. Regression tasks have no predictive distribution:
    their candidates score 1, "as uncertain as usual". Ties are broken at random. CA-MTL ranks
    single examples of a joint superbatch by entropy times the task's mean entropy over the
    largest; this ranks whole batches, which keeps the length-grouped batching and the per-task
    routing of the encoder."""

    Config = UncertaintyConfig
    formula = "top-k of one candidate batch per task by h/m_t (normalised entropy / its running mean)"

    def scores(self, draws: PhaseDraws, candidates: list[Draw]) -> list[float]:
        ctx, model = draws.ctx, draws.ctx.model
        if model is None:
            raise RuntimeError("uncertainty sampling needs the model: RunContext.model is not set")
        parts = [(t, t.train, idx) for t, idx in candidates if not t.spec.regression]
        entropy: dict[int, float] = {}
        if parts:
            was_training = model.training
            model.eval()
            try:
                with torch.no_grad(), ctx.autocast():
                    for tid, _, out in model.outputs(ctx.collate(parts)):
                        entropy[tid] = normalised_entropy(out).mean().item()
            finally:
                model.train(was_training)
        recent = draws.state.setdefault("entropy", {})  # task index -> its last h values
        out = []
        for task, _ in candidates:
            if task.index not in entropy:
                out.append(1.0)
                continue
            history = recent.setdefault(task.index, deque(maxlen=self.config.window or None))
            history.append(entropy[task.index])
            m = sum(history) / len(history)
            out.append(history[-1] / m if m > 0 else 1.0)
        # several processes score the same candidates with the same weights; the main process's
        # scores decide, so that a rounding difference cannot send them to different batches
        return ctx.parallel.agree(out)

    def schedule(self, draws: PhaseDraws, epoch: int, epochs: int) -> Iterator[Draw]:
        g = draws.ctx.generator("uncertainty", draws.phase.index, epoch)
        left = draws.steps_per_epoch
        while left > 0:
            candidates = [draws.next(i) for i in range(len(draws.phase.tasks))]
            scores = self.scores(draws, candidates)
            ties = torch.rand(len(candidates), generator=g).tolist()
            ranked = sorted(range(len(candidates)), key=lambda j: (-scores[j], ties[j]))
            for j in ranked[: min(self.config.top_k, left)]:
                left -= 1
                yield candidates[j]


PROPORTIONAL = Proportional()


class DataUsage:
    """The training examples of each task that a phase's batches drew, for the run JSON."""

    def __init__(self) -> None:
        self.drawn: dict[int, set[int]] = {}

    def reset(self) -> None:
        self.drawn = {}

    def record(self, task_index: int, idx: list[int]) -> None:
        self.drawn.setdefault(task_index, set()).update(idx)

    def unique(self, task_index: int) -> int:
        return len(self.drawn.get(task_index, ()))
