"""Averaged gradient episodic memory, A-GEM (Chaudhry et al., 2019, ICLR, eq. 11): keep a random
memory of each finished task; at each step compute the reference gradient g_ref of the loss on a
batch drawn from the memory, and when the current gradient g would increase it (g·g_ref < 0) step
along its projection instead,

    g̃ = g - (g·g_ref / g_ref·g_ref) g_ref.

The model's gradients live in one flat buffer (each .grad a view of it), made once per task, so
dot products and the projection act on the whole gradient without gathering or copying it.
Parameters are one vector here, as in the paper: a projection may move an old task's head, and
gradients are zeroed rather than dropped, so AdamW (optimizer=adamw) also decays parameters a step
left untouched.

The paper steps with plain SGD, θ <- θ - lr g̃, so the projection is the update: the default
(`optimizer=sgd`, no momentum, no weight decay). `optimizer=adamw` hands g̃ to AdamW instead, whose
per-coordinate step sizes and moment estimates (built from earlier, differently projected
gradients) can undo part of the projection. SGD needs a learning rate ~100x AdamW's: the default
0.03 is the paper's for its image benchmarks, not tuned for MiniLM (docs/strategies.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import torch

from benchmark.data import Batch
from benchmark.errors import UsageError
from strategies.base import Phase, SearchSpace, register
from strategies.replay import MemoryConfig, MemoryStrategy


@dataclass
class AGEMConfig(MemoryConfig):
    # SGD rates (the default optimiser); the memory's size and the reference batch drawn from it
    search_space: ClassVar[SearchSpace] = {
        "lr": ("log", 1e-3, 1e-1), "budget": ("log-int", 10, 500), "ref_batch_size": ("log-int", 16, 256)}

    lr: float = field(default=0.03, metadata={
        "help": "learning rate (0.03 is the paper's SGD rate; with optimizer=adamw use ~1e-4)"})
    weight_decay: float = field(default=0.0, metadata={"help": "weight decay (the paper's SGD has none)"})
    optimizer: Literal["sgd", "adamw"] = field(default="sgd", metadata={
        "help": "sgd: plain SGD, the step is -lr times the projected gradient (paper); adamw: AdamW"})
    ref_batch_size: int = field(default=0, metadata={
        "help": "memory examples per reference gradient (0 = the training batch size)"})

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.ref_batch_size < 0:
            raise UsageError(f"ref_batch_size must be >= 0, not {self.ref_batch_size}")
        if self.optimizer not in ("sgd", "adamw"):
            raise UsageError(f"optimizer must be sgd or adamw, not {self.optimizer!r}")
        if self.optimizer == "adamw" and self.lr > 1e-2:
            # a silent AdamW run at the SGD rate would wreck the backbone in a few steps
            raise UsageError(f"agem: lr {self.lr} is an SGD rate; with optimizer=adamw set lr too (e.g. 1e-4)")


def project_(g: torch.Tensor, g_ref: torch.Tensor) -> bool:
    """In place, g <- g - (g·g_ref / g_ref·g_ref) g_ref when g·g_ref < 0; whether it projected."""
    dot = torch.dot(g, g_ref)
    if dot >= 0:
        return False
    g.sub_(g_ref, alpha=float(dot / torch.dot(g_ref, g_ref)))
    return True


@register("agem")
class AGEM(MemoryStrategy):
    """A-GEM: project the gradient so the loss on a memory batch does not increase."""

    Config = AGEMConfig

    def make_optimizer(self, groups: list[dict[str, Any]]) -> torch.optim.Optimizer:
        if self.config.optimizer == "adamw":
            return super().make_optimizer(groups)
        return torch.optim.SGD(groups, lr=self.config.lr, momentum=0.0)

    def before_task(self, phase: Phase) -> None:
        super().before_task(phase)
        params = [p for group in self.optimizer.param_groups for p in group["params"]]
        if len({p.dtype for p in params}) != 1:
            raise UsageError("agem needs all trainable parameters in one dtype")
        self._flat = torch.zeros(sum(p.numel() for p in params), dtype=params[0].dtype, device=params[0].device)
        self._ref = torch.empty_like(self._flat)
        self._params, start = params, 0
        for p in params:  # backward accumulates into these views in place
            p.grad = self._flat[start : start + p.numel()].view_as(p)
            start += p.numel()
        self._generator = self.ctx.generator("agem", phase.index)

    def train_step(self, batch: Batch) -> float:
        memory = len(self.memory_) > 0
        if memory:
            k = self.config.ref_batch_size or self.ctx.batch_size
            with self.ctx.autocast():
                ref_loss = self.model.loss(self.ctx.collate(self.memory_.sample(k, self._generator)))
            self.ctx.backward(ref_loss)  # several processes: each draws the same memory batch
            self._ref.copy_(self._flat)
            self._flat.zero_()
        with self.ctx.autocast():
            loss = self.loss(batch)
        self.ctx.backward(loss)  # several processes: the whole batch's gradient, projected alike
        if memory:
            project_(self._flat, self._ref)
        self.optimizer_step()
        return loss.item()

    def optimizer_step(self) -> None:
        self.ctx.optimizer_step(self.optimizer, self._params, self.config.max_grad_norm)
        self.scheduler.step()
        self._flat.zero_()  # zeroed, not set to None: the .grad views must survive

    def after_task(self, phase: Phase) -> None:
        for p in self.model.parameters():
            p.grad = None
        self._flat = self._ref = self._params = None
        super().after_task(phase)
