"""BitFit (Ben Zaken, Goldberg & Ravfogel 2022, "BitFit: Simple Parameter-efficient Fine-tuning for
Transformer-based Masked Language-models"): train only the bias terms. Here every task gets its
own copy of every bias in the encoder, initialised from the pretrained ones: the biases of the
query, key, value, attention-output, intermediate and output projections (y = W x + b_t) and of
the LayerNorms (y = g * norm(x) + b_t). Weights and the backbone's own biases stay frozen.

Per task: L (5H + I) + (2L + 1) H, about 0.1M (0.09%) for BERT-base.

Written on the shared override machinery (strategies/_patching.py): peft's BEFT patches linear
biases only, not the LayerNorm ones, and this strategy runs without the optional peft extra.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from torch import nn

from strategies._patching import PatchStrategy, add_override_hooks, make_overrides
from strategies.base import PATCH_LR, SearchSpace, StrategyConfig, register


@dataclass
class BitFitConfig(StrategyConfig):
    search_space: ClassVar[SearchSpace] = {"lr": PATCH_LR}

    lr: float = field(default=1e-3, metadata={"help": "AdamW learning rate (BitFit uses 1e-4 to 1e-3)"})


@register("bitfit")
class BitFit(PatchStrategy):
    """Frozen backbone; each task trains its own copy of every bias term."""

    Config = BitFitConfig

    def install(self, model) -> None:
        add_override_hooks(model, (nn.Linear, nn.LayerNorm))

    def make_patch(self, task: int) -> nn.ModuleDict:
        return make_overrides(self.model.encoder, layer_norm=("bias",), linear=("bias",))
