"""Learning without Forgetting (Li & Hoiem, 2016, ECCV; TPAMI 2017): while training a new
task, keep the old tasks' outputs on the new task's inputs where the model before the task put them,

    L = L_new(y, ŷ) + α Σ_{old heads o} L_old(y_o, ŷ_o),
    L_old = KL( softmax(y_o / T) || softmax(ŷ_o / T) )   (classification, T = 2 in the paper)
    L_old = || y_o - ŷ_o ||^2                            (regression, standardised units)

y_o from the frozen model as it was before the task, ŷ_o from the model being trained. The KL
divergence has the same gradient as the paper's cross-entropy (the teacher's entropy is a
constant) and is zero at agreement; as in the paper there is no T^2 factor. Old heads are trained
too, by the distillation term only. The paper records y_o in one pass before training; here the
frozen model (`teacher_`, a copy taken after each task and counted as state) answers each batch,
which also serves several epochs and any batch order.
With a shared output (class-/domain-incremental), y_o are the logits of every class seen before.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import ClassVar

import torch
import torch.nn.functional as F

from benchmark.data import Batch
from benchmark.errors import UsageError
from strategies.base import BaseStrategy, Phase, SearchSpace, StrategyConfig, register


@dataclass
class LwFConfig(StrategyConfig):
    search_space: ClassVar[SearchSpace] = {
        **StrategyConfig.search_space, "lwf_alpha": ("log", 0.1, 100.0), "temperature": ("float", 1.0, 4.0)}

    lwf_alpha: float = field(default=1.0, metadata={"help": "weight α of the distillation loss (λ_o in the paper)"})
    temperature: float = field(default=2.0, metadata={"help": "softmax temperature T of the distillation"})

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.lwf_alpha < 0:
            raise UsageError(f"lwf_alpha must be >= 0, not {self.lwf_alpha}")
        if not self.temperature > 0:
            raise UsageError(f"temperature must be > 0, not {self.temperature}")


def old_outputs(model, pooled: torch.Tensor, teacher) -> list[tuple[torch.Tensor, bool]]:
    """(outputs, is_regression) of `model` for each output the teacher has, from pooled features.
    Regression heads give standardised predictions (the head's raw output)."""
    if getattr(model, "shared_output", False):
        return [(model.shared_logits(pooled)[:, : teacher.num_classes], False)]
    outputs = []
    for spec in teacher.specs.values():
        out = model.heads[spec.name](pooled).float()
        outputs.append((out.squeeze(-1) if spec.regression else out, spec.regression))
    return outputs


@register("lwf")
class LwF(BaseStrategy):
    """Learning without Forgetting: distil the previous model's old-task outputs on new inputs."""

    Config = LwFConfig
    kept = ("teacher_",)  # a frozen copy of the model after the previous phase (its floats count)

    def setup(self, model, ctx) -> None:
        super().setup(model, ctx)
        self.teacher_: torch.nn.Module | None = None

    def loss(self, batch: Batch) -> torch.Tensor:
        if self.teacher_ is None or self.config.lwf_alpha == 0:
            return self.model.loss(batch)
        pooled = self.model.encode(batch)
        loss = self.model.loss(batch, pooled)
        with torch.no_grad():
            targets = old_outputs(self.teacher_, self.teacher_.encode(batch), self.teacher_)
        T = self.config.temperature
        for (out, regression), (target, _) in zip(old_outputs(self.model, pooled, self.teacher_), targets):
            if regression:
                term = F.mse_loss(out, target)
            else:
                term = F.kl_div(F.log_softmax(out / T, -1), F.log_softmax(target / T, -1),
                                log_target=True, reduction="batchmean")
            loss = loss + self.config.lwf_alpha * term
        return loss

    def after_task(self, phase: Phase) -> None:
        teacher = copy.deepcopy(self.model).eval()
        teacher.requires_grad_(False)
        self.teacher_ = teacher
