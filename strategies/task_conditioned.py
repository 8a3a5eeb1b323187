"""A task-conditioned encoder in the spirit of CA-MTL (Pilault et al. 2021, "Conditionally Adaptive
Multi-Task Learning", ICLR, sec. 2): one shared backbone whose hidden states are modulated by a
learned embedding z_t of the task it runs as,

    conditional LayerNorm (FiLM, Perez et al. 2018), at both LayerNorms of every layer l:
        LN_t(x) = (1 + γ_l(z_t)) ⊙ LN(x) + β_l(z_t),      [γ_l; β_l] = G_l z_t
    hypernetwork adapter on every feed-forward output h (before the residual sum):
        h <- h + U_l gelu(D_l h),   [vec D_l; vec U_l] = W_hyp (z_t + e_l) + b_hyp

with G_l one linear map per LayerNorm, e_l a learned layer embedding and one hypernetwork W_hyp
for all layers (Mahabadi et al. 2021, HyperFormer). G_l and the U_l half of W_hyp start at zero,
so training starts from the pretrained encoder. CA-MTL also freezes the word embeddings and the
bottom half of the layers (`freeze_bottom`); the rest of the backbone is fine-tuned and shared.

Parameters: the generators (G_l, e_l, W_hyp) are created once, in the first phase, and shared by
every task (`task_conditioner.shared` in the run JSON's `params_added_by_module`); each task adds
only its embedding z_t (`task_conditioner.embeddings`) and its head. A task without an embedding
(an unseen one scored for forward transfer) runs the unconditioned encoder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.errors import UsageError
from strategies._patching import bert_layers
from strategies.base import BaseStrategy, Phase, SearchSpace, StrategyConfig, register

CONDITIONER = "task_conditioner"  # attribute of the model holding the Conditioner


@dataclass
class TaskConditionedConfig(StrategyConfig):
    search_space: ClassVar[SearchSpace] = {
        **StrategyConfig.search_space, "embedding_dim": ("choice", [16, 32, 64, 128]),
        "adapter_size": ("choice", [0, 8, 16, 32, 64])}

    embedding_dim: int = field(default=64, metadata={"help": "size d of each task's embedding z_t"})
    adapter_size: int = field(default=16, metadata={
        "help": "bottleneck m of the generated adapters (0 = conditional LayerNorm only)"})
    freeze_bottom: bool = field(default=True, metadata={
        "help": "freeze the word embeddings and the bottom half of the layers, as CA-MTL does"})

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.embedding_dim < 1 or self.adapter_size < 0:
            raise UsageError(f"embedding_dim must be >= 1 and adapter_size >= 0, not "
                             f"{self.embedding_dim} and {self.adapter_size}")


class Shared(nn.Module):
    """The generators every task shares: FiLM maps, layer embeddings, the adapter hypernetwork."""

    def __init__(self, hidden: int, layers: int, dim: int, size: int, g: torch.Generator) -> None:
        super().__init__()
        self.hidden, self.size = hidden, size
        self.film = nn.ModuleList(nn.Linear(dim, 2 * hidden) for _ in range(2 * layers))
        for linear in self.film:
            nn.init.zeros_(linear.weight)
            nn.init.zeros_(linear.bias)
        if size:
            self.layer_embeddings = nn.Parameter(torch.randn(layers, dim, generator=g))
            self.hyper = nn.Linear(dim, 2 * size * hidden)
            with torch.no_grad():  # D_l ~ N(0, 1/H) for |z + e_l|^2 ~ 2d; U_l = 0
                self.hyper.weight.zero_()
                self.hyper.weight[: size * hidden].normal_(0.0, (2 * dim * hidden) ** -0.5, generator=g)
                self.hyper.bias.zero_()

    def adapter(self, z: torch.Tensor, layer: int) -> tuple[torch.Tensor, torch.Tensor]:
        down, up = self.hyper(z + self.layer_embeddings[layer]).split(self.size * self.hidden)
        return down.view(self.size, self.hidden), up.view(self.hidden, self.size)


class Conditioner(nn.Module):
    def __init__(self, shared: Shared) -> None:
        super().__init__()
        self.shared = shared
        self.embeddings = nn.ParameterDict()  # str(task index) -> z_t

    def embedding(self, task: int | None) -> torch.Tensor | None:
        return None if task is None or str(task) not in self.embeddings else self.embeddings[str(task)]


class Hook:
    """Forward hook reading the running task from the model (a class, not a closure: the runner
    once pickled the model for --resume; now --resume rebuilds hooks by replaying before_task)."""

    def __init__(self, model: nn.Module, index: int) -> None:
        self.model, self.index = model, index

    def __call__(self, module: nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor | None:
        conditioner = getattr(self.model, CONDITIONER)
        z = conditioner.embedding(self.model.active_task)
        return None if z is None else self.apply(conditioner.shared, z, output).to(output.dtype)

    def apply(self, shared: Shared, z: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class FiLMHook(Hook):
    def apply(self, shared: Shared, z: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
        gamma, beta = shared.film[self.index](z).chunk(2, dim=-1)
        return output * (1 + gamma) + beta


class AdapterHook(Hook):
    def apply(self, shared: Shared, z: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
        down, up = shared.adapter(z, self.index)
        return output + F.linear(F.gelu(F.linear(output, down)), up)


@register("task-conditioned")
class TaskConditioned(BaseStrategy):
    """Shared backbone conditioned on learned task embeddings: FiLM LayerNorms, hypernetwork adapters."""

    Config = TaskConditionedConfig
    scenarios: ClassVar[tuple[str, ...]] = ("task-incremental",)  # the task id picks z_t

    def setup(self, model, ctx) -> None:
        super().setup(model, ctx)
        model.route_by_task = True
        self.installed = False  # the shared generators come with the first phase (or its resume)
        if self.config.freeze_bottom:
            layers = bert_layers(model.encoder)
            for module in (model.encoder.embeddings, *layers[: len(layers) // 2]):
                module.requires_grad_(False)

    def install(self) -> None:
        """Create the shared generators and their hooks (first phase only)."""
        encoder, dim = self.model.encoder, self.config.embedding_dim
        layers = bert_layers(encoder)
        g = self.ctx.generator("task-conditioned", "shared")
        shared = Shared(encoder.config.hidden_size, len(layers), dim, self.config.adapter_size, g)
        setattr(self.model, CONDITIONER, Conditioner(shared).to(self.model.device))
        for i, layer in enumerate(layers):
            layer.attention.output.LayerNorm.register_forward_hook(FiLMHook(self.model, 2 * i))
            layer.output.LayerNorm.register_forward_hook(FiLMHook(self.model, 2 * i + 1))
            if self.config.adapter_size:
                layer.output.dense.register_forward_hook(AdapterHook(self.model, i))

    def before_task(self, phase: Phase) -> None:
        if not self.installed:
            self.install()
            self.installed = True
        conditioner = getattr(self.model, CONDITIONER)
        for task in phase.tasks:
            if str(task.index) not in conditioner.embeddings:
                g = self.ctx.generator("task-embedding", task.index)
                z = torch.randn(self.config.embedding_dim, generator=g)  # not 0: G_l z_t needs z_t != 0 to learn
                conditioner.embeddings[str(task.index)] = nn.Parameter(z.to(self.model.device))
        super().before_task(phase)
