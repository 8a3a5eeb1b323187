"""Projected attention layers (PALs; Stickland & Murray 2019, "BERT and PALs: Projected Attention
Layers for Efficient Adaptation in Multi-Task Learning", sec. 3): in parallel with each BERT
layer, a task adds a low-dimensional multi-head self-attention between an encoder projection
V^E (H -> d) and a decoder projection V^D (d -> H), into the layer's last residual sum:

    h_out = LN(h_a + FFN(h_a) + TS(h)),   TS(h) = gelu(V^D SA_d(V^E h)),

where h is the layer's input and h_a its attention sub-layer's output. As in the authors' code
(Bert-n-Pals): SA_d has query, key and value maps in d dimensions, 6 heads, no output map;
gelu follows V^D; weights start at N(0, 0.02) and biases at 0 (BERT's initialiser).

Sharing (`share`): the paper shares V^E and V^D across the layers of a task, one pair per task
(`layers`, the default; 1.13x BERT-base for 8 tasks). `tasks` uses one pair for every task: it
is created and trained with the first task and frozen after it, so it counts in the first
task's patch params; later tasks add only their attention layers.

Per task: L * 3(d^2 + d) + (Hd + d) + (dH + H); the projections only for the first task under
`share=tasks`. d = `hidden_size`, or when 0 the paper's 204/768 of the model's hidden size,
rounded to a multiple of the heads: 204 for BERT-base (1.82M per task), 102 for MiniLM (384).

Backbone (`train_backbone`): the paper fine-tunes BERT jointly with the PALs of all tasks in one
multi-task phase. `multi-task` (the default) does that in a phase that trains several tasks (the
phase of `--mtl-tasks K`, K > 1) and freezes the backbone in single-task phases, so a task added
later learns only its PALs and no earlier task forgets; `always` also trains it in single-task
phases (earlier tasks' frozen PALs and heads then see a moving backbone and forget); `never`
keeps the backbone frozen throughout (PALs as pure per-task patches).

Written by hand: no library implements PALs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.errors import UsageError
from strategies._patching import PATCHES, PatchStrategy, TaskHook, bert_layers
from strategies.base import PATCH_LR, Phase, SearchSpace, StrategyConfig, register

PAPER_RATIO = 204 / 768  # the paper's PAL size for BERT-base


@dataclass
class PalsConfig(StrategyConfig):
    search_space: ClassVar[SearchSpace] = {"lr": PATCH_LR, "hidden_size": ("choice", [0, 48, 96, 144, 204])}

    lr: float = field(default=5e-4, metadata={"help": "AdamW learning rate"})
    hidden_size: int = field(default=0, metadata={"help": "PAL size d (0: 204/768 of the model's hidden size)"})
    num_heads: int = field(default=6, metadata={"help": "attention heads of each PAL (the paper's code: 6)"})
    share: Literal["layers", "tasks"] = field(
        default="layers", metadata={"help": "V^E/V^D shared across the layers of a task (paper) or across tasks too"})
    train_backbone: Literal["multi-task", "always", "never"] = field(default="multi-task", metadata={
        "help": "train the backbone with the PALs: in phases of several tasks (multi-task, as in the paper), "
                "in every phase (always: earlier tasks forget), or never"})
    backbone_lr: float = field(default=1e-4, metadata={
        "help": "learning rate of the backbone when it trains (the PALs' lr suits new weights, not a pretrained backbone)"})

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.num_heads < 1 or self.hidden_size < 0 or self.hidden_size % self.num_heads:
            raise UsageError(f"hidden_size ({self.hidden_size}) must be a multiple of num_heads ({self.num_heads}) >= 1")
        if self.share not in ("layers", "tasks"):
            raise UsageError(f"share must be layers or tasks, not {self.share!r}")
        if not self.backbone_lr > 0:
            raise UsageError(f"backbone_lr must be > 0, not {self.backbone_lr}")
        if self.train_backbone not in ("multi-task", "always", "never"):
            raise UsageError(f"train_backbone must be multi-task, always or never, not {self.train_backbone!r}")

    def size(self, hidden: int) -> int:
        return self.hidden_size or max(1, round(hidden * PAPER_RATIO / self.num_heads)) * self.num_heads


class LowDimAttention(nn.Module):
    def __init__(self, dim: int, heads: int, dropout: float, device: torch.device) -> None:
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.query, self.key, self.value = (nn.Linear(dim, dim, device=device) for _ in range(3))

    def forward(self, x: torch.Tensor, keep: torch.Tensor | None) -> torch.Tensor:
        b, t, _ = x.shape
        q, k, v = (m(x).view(b, t, self.heads, -1).transpose(1, 2) for m in (self.query, self.key, self.value))
        mask = None if keep is None else keep[:, None, None, :]  # (b, 1, 1, t): which keys to attend to
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0)
        return out.transpose(1, 2).reshape(b, t, -1)


class MaskCapture(TaskHook):
    """Forward pre-hook on the encoder: keeps the padding mask of the call for the PALs."""

    transient = ("keep",)

    def __init__(self, model) -> None:
        super().__init__(model)
        self.keep: torch.Tensor | None = None

    def __call__(self, module: nn.Module, args: tuple, kwargs: dict) -> None:
        mask = kwargs.get("attention_mask")
        self.keep = None if mask is None else mask.bool()


class PalHook(TaskHook):
    """Pre-hooks on layer i (keep its input h) and on its output block (add TS(h) to its residual)."""

    transient = ("inputs",)

    def __init__(self, model, layer: int, masks: MaskCapture) -> None:
        super().__init__(model)
        self.layer, self.masks, self.inputs = layer, masks, None

    def before_layer(self, module: nn.Module, args: tuple, kwargs: dict) -> None:
        self.inputs = args[0] if args else kwargs["hidden_states"]

    def before_output(self, module: nn.Module, args: tuple) -> tuple | None:
        patch, h, self.inputs = self.patch(), self.inputs, None
        if patch is None:
            return None
        pal = patch["layers"][self.layer](patch["encode"](h), self.masks.keep)
        intermediate, attention_output, *rest = args
        return (intermediate, attention_output + F.gelu(patch["decode"](pal)), *rest)


@register("pals")
class Pals(PatchStrategy):
    """Per-task projected attention layers in parallel with each layer (BERT and PALs).

    The backbone trains with them in multi-task phases, as in the paper, and is frozen otherwise."""

    Config = PalsConfig

    def trains_backbone(self, phase: Phase) -> bool:
        mode = self.config.train_backbone
        return mode == "always" or (mode == "multi-task" and len(phase.tasks) > 1)

    def make_optimizer(self, groups: list[dict[str, Any]]) -> torch.optim.Optimizer:
        """The backbone's parameters (when they train) get `backbone_lr`; the PALs and heads `lr`."""
        backbone = {id(p) for _, p in self.model.backbone_parameters()}
        split = []
        for group in groups:
            new = [p for p in group["params"] if id(p) not in backbone]
            old = [p for p in group["params"] if id(p) in backbone]
            split += [{**group, "params": new}, {**group, "params": old, "lr": self.config.backbone_lr}]
        return super().make_optimizer([g for g in split if g["params"]])

    def install(self, model) -> None:
        masks = MaskCapture(model)
        model.encoder.register_forward_pre_hook(masks, with_kwargs=True)
        for i, layer in enumerate(bert_layers(model.encoder)):
            hook = PalHook(model, i, masks)
            layer.register_forward_pre_hook(hook.before_layer, with_kwargs=True)
            layer.output.register_forward_pre_hook(hook.before_output)

    def make_patch(self, task: int) -> nn.ModuleDict:
        encoder = self.model.encoder
        cfg, device = encoder.config, next(encoder.parameters()).device
        hidden, d = cfg.hidden_size, self.config.size(cfg.hidden_size)
        patches = getattr(self.model, PATCHES)
        patch = nn.ModuleDict()
        reuse = self.config.share == "tasks" and len(patches) > 0
        if reuse:  # the first task's pair, the same modules (already trained and frozen)
            first = next(iter(patches.values()))
            patch["encode"], patch["decode"] = first["encode"], first["decode"]
        else:
            patch["encode"] = nn.Linear(hidden, d, device=device)
            patch["decode"] = nn.Linear(d, hidden, device=device)
        dropout = getattr(cfg, "attention_probs_dropout_prob", 0.1)
        patch["layers"] = nn.ModuleList(
            LowDimAttention(d, self.config.num_heads, dropout, device) for _ in range(len(bert_layers(encoder)))
        )
        std = getattr(cfg, "initializer_range", 0.02)
        for m in (patch["layers"] if reuse else patch).modules():
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, std)
                nn.init.zeros_(m.bias)
        return patch
