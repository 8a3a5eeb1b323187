"""What the runner lends a strategy while it trains (`RunContext`): the stream's data, batching
(`BatchPlan`, mixing tasks as the run's sampler says), seeding, precision, progress bars; and the
small helpers of the loop (seeding, peak memory, which parameters got gradients)."""

from __future__ import annotations

import contextlib
import hashlib
import math
import resource
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence, Sized
from dataclasses import dataclass, field

import numpy as np
import torch

from benchmark.data import Batch, Examples, TaskData, collate
from benchmark.model import MultiTaskModel
from benchmark.parallel import Parallel
from benchmark.phase import Phase
from benchmark.samplers import PROPORTIONAL, DataUsage, PhaseDraws, TaskSampler


class BatchPlan:
    """Batches of one phase over all epochs, collated lazily. Tasks trained together are mixed
    batch by batch as the run's task sampler says (benchmark/samplers.py); by default at random in
    proportion to their sizes, every example once per epoch. Epochs are drawn in order."""

    def __init__(self, ctx: RunContext, phase: Phase, epochs: int, batch_size: int,
                 steps: int | None = None) -> None:
        self.ctx, self.phase, self.batch_size, self.steps = ctx, phase, batch_size, steps
        # a step budget draws as many epochs as it needs and stops mid-epoch
        self.epochs = epochs if steps is None else math.ceil(steps / self.per_epoch)
        self._draws: PhaseDraws | None = None

    def index_batches(self, epoch: int) -> Iterator[tuple[TaskData, list[int]]]:
        if epoch == 0 or self._draws is None:  # the cursors of the tasks live across epochs
            self._draws = PhaseDraws(self.ctx, self.phase, self.batch_size)
        sampler = self.ctx.sampler if len(self.phase.tasks) > 1 and self.ctx.sampler else PROPORTIONAL
        for task, idx in sampler.schedule(self._draws, epoch, self.epochs):
            self.ctx.usage.record(task.index, idx)
            yield task, idx

    @property
    def per_epoch(self) -> int:
        return sum(math.ceil(len(t.train) / self.batch_size) for t in self.phase.tasks)

    def __len__(self) -> int:
        return self.per_epoch * self.epochs if self.steps is None else self.steps

    def index_stream(self) -> Iterator[tuple[TaskData, list[int]]]:
        """(task, example indices) of every batch of the phase: all epochs, or the step budget."""
        n = 0
        for epoch in range(self.epochs):
            for item in self.index_batches(epoch):
                if self.steps is not None and n >= self.steps:
                    return
                n += 1
                yield item

    def __iter__(self) -> Iterator[Batch]:
        for task, idx in self.index_stream():
            yield self.ctx.collate([(task, task.train, idx)])


@dataclass(frozen=True)
class Budget:
    """How much each phase trains, and in what batches."""

    epochs: int = 1
    steps: int | None = None  # optimizer steps per phase, replacing epochs when set
    batch_size: int = 32
    eval_batch_size: int = 128


@dataclass(frozen=True)
class Compute:
    """Where and in what precision the model runs, and the processes training it together."""

    device: torch.device = torch.device("cpu")
    precision: str = "fp32"  # "fp32", "bf16" (autocast) or "fp16" (autocast and a loss scaler)
    parallel: Parallel = field(default_factory=Parallel)  # one process unless `accelerate launch`


@dataclass
class StreamData:
    """The stream's tasks as loaded, in stream order, and how their batches are padded."""

    tasks: list[TaskData]
    pad_id: int = 0
    scenario: str = "task-incremental"


@dataclass
class RunContext:
    """What the runner lends a strategy: data of the whole stream, batching, seeding, precision.

    Built from named parts (`RunContext(seed, StreamData(tasks, pad_id), Budget(epochs=2))`); the
    parts' fields read as the context's own (`ctx.batch_size`, `ctx.device`, `ctx.tasks`)."""

    seed: int
    data: StreamData
    budget: Budget = field(default_factory=Budget)
    compute: Compute = field(default_factory=Compute)
    sampler: TaskSampler | None = None  # None: proportional
    model: MultiTaskModel | None = None  # read by samplers that score candidate batches
    show_progress: bool = True
    usage: DataUsage = field(default_factory=DataUsage)
    # A strategy's own test-time prediction, (model, task, ctx, split) -> predictions, used by
    # benchmark.evaluate instead of the model's forward pass (MbPA++'s local adaptation), and the
    # costs it reports; the runner moves them into the phase's record after scoring
    predictor: Callable[..., np.ndarray] | None = None
    eval_costs: dict[str, float] = field(default_factory=dict)

    # the parts' fields, read-only, as strategies read them
    tasks = property(lambda self: self.data.tasks)
    pad_id = property(lambda self: self.data.pad_id)
    scenario = property(lambda self: self.data.scenario)
    epochs = property(lambda self: self.budget.epochs)
    steps = property(lambda self: self.budget.steps)
    batch_size = property(lambda self: self.budget.batch_size)
    eval_batch_size = property(lambda self: self.budget.eval_batch_size)
    device = property(lambda self: self.compute.device)
    precision = property(lambda self: self.compute.precision)
    parallel = property(lambda self: self.compute.parallel)

    def take_eval_costs(self) -> dict[str, float]:
        """The test-time costs a predictor reported since the last call (then cleared)."""
        costs, self.eval_costs = self.eval_costs, {}
        return costs

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.parallel.accelerator is not None:  # the run's precision, through accelerate
            return self.parallel.accelerator.autocast()
        if self.precision == "bf16":
            return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def backward(self, loss: torch.Tensor) -> None:
        """What a strategy calls instead of `loss.backward()`: the fp16 loss scaler when the run
        has one, and with several processes the gradients of the whole global batch."""
        self.parallel.backward(loss, self.model.parameters() if self.model is not None else ())

    def grad_scale(self) -> float:
        """The factor the gradients carry until the optimiser step: the fp16 loss scale, else 1.
        A strategy that adds to gradients directly (EWC's penalty) multiplies by it."""
        scaler = None if self.parallel.accelerator is None else self.parallel.accelerator.scaler
        return 1.0 if scaler is None else float(scaler.get_scale())

    def optimizer_step(self, optimizer: torch.optim.Optimizer, params: Sequence[torch.nn.Parameter],
                       max_grad_norm: float) -> None:
        """Clip the gradients of `params` to `max_grad_norm` (0: no clipping) and step `optimizer`
        (through the fp16 loss scaler when the run has one)."""
        self.parallel.optimizer_step(optimizer, params, max_grad_norm)

    def generator(self, *keys: int | str) -> torch.Generator:
        """A torch generator seeded by the run seed and `keys` (stable across processes)."""
        words = [self.seed] + [k if isinstance(k, int) else int(hashlib.md5(k.encode()).hexdigest()[:8], 16)
                               for k in keys]
        return torch.Generator().manual_seed(int(np.random.SeedSequence(words).generate_state(1)[0]))

    def task_batches(self, phase: Phase) -> BatchPlan:
        return BatchPlan(self, phase, self.epochs, self.batch_size, self.steps)

    def num_steps(self, phase: Phase) -> int:
        return len(self.task_batches(phase))

    def steps_of(self, phase: Phase, batches: Iterable[Batch]) -> int:
        """Optimizer steps of a phase trained on `batches` (a strategy's): their length, or the
        plain count of the phase's batches when they are not sized."""
        return len(batches) if isinstance(batches, Sized) else self.num_steps(phase)

    def collate(self, parts: Sequence[tuple[TaskData | int, Examples, Sequence[int]]]) -> Batch:
        return collate(parts, self.pad_id).to(self.device)

    def progress(self, iterable: Iterable, desc: str, total: int | None = None) -> Iterable:
        if not self.show_progress or not self.parallel.is_main:
            return iterable
        from tqdm.auto import tqdm

        return tqdm(iterable, desc=desc, total=total, leave=False, dynamic_ncols=True, disable=None)


def set_seed(seed: int) -> None:
    import random

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def reset_peak_memory() -> None:
    """Start the peak counts of `peak_memory_mb` afresh, so a run's peak is its own: a sweep's
    worker process (`sweep --jobs`) runs one run after another, and ru_maxrss would otherwise carry
    the largest earlier run into every later one (measured: an EWC run recorded a coreset-replay
    run's 4.4 GB from its first phase). Linux resets the peak RSS when "5" is written to
    /proc/self/clear_refs (proc(5), kernel 4.0+); elsewhere the peak stays the process's."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def peak_memory_mb(device: torch.device) -> dict[str, float]:
    # ru_maxrss is in KiB on Linux: the peak resident memory since `reset_peak_memory` (or the
    # process's start); macOS gives bytes (getrusage(2) there).
    unit = 2**20 if sys.platform == "darwin" else 1024
    out = {"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / unit}
    if device.type == "cuda":
        out["peak_gpu_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    return out


class GradientTracker:
    """Which parameters receive gradients during a phase (trainable_params in the run JSON)."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.touched: dict[int, int] = {}
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.handles = [p.register_post_accumulate_grad_hook(self._hook(id(p), p.numel())) for p in self.params]

    def _hook(self, key: int, numel: int):
        def hook(_p: torch.Tensor) -> None:
            self.touched[key] = numel

        return hook

    def close(self, parallel: Parallel | None = None) -> int:
        """The number of parameters that received gradients (in any of the run's processes)."""
        for h in self.handles:
            h.remove()
        if parallel is None or not parallel.active:
            return sum(self.touched.values())
        device = self.params[0].device if self.params else torch.device("cpu")
        touched = parallel.reduce_sum(torch.tensor([float(id(p) in self.touched) for p in self.params],
                                                   device=device))
        return sum(p.numel() for p, t in zip(self.params, touched.tolist()) if t > 0)
