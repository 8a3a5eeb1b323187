"""Bottleneck adapters (Houlsby et al. 2019, "Parameter-Efficient Transfer Learning for NLP",
sec. 2.1): after the projection of each sub-layer (attention output and feed-forward output),
before the residual sum and LayerNorm, a task adds

    h <- h + W_up gelu(W_down h + b_down) + b_up,   W_down: H -> m,  W_up: m -> H,

with a near-identity initialisation (weights ~ N(0, 1e-2) truncated at 2 std, biases 0). As in
the paper, each task also trains its own LayerNorm gains and biases (`layer_norm`).
`placement=pfeiffer` keeps the feed-forward adapter only (Pfeiffer et al. 2021, AdapterFusion).

Per task: A * L * (2Hm + H + m) + (2L + 1) * 2H, with A = 2 adapters per layer (houlsby) or 1
(pfeiffer); 2.38M + 38,400 (2.2% of the backbone) for BERT-base with m = 64.

Written by hand: peft has no bottleneck adapters, and AdapterHub's `adapters` library (1.3)
requires transformers 4.x while this project runs on 5.x.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.errors import UsageError
from strategies._patching import (
    PatchStrategy,
    TaskHook,
    add_override_hooks,
    bert_layers,
    make_overrides,
    site,
)
from strategies.base import PATCH_LR, SearchSpace, StrategyConfig, register


@dataclass
class AdaptersConfig(StrategyConfig):
    search_space: ClassVar[SearchSpace] = {"lr": PATCH_LR, "size": ("choice", [8, 16, 32, 64, 128, 256])}

    lr: float = field(default=1e-3, metadata={"help": "AdamW learning rate (Houlsby et al. pick from 3e-5..3e-3)"})
    size: int = field(default=64, metadata={"help": "bottleneck size m of each adapter"})
    placement: Literal["houlsby", "pfeiffer"] = field(
        default="houlsby", metadata={"help": "houlsby: after attention and feed-forward; pfeiffer: feed-forward only"})
    layer_norm: bool = field(default=True, metadata={"help": "also train per-task LayerNorm gains and biases"})

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.size < 1:
            raise UsageError(f"size must be >= 1, not {self.size}")
        if self.placement not in ("houlsby", "pfeiffer"):
            raise UsageError(f"placement must be houlsby or pfeiffer, not {self.placement!r}")


class Bottleneck(nn.Module):
    def __init__(self, hidden: int, size: int, device: torch.device) -> None:
        super().__init__()
        self.down = nn.Linear(hidden, size, device=device)
        self.up = nn.Linear(size, hidden, device=device)
        for linear in (self.down, self.up):
            nn.init.trunc_normal_(linear.weight, std=1e-2, a=-2e-2, b=2e-2)
            nn.init.zeros_(linear.bias)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.up(F.gelu(self.down(h)))


class AdapterHook(TaskHook):
    """Forward hook on a sub-layer's output projection: apply the task's adapter to its output."""

    def __init__(self, model, key: str) -> None:
        super().__init__(model)
        self.key = key

    def __call__(self, module: nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor | None:
        patch = self.patch()
        return None if patch is None or self.key not in patch else patch[self.key](output)


@register("adapters")
class Adapters(PatchStrategy):
    """Frozen backbone; per-task bottleneck adapters (Houlsby et al. 2019)."""

    Config = AdaptersConfig

    def sites(self) -> list[str]:
        """Names (in the encoder) of the projections whose outputs get an adapter."""
        subs = ("attention.output.dense", "output.dense") if self.config.placement == "houlsby" else ("output.dense",)
        return [f"encoder.layer.{i}.{s}" for i in range(len(bert_layers(self.model.encoder))) for s in subs]

    def install(self, model) -> None:
        for name in self.sites():
            model.encoder.get_submodule(name).register_forward_hook(AdapterHook(model, site(name)))
        if self.config.layer_norm:
            add_override_hooks(model, (nn.LayerNorm,))

    def make_patch(self, task: int) -> nn.ModuleDict:
        encoder = self.model.encoder
        device = next(encoder.parameters()).device
        patch = make_overrides(encoder, ("weight", "bias"), ()) if self.config.layer_norm else nn.ModuleDict()
        for name in self.sites():
            patch[site(name)] = Bottleneck(encoder.config.hidden_size, self.config.size, device)
        return patch
