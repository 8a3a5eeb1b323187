"""Dark Experience Replay++ (Buzzega et al., 2020, "Dark Experience for General Continual
Learning: a Strong, Simple Baseline", NeurIPS): a reservoir buffer over the whole stream keeps
examples with the outputs ("logits") the model gave them when they were seen, and each step adds

    L = L_new(B_t) + α · mean ||h(x') - z'||²  +  β · L(x'', y''),   (x', z'), (x'', y'') ~ buffer

a distillation of the stored logits (DER) and plain replay of stored labels (the "++"), each on
its own draw from the buffer. Outputs are each task head's raw output (regression heads:
standardised), compared over the classes of the example's task.

Reservoir sampling (Vitter 1985) keeps every example seen so far in the buffer with the same
probability, without task boundaries; the paper's defaults for its text-free benchmarks are
α = 0.1..0.3, β = 0.5..1, so α = 0.1 and β = 0.5 here; `buffer_size` is the total budget.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from benchmark.data import Batch, Examples
from benchmark.errors import UsageError
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
class DERppConfig(StrategyConfig):
    search_space: ClassVar[SearchSpace] = {
        **StrategyConfig.search_space, "alpha": ("log", 0.01, 3.0), "beta": ("float", 0.0, 2.0)}

    buffer_size: int = field(default=500, metadata={"help": "examples in the reservoir buffer, in all"})
    alpha: float = field(default=0.1, metadata={"help": "weight α of the logit distillation (DER)"})
    beta: float = field(default=0.5, metadata={"help": "weight β of the label replay (the ++; 0 = DER)"})
    replay_batch_size: int = field(default=0, metadata={
        "help": "examples per buffer draw (0 = the training batch size)"})

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.buffer_size < 1:
            raise UsageError(f"buffer_size must be >= 1, not {self.buffer_size}")
        if self.alpha < 0 or self.beta < 0:
            raise UsageError(f"alpha and beta must be >= 0, not {self.alpha} and {self.beta}")
        if self.replay_batch_size < 0:
            raise UsageError(f"replay_batch_size must be >= 0, not {self.replay_batch_size}")


def head_outputs(model, batch: Batch, pooled: torch.Tensor | None = None) -> list[tuple[int, torch.Tensor, torch.Tensor]]:
    """(task index, rows, raw head output) per task of the batch: logits, or a regression head's
    standardised prediction."""
    pooled = model.encode(batch) if pooled is None else pooled
    out = []
    for tid in batch.task_ids.unique().tolist():
        rows = (batch.task_ids == tid).nonzero(as_tuple=True)[0]
        out.append((tid, rows, model.heads[model.specs[tid].name](pooled[rows]).float()))
    return out


@register("derpp")
class DERpp(BaseStrategy):
    """Dark Experience Replay++: a reservoir of examples with their logits, distilled and replayed."""

    Config = DERppConfig
    scenarios = ("task-incremental",)  # stored logits are per task head
    # the reservoir takes each step's examples with the outputs they got; with several processes
    # each would see only its rows of the batch and keep a different buffer
    data_parallel = False
    # stored examples, their task and head outputs; examples offered to the reservoir so far
    kept = ("buffer_", "buffer_tasks_", "buffer_logits_", "seen_")

    def setup(self, model, ctx) -> None:
        super().setup(model, ctx)
        self.buffer_ = Examples([], None, np.zeros(0, dtype=np.float32))
        self.buffer_tasks_ = torch.zeros(0, dtype=torch.long)
        self.buffer_logits_ = torch.zeros(0, 0)  # padded to the widest head; rows by slot
        self.seen_ = 0
        self._current: tuple | None = None

    # -- data: the phase's batches, remembering which examples each holds ------------------
    def batches(self, phase: Phase):
        return _Tracked(self, phase)

    def train_step(self, batch: Batch) -> float:
        cfg = self.config
        with self.ctx.autocast():
            pooled = self.model.encode(batch)
            loss = self.model.loss(batch, pooled)
            outputs = head_outputs(self.model, batch, pooled)
            if len(self.buffer_) and cfg.alpha > 0:
                loss = loss + cfg.alpha * self._distillation(self._draw("der"))
            if len(self.buffer_) and cfg.beta > 0:
                loss = loss + cfg.beta * self.model.loss(self._draw("derpp"))
        self.ctx.backward(loss)
        self.optimizer_step()
        self._reservoir(outputs)
        return loss.item()

    # -- the buffer --------------------------------------------------------------------------
    def _draw(self, key: str) -> Batch:
        k = min(self.config.replay_batch_size or self.ctx.batch_size, len(self.buffer_))
        g = self._generators.setdefault(key, self.ctx.generator(key, self._phase))
        slots = torch.randperm(len(self.buffer_), generator=g)[:k].sort().values.tolist()
        batch = self.ctx.collate([(int(self.buffer_tasks_[i]), self.buffer_, [i]) for i in slots])
        batch.slots = slots
        return batch

    def _distillation(self, batch: Batch) -> torch.Tensor:
        errors = []
        for _, rows, out in head_outputs(self.model, batch):
            stored = self.buffer_logits_[[batch.slots[r] for r in rows.tolist()], : out.shape[-1]]
            errors.append(F.mse_loss(out, stored.to(out.device), reduction="none").mean(-1))
        return torch.cat(errors).mean()

    def _reservoir(self, outputs) -> None:
        """Offer the step's examples to the reservoir with the outputs they got in the step."""
        task, idx = self._current
        width = max([self.buffer_logits_.shape[1], *(o.shape[-1] for _, _, o in outputs)])
        if width > self.buffer_logits_.shape[1]:
            self.buffer_logits_ = F.pad(self.buffer_logits_, (0, width - self.buffer_logits_.shape[1]))
        logits = torch.zeros(len(idx), width)
        for _, rows, out in outputs:
            logits[rows.cpu(), : out.shape[-1]] = out.detach().float().cpu()
        rng = self._generators.setdefault("reservoir", self.ctx.generator("reservoir", self._phase))
        for r, i in enumerate(idx):
            slot = len(self.buffer_) if len(self.buffer_) < self.config.buffer_size else \
                int(torch.randint(self.seen_ + 1, (1,), generator=rng))
            self.seen_ += 1
            if slot >= self.config.buffer_size:
                continue
            one = task.train.subset([i])
            if slot == len(self.buffer_):  # still filling
                self.buffer_ = Examples(self.buffer_.input_ids + one.input_ids,
                                        None if one.token_type_ids is None else
                                        (self.buffer_.token_type_ids or []) + one.token_type_ids,
                                        np.concatenate([self.buffer_.labels, one.labels]))
                self.buffer_tasks_ = torch.cat([self.buffer_tasks_, torch.tensor([task.index])])
                self.buffer_logits_ = torch.cat([self.buffer_logits_, logits[r : r + 1]])
            else:
                self.buffer_.input_ids[slot] = one.input_ids[0]
                if one.token_type_ids is not None:
                    self.buffer_.token_type_ids[slot] = one.token_type_ids[0]
                self.buffer_.labels[slot] = one.labels[0]
                self.buffer_tasks_[slot] = task.index
                self.buffer_logits_[slot] = logits[r]

    def before_task(self, phase: Phase) -> None:
        self._phase = phase.index
        self._generators: dict[str, torch.Generator] = {}
        super().before_task(phase)

    def state_size(self) -> StateSize:
        return StateSize(floats=count_floats(self.state_dict()), examples=len(self.buffer_),
                         tokens=int(self.buffer_.lengths.sum()))


class _Tracked:
    """The phase's batches; before yielding one it tells the strategy which examples it holds."""

    def __init__(self, strategy: DERpp, phase: Phase) -> None:
        self.strategy, self.plan = strategy, strategy.ctx.task_batches(phase)

    def __len__(self) -> int:
        return len(self.plan)

    def __iter__(self) -> Iterator[Batch]:
        for task, idx in self.plan.index_stream():
            self.strategy._current = (task, idx)
            yield self.strategy.ctx.collate([(task, task.train, idx)])
