"""A base class with the usual hooks (`BaseStrategy`) and the settings every strategy has.

The contract itself (`Strategy`), `Phase`, `StateSize`, `count_floats` and the registry live in
benchmark/api.py, shared with the harness; they are re-exported here for strategy modules.

A strategy owns how the model learns: what is trainable, each step's loss, what data it replays,
what it keeps between tasks. The runner owns data, evaluation, timing, accounting and results.

Learned state that must survive between tasks (and a `--resume`) lives in the attributes a
strategy declares in `kept`: `state_dict()` saves exactly those, and `state_size()` counts the
floats in them (tensors, and the parameters of modules such as a teacher copy of the model).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, ClassVar

import torch

from benchmark.api import STRATEGIES, Phase, StateSize, Strategy, count_floats
from benchmark.data import Batch
from benchmark.errors import UsageError

if TYPE_CHECKING:
    from benchmark.context import RunContext
    from benchmark.model import MultiTaskModel


# A tunable setting's range, read by `python -m benchmark tune` (benchmark/tune.py):
#   ("log", low, high)    float, sampled log-uniformly   ("float", low, high)  float, uniformly
#   ("int", low, high)    integer, inclusive             ("log-int", low, high) integer, log-uniformly
#   ("choice", [a, b, ...])  one of the values
SearchSpace = dict[str, tuple]

# learning-rate ranges: AdamW on a whole pretrained encoder vs new, small per-task weights (patches
# and heads take ~10x larger rates: LoRA 5e-3 beats 5e-4 on MiniLM, DESIGN.md)
FULL_LR: tuple = ("log", 1e-5, 5e-4)
PATCH_LR: tuple = ("log", 1e-4, 3e-2)


@dataclass
class StrategyConfig:
    """Optimiser settings every strategy has; a strategy's Config subclasses this.

    `search_space` names the settings `tune` searches and their ranges: at least the learning rate
    and the setting that defines the method (EWC's lambda, replay's memory, LoRA's rank, ...). A
    subclass extends it: `search_space: ClassVar[SearchSpace] = {**StrategyConfig.search_space, ...}`.
    """

    search_space: ClassVar[SearchSpace] = {"lr": FULL_LR}

    lr: float = field(default=1e-4, metadata={"help": "AdamW learning rate (1e-4 suits MiniLM on ~1k examples)"})
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW weight decay"})
    warmup_ratio: float = field(default=0.06, metadata={"help": "share of each task's steps with linear warm-up"})
    max_grad_norm: float = field(default=1.0, metadata={"help": "gradient clipping norm (0 = off)"})

    def __post_init__(self) -> None:
        for f in fields(self):  # NaN passes every comparison-free check below; inf breaks AdamW
            value = getattr(self, f.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise UsageError(f"{f.name} must be a finite number, not {value}")
        if not self.lr > 0:
            raise UsageError(f"lr must be > 0, not {self.lr}")
        if self.weight_decay < 0:
            raise UsageError(f"weight_decay must be >= 0, not {self.weight_decay}")
        if not 0 <= self.warmup_ratio < 1:
            raise UsageError(f"warmup_ratio must be in [0, 1), not {self.warmup_ratio}")
        if self.max_grad_norm < 0:
            raise UsageError(f"max_grad_norm must be >= 0, not {self.max_grad_norm}")


__all__ = ["FULL_LR", "PATCH_LR", "STRATEGIES", "BaseStrategy", "Phase", "SearchSpace", "StateSize",
           "Strategy", "StrategyConfig", "count_floats", "register"]


class BaseStrategy:
    """Sequential training with AdamW and a linear schedule per task; override what differs."""

    name: ClassVar[str] = ""
    Config: ClassVar[type] = StrategyConfig
    scenarios: ClassVar[tuple[str, ...]] = ("task-incremental", "class-incremental", "domain-incremental")
    # the attributes that hold what the strategy keeps between tasks: checkpointed, counted
    kept: ClassVar[tuple[str, ...]] = ()
    # trains correctly on its block of each batch in several processes (`accelerate launch`): its
    # gradients go through ctx.backward, and what it keeps does not depend on which rows it saw
    data_parallel: ClassVar[bool] = True

    def __init__(self, config: StrategyConfig | None = None) -> None:
        self.config = config if config is not None else self.Config()

    # -- the phases of a run ---------------------------------------------------------------
    def plan(self, num_tasks: int) -> list[list[int]]:
        """Which stream positions each phase trains: one task after another by default."""
        return [[i] for i in range(num_tasks)]

    def setup(self, model: MultiTaskModel, ctx: RunContext) -> None:
        self.model = model
        self.ctx = ctx

    def batches(self, phase: Phase) -> Iterable[Batch]:
        return self.ctx.task_batches(phase)

    def before_task(self, phase: Phase) -> None:
        self.configure_optimizer(phase)

    def train_step(self, batch: Batch) -> float:
        with self.ctx.autocast():
            loss = self.loss(batch)
        self.ctx.backward(loss)  # not loss.backward(): fp16 loss scaling, several processes
        self.optimizer_step()
        return loss.item()

    def after_task(self, phase: Phase) -> None:
        pass

    def resume_phase(self, phase: Phase) -> None:
        """On --resume, rebuild what finished phase `phase` added to the model (before the
        checkpoint loads). By default `before_task`, whose optimiser is then dropped."""
        self.before_task(phase)

    # -- pieces for subclasses -------------------------------------------------------------
    def loss(self, batch: Batch) -> torch.Tensor:
        return self.model.loss(batch)

    def trainable_parameters(self) -> list[torch.nn.Parameter]:
        return [p for p in self.model.parameters() if p.requires_grad]

    def configure_optimizer(self, phase: Phase) -> None:
        from transformers import get_linear_schedule_with_warmup

        params = self.trainable_parameters()
        decay = [p for p in params if p.ndim >= 2]  # no weight decay on biases and norms, as in BERT
        no_decay = [p for p in params if p.ndim < 2]
        self.optimizer = self.make_optimizer(
            [{"params": decay, "weight_decay": self.config.weight_decay},
             {"params": no_decay, "weight_decay": 0.0}]
        )
        # the schedule spans the steps this strategy's batches will take (sparse replay adds some)
        steps = max(1, phase.steps if phase.steps is not None else self.ctx.steps_of(phase, self.batches(phase)))
        self.scheduler = get_linear_schedule_with_warmup(
            self.optimizer, math.ceil(self.config.warmup_ratio * steps), steps
        )

    def make_optimizer(self, groups: list[dict[str, Any]]) -> torch.optim.Optimizer:
        """The optimiser over these parameter groups: AdamW unless a strategy's paper says otherwise."""
        return torch.optim.AdamW(groups, lr=self.config.lr)

    def optimizer_step(self) -> None:
        self.ctx.optimizer_step(self.optimizer, [p for g in self.optimizer.param_groups for p in g["params"]],
                                self.config.max_grad_norm)
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)

    # -- state kept between tasks ----------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        state = {k: getattr(self, k) for k in self.kept}
        # before `kept`, state was the attributes whose names end in "_": still saved, with a warning
        legacy = [k for k in vars(self) if k.endswith("_") and not k.startswith("_") and k not in state]
        if legacy:
            warnings.warn(f"strategy {self.name!r} keeps {', '.join(legacy)} by the trailing-underscore "
                          f"convention; declare it: kept = {tuple(legacy)!r}", DeprecationWarning, stacklevel=2)
        return state | {k: getattr(self, k) for k in legacy}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for k, v in state.items():
            setattr(self, k, v)

    def state_size(self) -> StateSize:
        return StateSize(floats=count_floats(self.state_dict()))


register = STRATEGIES.register
