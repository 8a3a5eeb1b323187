"""O-LoRA (Wang et al., Findings of EMNLP 2023, "Orthogonal Subspace Learning for Language Model
Continual Learning"): one LoRA per task on a frozen backbone, every LoRA learned so far active for
every input (no task routing), and the new task's LoRA pushed out of the earlier tasks' subspaces:

    L = L_task + λ1 Σ_layers Σ_{s<t} Σ_ij |(A_s A_t^T)_ij| + λ2 Σ_{A_t, B_t} ||·||_2

A_s (r x H_in) spans the input subspace task s's update reads; the first penalty is zero when
the row spaces of A_t and every A_s are orthogonal, so the new update ignores the directions the
old ones use. Earlier LoRAs are frozen and kept as they are (not merged), as in the released
code, which stacks them into one frozen lora_A/lora_B and trains a `loranew` pair beside them.
Defaults are the released scripts' (cmnfriend/O-LoRA scripts/order_1.sh, src/run_uie_lora.py):
r = 8, alpha = 32, dropout 0.1, lr 1e-3, λ1 = 0.5, λ2 = 0, LoRA on the attention query and value
maps ("q", "v" in T5). Per task: the LoRA (r (H_in + H_out) per targeted map) and the head.
Needs the optional extra: pip install 'cmtbench[peft]'.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch

from benchmark.data import Batch
from benchmark.errors import UsageError
from strategies._patching import (
    PeftStrategy,
    PeftStrategyConfig,
    adapter_name,
    import_peft,
    target_list,
)
from strategies.base import Phase, SearchSpace, register
from strategies.lora import LoraStrategyConfig


@dataclass
class OLoraConfig(LoraStrategyConfig):  # LoRA's settings and their checks, other defaults
    search_space: ClassVar[SearchSpace] = {**PeftStrategyConfig.search_space, "orth_lambda": ("log", 0.01, 10.0)}

    lr: float = field(default=1e-3, metadata={"help": "AdamW learning rate (the released scripts' 1e-3)"})
    r: int = field(default=8, metadata={"help": "rank of each task's LoRA"})
    alpha: int = field(default=32, metadata={"help": "scale: the update is multiplied by alpha / r"})
    orth_lambda: float = field(default=0.5, metadata={
        "help": "λ1: weight of the orthogonality penalty Σ|A_old A_new^T| (the paper's 0.5)"})
    l2_lambda: float = field(default=0.0, metadata={
        "help": "λ2: weight of the L2 norm of the new LoRA's matrices (the paper's 0)"})

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.orth_lambda < 0 or self.l2_lambda < 0:
            raise UsageError(f"orth_lambda and l2_lambda must be >= 0, not {self.orth_lambda} and {self.l2_lambda}")


def lora_layers(encoder: torch.nn.Module) -> list[Any]:
    """The encoder's LoRA layers (peft `LoraLayer`s), in module order."""
    from peft.tuners.lora import LoraLayer

    return [m for m in encoder.modules() if isinstance(m, LoraLayer)]


def orthogonality(encoder: torch.nn.Module, new: str, old: list[str]) -> torch.Tensor:
    """Σ over LoRA layers and old adapters of Σ_ij |(A_old A_new^T)_ij| (O-LoRA's L_orth)."""
    total = None
    for layer in lora_layers(encoder):
        a_new = layer.lora_A[new].weight
        for name in old:
            term = (layer.lora_A[name].weight @ a_new.T).abs().sum()
            total = term if total is None else total + term
    return total if total is not None else torch.zeros(())


@register("o-lora")
class OLora(PeftStrategy):
    """A LoRA per task, all active, the new one kept orthogonal to the earlier ones' subspaces."""

    Config = OLoraConfig
    routes = False  # the encoder does not depend on the task; the heads are chosen by task id

    def install(self, model) -> None:
        """No adapter switch: every LoRA learned so far acts on every input."""

    def peft_config(self) -> Any:
        c = self.config
        return import_peft(self.name).LoraConfig(
            r=c.r, lora_alpha=c.alpha, lora_dropout=c.dropout, target_modules=target_list(c.target_modules),
            bias="none")

    def make_patch(self, task: int) -> None:
        from peft.tuners.tuners_utils import set_adapter

        super().make_patch(task)
        names = [n for n in self.adapters() if n != adapter_name(task)] + [adapter_name(task)]
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*multiple adapters.*")
            # all active and all frozen; PatchStrategy.before_task then makes the new one trainable
            set_adapter(self.model.encoder, names, inference_mode=True)
        return None

    def adapters(self) -> list[str]:
        """Names of the LoRAs in the encoder, in the order of their tasks."""
        layers = lora_layers(self.model.encoder)
        return sorted(layers[0].lora_A, key=lambda n: int(n.removeprefix("task"))) if layers else []

    def before_task(self, phase: Phase) -> None:
        if len(phase.tasks) != 1:
            raise UsageError("o-lora trains one task per phase (its penalty is between one new LoRA "
                             "and the earlier ones); leave out --mtl-tasks")
        self.current = adapter_name(phase.task.index)
        super().before_task(phase)

    def loss(self, batch: Batch) -> torch.Tensor:
        loss = self.model.loss(batch)
        old = [n for n in self.adapters() if n != self.current]
        if old and self.config.orth_lambda > 0:
            loss = loss + self.config.orth_lambda * orthogonality(self.model.encoder, self.current, old)
        if self.config.l2_lambda > 0:
            loss = loss + self.config.l2_lambda * sum(
                torch.linalg.norm(getattr(layer, part)[self.current].weight)
                for layer in lora_layers(self.model.encoder) for part in ("lora_A", "lora_B"))
        return loss
