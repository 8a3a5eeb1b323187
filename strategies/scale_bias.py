"""Scale-and-bias patches ("K for the price of 1", Mudrakarta, Sandler, Zhmoginov & Howard 2019,
ICLR; arXiv 2018): each task gets its own copy of every normalisation layer's scale and bias,
initialised from the pretrained values, and the rest of the network is shared. In a transformer
the normalisation layers are the LayerNorms: y = g_t * (x - mean) / std + b_t. Optionally the
bias of every linear layer is patched as well (convolutions in the paper's networks have none
beside their batch norms; BERT's projections do). The backbone's own copies are never touched.

Per task: (2L + 1) * 2H for the LayerNorms (38,400 for BERT-base), plus L (5H + I) with
`linear_biases`.

`ln-tuning` patches the same LayerNorm parameters through peft; this module shares the override
machinery with `bitfit` (strategies/_patching.py) and needs no optional extra.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from torch import nn

from strategies._patching import PatchStrategy, add_override_hooks, make_overrides
from strategies.base import PATCH_LR, SearchSpace, StrategyConfig, register


@dataclass
class ScaleBiasConfig(StrategyConfig):
    search_space: ClassVar[SearchSpace] = {"lr": PATCH_LR}

    lr: float = field(default=1e-3, metadata={"help": "AdamW learning rate"})
    linear_biases: bool = field(default=False, metadata={"help": "also patch the bias of every linear layer"})


@register("scale-bias")
class ScaleBias(PatchStrategy):
    """Frozen backbone; each task trains its own LayerNorm gains and biases ("K for the price of 1")."""

    Config = ScaleBiasConfig

    def install(self, model) -> None:
        add_override_hooks(model, (nn.LayerNorm, nn.Linear) if self.config.linear_biases else (nn.LayerNorm,))

    def make_patch(self, task: int) -> nn.ModuleDict:
        linear = ("bias",) if self.config.linear_biases else ()
        return make_overrides(self.model.encoder, layer_norm=("weight", "bias"), linear=linear)
