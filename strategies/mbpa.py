"""MbPA++ (de Masson d'Autume et al., NeurIPS 2019, "Episodic Memory in Lifelong Language
Learning"): an episodic memory of training examples, keyed by a frozen key network, used twice.

Training: sparse experience replay (sec. 3.2), as `sparse-replay`: after every `replay_every`
task batches one extra step on a batch drawn uniformly from the memory.

Test time: local adaptation (sec. 3.3, after MbPA, Sprechmann et al. 2018). For each query x the
K stored examples whose keys are nearest (Euclidean) to x's key are retrieved, and L gradient
steps are taken from the trained weights W on

    L_local(W~) = mean_k l(x_k, y_k; W~) + λ_l ||W~ - W||²

the query is predicted with W~, and W is restored before the next query. Paper defaults: K = 32,
L = 30, learning rate 1e-3 (plain gradient steps), λ_l = 1e-3, every example written to memory.
The key network is a frozen copy of the pretrained encoder (the paper: a frozen pretrained BERT),
pooled as the model pools. Local adaptation costs L forward/backward passes over K examples per
test example; each phase's record reports it (`local_adaptation_s`, `_queries`, `_steps`).
"""

from __future__ import annotations

import copy
import dataclasses
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import torch

from benchmark.data import Batch, Examples, TaskData, eval_order
from benchmark.errors import UsageError
from data_selection.memory import ReplayMemory
from strategies.base import (
    BaseStrategy,
    Phase,
    SearchSpace,
    StateSize,
    StrategyConfig,
    count_floats,
    register,
)
from strategies.sparse_replay import SparseReplayBatches


@dataclass
class MbPAConfig(StrategyConfig):
    search_space: ClassVar[SearchSpace] = {
        **StrategyConfig.search_space, "replay_every": ("log-int", 1, 100), "adapt_lr": ("log", 1e-4, 1e-2)}

    write_prob: float = field(default=1.0, metadata={
        "help": "share of each task's training examples written to memory (the paper's 1: all)"})
    replay_every: int = field(default=10, metadata={"help": "task batches between two memory batches"})
    replay_batch_size: int = field(default=0, metadata={
        "help": "examples per memory batch (0 = the training batch size)"})
    neighbours: int = field(default=32, metadata={"help": "K: stored examples retrieved per query"})
    adapt_steps: int = field(default=30, metadata={"help": "L: local adaptation steps per query (0 = none)"})
    adapt_lr: float = field(default=1e-3, metadata={"help": "learning rate of the local adaptation steps"})
    adapt_lambda: float = field(default=1e-3, metadata={"help": "λ_l: pull of the adapted weights to the trained ones"})
    adapt: str = field(default="all", metadata={
        "help": "weights local adaptation changes: all (the paper's) or heads (the output layers only: "
                "the encoder's output for the memory is computed once per evaluated row, so the steps "
                "cost almost nothing)"})

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 < self.write_prob <= 1:
            raise UsageError(f"write_prob must be in (0, 1], not {self.write_prob}")
        if self.replay_every < 1 or self.replay_batch_size < 0:
            raise UsageError(f"replay_every must be >= 1 and replay_batch_size >= 0, not "
                             f"{self.replay_every} and {self.replay_batch_size}")
        if self.neighbours < 1 or self.adapt_steps < 0:
            raise UsageError(f"neighbours must be >= 1 and adapt_steps >= 0, not {self.neighbours} and "
                             f"{self.adapt_steps}")
        if not self.adapt_lr > 0 or self.adapt_lambda < 0:
            raise UsageError(f"adapt_lr must be > 0 and adapt_lambda >= 0, not {self.adapt_lr} and "
                             f"{self.adapt_lambda}")
        if self.adapt not in ("all", "heads"):
            raise UsageError(f"adapt must be all or heads, not {self.adapt!r}")


@register("mbpa")
class MbPA(BaseStrategy):
    """MbPA++: sparse replay while training, local adaptation on nearest stored examples at test time."""

    Config = MbPAConfig
    kept = ("memory_", "keys_", "slots_")  # the key network is rebuilt from the pretrained encoder

    def setup(self, model, ctx) -> None:
        from benchmark.model import MultiTaskModel

        super().setup(model, ctx)
        # the key network: the pretrained encoder as it is before any training, frozen (a resumed
        # run calls setup on the freshly loaded model too, so it is the same network)
        self._keys_net = MultiTaskModel(copy.deepcopy(model.encoder), model.pooling).eval()
        self._keys_net.requires_grad_(False)
        self.memory_ = ReplayMemory()
        self.keys_ = torch.zeros(0, model.hidden_size)  # one row per stored example, in `slots_` order
        self.slots_ = torch.zeros(0, 2, dtype=torch.long)  # (task index, row in its stored examples)
        self._pooled: dict[int, torch.Tensor] | None = None  # memory_pooled's cache (adapt=heads)
        ctx.predictor = self.predict

    # -- training: sparse experience replay ----------------------------------------------------
    def batches(self, phase: Phase) -> Iterable[Batch]:
        if len(self.memory_) == 0:
            return super().batches(phase)
        return SparseReplayBatches(self, phase)

    def before_task(self, phase: Phase) -> None:
        super().before_task(phase)
        self._pooled = None  # training changes the encoder: the memory's encodings are stale

    def after_task(self, phase: Phase) -> None:
        self._pooled = None  # the memory grows below
        for task in phase.tasks:
            n = len(task.train)
            g = self.ctx.generator("write", task.index)
            keep = torch.randperm(n, generator=g)[: max(1, round(self.config.write_prob * n))].sort().values
            stored = task.train.subset(keep.tolist())
            self.memory_.add(task.index, stored)
            self.keys_ = torch.cat([self.keys_, self.keys(stored)])
            rows = torch.stack([torch.full((len(stored),), task.index), torch.arange(len(stored))], 1)
            self.slots_ = torch.cat([self.slots_, rows])

    def encode(self, net, examples: Examples, task_index: int) -> torch.Tensor:
        """`net`'s pooled output for every example, in order (float32, on the run's device), in
        evaluation batches. No gradient, but not inference_mode: the head steps of adapt=heads
        backpropagate into these."""
        out = torch.empty(len(examples), net.hidden_size, device=self.ctx.device)
        with torch.no_grad():
            for idx in eval_order(examples.lengths, self.ctx.eval_batch_size):
                with self.ctx.autocast():
                    out[idx] = net.encode(self.ctx.collate([(task_index, examples, idx)])).float()
        return out

    def keys(self, examples: Examples) -> torch.Tensor:
        """Key-network representations of `examples` (float32, on the CPU)."""
        return self.encode(self._keys_net, examples, 0).cpu()

    # -- test time: local adaptation ---------------------------------------------------------
    def predict(self, model, task: TaskData, ctx, split: str) -> np.ndarray:
        from benchmark.evaluate import predict

        if self.config.adapt_steps == 0 or len(self.memory_) == 0:
            return predict(model, task, ctx, split)
        from benchmark.parallel import Parallel

        ex = task.split(split)
        k = min(self.config.neighbours, len(self.memory_))
        nearest = torch.cdist(self.keys(ex), self.keys_).topk(k, largest=False).indices
        # each process adapts its share of the queries on its own (no gradient exchange); the
        # predictions are summed over the processes at the end, as benchmark.evaluate.predict does
        parallel = ctx.parallel
        alone = dataclasses.replace(ctx, show_progress=False, predictor=None,
                                    compute=dataclasses.replace(ctx.compute, parallel=Parallel()))
        params = [p for _, p in (model.named_parameters() if self.config.adapt == "all" else
                                 model.heads.named_parameters())]
        trainable = [p.requires_grad for p in params]
        preds = np.zeros(len(ex), dtype=np.float32)
        mine = parallel.mine(list(range(len(ex))))
        start = time.perf_counter()
        try:
            for p in params:
                p.requires_grad_(True)
            for i in ctx.progress(mine, f"local adaptation {task.name} ({split})"):
                one = dataclasses.replace(task, **{split: ex.subset([i])})
                preds[i] = self.query(model, one, nearest[i], params, alone, split)
        finally:
            for p, flag in zip(params, trainable):
                p.requires_grad_(flag)
                p.grad = None
        if parallel.active:
            preds = parallel.reduce_sum(torch.from_numpy(preds).to(ctx.device)).cpu().numpy()
        costs = ctx.eval_costs
        costs["local_adaptation_s"] = costs.get("local_adaptation_s", 0.0) + time.perf_counter() - start
        costs["local_adaptation_queries"] = costs.get("local_adaptation_queries", 0) + len(mine)
        costs["local_adaptation_steps"] = costs.get("local_adaptation_steps", 0) + len(mine) * self.config.adapt_steps
        return preds

    def memory_pooled(self, model) -> dict[int, torch.Tensor]:
        """The current encoder's pooled output for every stored example, per task (adapt=heads).

        Computed once and reused until the encoder or the memory changes (before_task and
        after_task clear it): between phases only evaluation runs, and local adaptation of the
        heads leaves the encoder as it is. Eval mode and no gradient, so each row equals the
        encoder's output inside a local adaptation step up to the padding of its batch."""
        if self._pooled is None:
            model.eval()
            self._pooled = {t: self.encode(model, examples, t) for t, examples in self.memory_.tasks.items()}
        return self._pooled

    def neighbours_pooled(self, model, ctx, parts: list[tuple[int, list[int]]]) -> torch.Tensor:
        """The neighbours' encodings in collate's row order (adapt=heads: the encoder is fixed, so
        it is not run again in each of the L steps)."""
        cache = self.memory_pooled(model)
        return torch.cat([cache[t][rows] for t, rows in parts])

    def query(self, model, one: TaskData, neighbours: torch.Tensor, params: list, ctx, split: str) -> float:
        """Adapt `params` on the neighbours, predict the one query, restore `params` exactly."""
        from benchmark.evaluate import predict

        by_task: dict[int, list[int]] = {}
        for task, row in self.slots_[neighbours].tolist():
            by_task.setdefault(task, []).append(row)
        parts = sorted(by_task.items())
        batch = ctx.collate([(t, self.memory_.tasks[t], rows) for t, rows in parts])
        pooled = self.neighbours_pooled(model, ctx, parts) if self.config.adapt == "heads" else None
        base = [p.detach().clone() for p in params]
        optimizer = torch.optim.SGD(params, lr=self.config.adapt_lr)
        model.eval()  # deterministic steps (no dropout)
        try:
            with torch.enable_grad():
                for _ in range(self.config.adapt_steps):
                    with ctx.autocast():
                        loss = model.loss(batch, pooled)
                    pull = sum(((p - b) ** 2).sum() for p, b in zip(params, base))
                    optimizer.zero_grad(set_to_none=True)
                    # this process's own query: no ctx.backward, whose gradients are shared
                    (loss + self.config.adapt_lambda * pull).backward()
                    optimizer.step()
            self.last_shift = float(sum(((p.detach() - b) ** 2).sum() for p, b in zip(params, base)))
            return float(predict(model, one, ctx, split)[0])
        finally:
            with torch.no_grad():
                for p, b in zip(params, base):
                    p.copy_(b)

    def state_size(self) -> StateSize:
        key_net = sum(p.numel() for p in self._keys_net.parameters())
        return StateSize(floats=count_floats(self.state_dict()) + key_net, examples=len(self.memory_),
                         tokens=self.memory_.num_tokens)
