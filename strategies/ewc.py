"""Elastic weight consolidation (Kirkpatrick et al., 2017, PNAS, eq. 3).

EWC adds to the task loss a quadratic penalty per finished task k, on the shared backbone only:

    L(θ) = L_t(θ) + λ/2 Σ_k Σ_i F_k,i (θ_i - θ*_k,i)^2

with θ*_k the weights after task k and F_k the diagonal Fisher information on task k's training
data, E_x E_y [(∂ log p(y|x) / ∂θ)^2], y the true label (empirical Fisher, the default) or sampled
from the model (`fisher=true`). State grows with the tasks: one F_k and one θ*_k each.

Σ_k F_k (θ - θ*_k)^2 = A (θ - m)^2 + c, with A = Σ_k F_k, m = Σ_k F_k θ*_k / A and c a
constant, so A and m are computed once per task and each step costs one pass over the backbone,
whatever the number of tasks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Literal

import torch

from benchmark.data import TaskData
from benchmark.errors import UsageError
from strategies.base import BaseStrategy, Phase, SearchSpace, StrategyConfig, register

Tensors = dict[str, torch.Tensor]


@dataclass
class EWCConfig(StrategyConfig):
    # The Fisher's entries are small and AdamW moves each weight by about lr per step, so λ must be
    # large for the penalty to act. Measured on MiniLM (Fisher on 400 SST-2 examples): entries
    # average 1e-6 (max 3e-2); 12 steps (lr 1e-4) into the next task the penalty's gradient has norm
    # 7e-5 per unit λ against a task gradient of 0.5-1. λ = 1e4 puts them on the same order within
    # a task's first steps; λ near 1 does nothing measurable. Check: sst2 -> mrpc, 1,000 examples
    # each, seed 0: forgetting of sst2 16.8 points with finetune, 2.2 with λ = 1e4 (mrpc 75.4/75.8).
    search_space: ClassVar[SearchSpace] = {**StrategyConfig.search_space, "ewc_lambda": ("log", 1e2, 1e6)}

    ewc_lambda: float = field(default=1e4, metadata={"help": "penalty weight λ"})
    fisher: Literal["empirical", "true"] = field(default="empirical", metadata={
        "help": "Fisher with the true labels (empirical) or labels sampled from the model (true)"})
    fisher_samples: int = field(default=256, metadata={
        "help": "training examples (seeded sample) used to estimate the Fisher of each task"})

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.ewc_lambda < 0:
            raise UsageError(f"ewc_lambda must be >= 0, not {self.ewc_lambda}")
        if self.fisher_samples < 1:
            raise UsageError(f"fisher_samples must be >= 1, not {self.fisher_samples}")


def diagonal_fisher(model, task: TaskData, ctx, samples: int, sample_labels: bool,
                    generator: torch.Generator) -> Tensors:
    """Mean squared per-example gradient of the log-likelihood on up to `samples` training
    examples, for the trainable backbone parameters. Examples go one at a time: a batch's
    gradient is the mean of the per-example ones, and the mean of squares is what is wanted."""
    params = {n: p for n, p in model.backbone_parameters() if p.requires_grad}
    fisher = {n: torch.zeros_like(p) for n, p in params.items()}
    chosen = torch.randperm(len(task.train), generator=generator)[:samples].tolist()
    # several processes: each takes its part of the examples and the sums are added up; sampled
    # labels come from one generator in example order, so then every process does all of them
    mine = chosen if sample_labels else ctx.parallel.mine(chosen)
    was_training = model.training
    model.eval()  # the Fisher of the model as it predicts, without dropout noise
    try:
        for i in mine:
            batch = ctx.collate([(task, task.train, [i])])
            if sample_labels:
                batch.labels = sampled_labels(model, batch, generator)
            with ctx.autocast():
                loss = model.loss(batch)
            grads = torch.autograd.grad(loss, list(params.values()), allow_unused=True)
            # a regression's loss, the squared error in standardised units, is twice the negative
            # Gaussian log-likelihood: its squared gradient is four times the Fisher's
            scale = 0.25 if model.specs[task.index].regression else 1.0
            for f, g in zip(fisher.values(), grads):
                if g is not None:
                    f.addcmul_(g, g, value=scale / len(chosen))
    finally:
        model.train(was_training)
    return fisher if sample_labels else ctx.parallel.reduce_sum(fisher)


@torch.no_grad()
def sampled_labels(model, batch, generator: torch.Generator) -> torch.Tensor:
    """Labels drawn from the model's predictive distribution (a Gaussian of the loss's unit
    variance, in standardised units, for a regression)."""
    ((tid, _, out),) = model.outputs(batch)
    if model.specs[tid].regression:
        noise = torch.randn(out.shape, generator=generator).to(out.device)
        return out + model.target_stats[tid][1] * noise
    drawn = torch.multinomial(out.softmax(-1).cpu(), 1, generator=generator).squeeze(-1)
    offset = model.offsets[tid] if getattr(model, "shared_output", False) else 0
    return (drawn - offset).to(batch.labels)


@register("ewc")
class EWC(BaseStrategy):
    """Elastic weight consolidation: a Fisher-weighted pull towards each finished task's weights."""

    Config = EWCConfig
    kept = ("fishers_", "anchors_")  # per finished task (online EWC: one running pair)

    def setup(self, model, ctx) -> None:
        super().setup(model, ctx)
        self.fishers_: list[Tensors] = []
        self.anchors_: list[Tensors] = []

    def consolidated(self) -> tuple[Tensors, Tensors]:
        """(A, m) of the penalty A (θ - m)^2 (plus a constant)."""
        if len(self.fishers_) == 1:
            return self.fishers_[0], self.anchors_[0]
        weight = {n: sum(f[n] for f in self.fishers_) for n in self.fishers_[0]}
        mean = {n: sum(f[n] * a[n] for f, a in zip(self.fishers_, self.anchors_)) for n in weight}
        # where no task has Fisher mass the penalty is zero whatever m is
        return weight, {n: torch.where(w > 0, mean[n] / w, self.anchors_[-1][n]) for n, w in weight.items()}

    def before_task(self, phase: Phase) -> None:
        super().before_task(phase)
        self.prepare_penalty()

    def prepare_penalty(self) -> None:
        """Precompute A and m for the steps of the next task (once per task, not per step)."""
        self._penalty = None
        if self.fishers_:
            named = dict(self.model.backbone_parameters())
            weight, mean = self.consolidated()
            self._penalty = [(named[n], weight[n], mean[n]) for n in weight]
            # the constant c, so the logged loss is the full objective
            self._offset = sum(float((f[n] * (a[n] - mean[n]).square()).double().sum())
                               for f, a in zip(self.fishers_, self.anchors_) for n in f)

    def train_step(self, batch) -> float:
        with self.ctx.autocast():
            loss = self.loss(batch)
        self.ctx.backward(loss)
        penalty = self.add_penalty_gradient() if self._penalty else 0.0
        self.optimizer_step()
        return loss.item() + penalty

    @torch.no_grad()
    def add_penalty_gradient(self) -> float:
        """Add λ A (θ - m) to each backbone gradient in place; return the penalty's value.
        Straight into .grad, not through autograd: no graph over the whole backbone per step."""
        lam, total = self.config.ewc_lambda, 0.0
        scale = self.ctx.grad_scale()  # fp16: the gradients are the loss scaler's multiple
        for p, weight, mean in self._penalty:
            diff = p - mean
            if p.grad is None:
                p.grad = torch.zeros_like(p)
            p.grad.addcmul_(weight, diff, value=lam * scale)
            total = total + (weight * diff * diff).sum()  # one device sync at the end, not per tensor
        return lam / 2 * (float(total) + self._offset)

    def after_task(self, phase: Phase) -> None:
        for task in phase.tasks:
            g = self.ctx.generator("fisher", task.index)
            fisher = diagonal_fisher(self.model, task, self.ctx, self.config.fisher_samples,
                                     self.config.fisher == "true", g)
            anchor = {n: p.detach().clone() for n, p in self.model.backbone_parameters() if n in fisher}
            self.remember(fisher, anchor)

    def remember(self, fisher: Tensors, anchor: Tensors) -> None:
        self.fishers_.append(fisher)
        self.anchors_.append(anchor)
