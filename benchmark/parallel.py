"""Several processes training one run (`accelerate launch -m benchmark run ...`), and mixed
precision, through accelerate: its `Accelerator` owns the process group, the device, autocast and
the fp16 loss scaler; its collectives (`reduce`, `broadcast_object_list`) carry what the
processes exchange. One process: every method here is a no-op, and the numbers are those of a
run without it.

How the work is split:
- Training: every process draws the same global batches (the same seed); each trains on its block
  of each batch's rows (`shard`). After each backward, `sync_gradients` sums the processes'
  gradients weighted by their share of the batch's examples: the gradient of the global batch's
  mean loss, as one process computes it. Everything else in a step (a strategy's memory draws, its
  penalty) is computed alike on every process, so its weights summing to 1 leave it whole.
- Evaluation: each process scores every world-th evaluation batch; the predictions are summed.
- Statistics over examples (EWC's Fisher) are split by example and summed (`reduce_sum`).

Why not DistributedDataParallel (what `accelerator.prepare(model)` wraps the model in): DDP
averages gradients from hooks that its wrapper arms in the model's `forward`, whereas the strategy
contract computes losses through the model's own methods (`loss`, `encode`, `outputs`), several
per step (A-GEM's reference gradient), and the model gains heads and patches every phase. DDP's
plain average of per-process means is also off when the blocks differ in size (the last batch of
a task); the weighted sum is not.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import torch

from benchmark.errors import UsageError

T = TypeVar("T")
PRECISIONS = {"fp32": "no", "bf16": "bf16", "fp16": "fp16"}  # --precision -> accelerate's name


def make_accelerator(device: torch.device, precision: str, log_with: str | None = None,
                     project_dir: str | None = None):
    """The run's Accelerator. Its state is process-wide in accelerate; one process may run several
    runs in turn (tests, `tune`), each with its own precision and trackers, so the mixed-precision
    part is reset first (the process group, when there is one, stays)."""
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(reset_partial_state=False)
    return Accelerator(cpu=device.type == "cpu", mixed_precision=PRECISIONS[precision],
                       log_with=log_with, project_dir=project_dir)


class Parallel:
    """The processes of a run and what they exchange (one process when `accelerator` is None)."""

    def __init__(self, accelerator: Any = None) -> None:
        self.accelerator = accelerator
        self.world = accelerator.num_processes if accelerator is not None else 1
        self.rank = accelerator.process_index if accelerator is not None else 0
        self.share = 1.0  # this process's share of the examples of the batch it trains on
        self.syncs = 0  # gradient synchronisations so far (the runner checks one per step)

    @property
    def active(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    # -- training ----------------------------------------------------------------------------
    def block(self, n: int) -> tuple[int, int]:
        """This process's rows [lo, hi) of n rows: contiguous blocks, sizes differing by one at most."""
        return n * self.rank // self.world, n * (self.rank + 1) // self.world

    def shard(self, batch):
        """This process's rows of a global batch (and its share of them, for `sync_gradients`).
        A process left without rows (a batch smaller than the world) computes on the first row
        with weight 0, so that every process takes part in the step's collectives."""
        if not self.active:
            return batch
        lo, hi = self.block(len(batch))
        self.share = (hi - lo) / len(batch)
        if hi == lo:
            lo, hi = 0, 1
        fields = {f.name: getattr(batch, f.name) for f in dataclasses.fields(batch)}
        return type(batch)(**{k: None if v is None else v[lo:hi] for k, v in fields.items()})

    def backward(self, loss: torch.Tensor, params: Iterable[torch.nn.Parameter]) -> None:
        """`loss.backward()` through accelerate (the fp16 loss scaler when there is one), then the
        processes' gradients summed by their shares."""
        if self.accelerator is None:
            loss.backward()
            return
        self.accelerator.backward(loss)
        self.sync_gradients(params)

    @torch.no_grad()
    def sync_gradients(self, params: Iterable[torch.nn.Parameter]) -> None:
        """Each trainable parameter's gradient becomes the share-weighted sum over the processes;
        a parameter no process has a gradient for keeps none (AdamW then leaves it alone, as in
        one process). In place, so gradients that are views (A-GEM's flat buffer) stay views."""
        if not self.active:
            return
        self.syncs += 1
        params = [p for p in params if p.requires_grad]
        if not params:
            return
        device = params[0].device
        has = self.accelerator.reduce(torch.tensor([float(p.grad is not None) for p in params],
                                                   device=device), "sum")
        live = [p for p, h in zip(params, has.tolist()) if h > 0]
        for p in live:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        if not live:
            return
        flat = torch.cat([p.grad.reshape(-1).float() for p in live]) * self.share
        flat = self.accelerator.reduce(flat, "sum")
        start = 0
        for p in live:
            p.grad.copy_(flat[start : start + p.numel()].view_as(p.grad))
            start += p.numel()

    def optimizer_step(self, optimizer: torch.optim.Optimizer, params: Sequence[torch.nn.Parameter],
                       max_grad_norm: float) -> None:
        """Clip (after unscaling, under fp16) and step; the fp16 scaler skips steps with inf/NaN
        gradients and adapts its scale, as accelerate's optimizer wrapper does."""
        scaler = None if self.accelerator is None else self.accelerator.scaler
        if scaler is not None:
            scaler.unscale_(optimizer)
        if max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()

    # -- exchanging results ------------------------------------------------------------------
    def mine(self, items: Sequence[T]) -> Sequence[T]:
        """Every world-th item, starting at this process's rank (its part of a list of work)."""
        return items[self.rank :: self.world] if self.active else items

    def reduce_sum(self, value: Any) -> Any:
        """A tensor (or a dict/list of them) summed over the processes."""
        return self.accelerator.reduce(value, "sum") if self.active else value

    def agree(self, value: T) -> T:
        """The main process's value, on every process (a decision every process must take alike)."""
        if not self.active:
            return value
        from accelerate.utils import broadcast_object_list

        return broadcast_object_list([value], from_process=0)[0]

    def from_main(self, fn: Callable[[], T]) -> T:
        """`fn()` computed on the main process (reading files another process may be writing),
        its value on every process."""
        return self.agree(fn() if self.is_main else None)

    def barrier(self) -> None:
        if self.active:
            self.accelerator.wait_for_everyone()


def check_precision(precision: str, device: torch.device) -> None:
    if precision == "fp16" and device.type != "cuda":
        raise UsageError("--precision fp16 needs a CUDA device (its loss scaler is CUDA's); use bf16 on CPU")
