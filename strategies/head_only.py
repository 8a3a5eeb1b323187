"""Linear probing (Alain & Bengio 2017, "Understanding intermediate layers using linear classifier
probes"): the pretrained encoder stays frozen and each task trains only its own linear head on
the pooled representation, y = W_t pool(f(x)) + b_t. Nothing shared changes, so nothing is
forgotten; it is the floor of what a frozen backbone gives, and adds H*C + C parameters per task.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from strategies._patching import PatchStrategy
from strategies.base import PATCH_LR, SearchSpace, StrategyConfig, register


@dataclass
class HeadOnlyConfig(StrategyConfig):
    search_space: ClassVar[SearchSpace] = {"lr": PATCH_LR}

    lr: float = field(default=1e-3, metadata={"help": "AdamW learning rate (a linear probe takes larger rates than fine-tuning)"})


@register("head-only")
class HeadOnly(PatchStrategy):
    """Frozen encoder, a linear probe per task (zero forgetting; the frozen-backbone floor)."""

    Config = HeadOnlyConfig
    routes = False  # the encoder is the same for every task: run it once per batch
