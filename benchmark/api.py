"""What the harness and the strategies share: the strategy contract (`Strategy`), the phase a
strategy trains (`Phase`), what it reports keeping (`StateSize`, `count_floats`), the strategy
registry and the classes a checkpoint may hold (`checkpointable`).

The harness imports this module, never the strategy modules: `STRATEGIES` imports a built-in
strategy's module on the first lookup of its name (benchmark/registry.py), so `import
benchmark.runner` loads no strategy, and a strategy that fails to import breaks only itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar, runtime_checkable

import torch

from benchmark import plugins
from benchmark.data import Batch
from benchmark.phase import Phase
from benchmark.registry import Registry

if TYPE_CHECKING:
    from benchmark.context import RunContext
    from benchmark.model import MultiTaskModel


@dataclass
class StateSize:
    """What a strategy keeps between tasks, besides the model itself."""

    floats: int = 0
    examples: int = 0
    tokens: int = 0


@runtime_checkable
class Strategy(Protocol):
    """The contract between the runner (benchmark/runner.py) and a strategy: every member below is
    read or called by the harness, in this order. `strategies.base.BaseStrategy` implements all of
    it (sequential AdamW training); a strategy overrides what differs.

    Class attributes, read before the run starts (`benchmark.runconfig.resolve`):
      name       the registry key; set by the registration decorator
      Config     a dataclass of its settings, each field with `metadata={"help": ...}`; built from
                 `--set key=value` and checked in its `__post_init__` (UsageError on a bad value)
      scenarios  the scenarios it supports ("task-incremental", "class-incremental", ...)
      kept       the attributes that hold what it keeps between tasks (BaseStrategy): saved in
                 every checkpoint and counted as the state it keeps

    The run, for a stream of T tasks:
      plan(T)              stream positions per phase: [[0], [1], ...] trains one task per phase
      setup(model, ctx)    once per process, on a fresh model, before the first phase (a resumed
                           run too: its model is rebuilt by `resume_phase`)
      per phase, after the runner added a fresh head for each of the phase's tasks:
        batches(phase)       the training batches (`ctx.task_batches(phase)` by default), asked
                             for once, before `before_task`; a sized iterable gives the phase its
                             step count (`phase.steps`; unsized: `ctx.num_steps(phase)`)
        before_task(phase)   optimiser over `phase.steps` steps, patches, snapshots
        train_step(batch)    one optimiser step, with the model in train mode (the runner sets it
                             before every step); returns the loss as a float (must be finite)
        after_task(phase)    what it keeps from the phase: memory, Fisher, a teacher copy
        state_size()         floats, examples and tokens kept between tasks (the run JSON's cost)
        state_dict()         what a checkpoint saves: tensors, numpy arrays, numbers, strings,
                             containers of them, `Examples`, copies of the model and classes marked
                             `@checkpointable`; never pickled
      on --resume, instead of the finished phases:
        resume_phase(phase)  once per finished phase, in order, after the runner re-added its
                             heads: rebuild what the phase added to the model (patches, adapters,
                             encoders) so the checkpoint's tensors have a place to load into
        load_state_dict(state)   the last finished phase's `state_dict()`

    A strategy never writes results and never evaluates: the runner scores every task after each
    phase (in eval mode) and counts the parameters a phase added from the model's tensors. A
    strategy whose method acts at test time sets `ctx.predictor` in `setup` (MbPA++'s local
    adaptation): `benchmark.evaluate` then asks it for the predictions instead of the forward pass,
    and the costs it adds to `ctx.eval_costs` go into the phase's record.
    """

    name: ClassVar[str]
    Config: ClassVar[type]
    scenarios: ClassVar[tuple[str, ...]]

    def plan(self, num_tasks: int) -> list[list[int]]: ...
    def setup(self, model: MultiTaskModel, ctx: RunContext) -> None: ...
    def batches(self, phase: Phase) -> Iterable[Batch]: ...
    def before_task(self, phase: Phase) -> None: ...
    def train_step(self, batch: Batch) -> float: ...
    def after_task(self, phase: Phase) -> None: ...
    def state_size(self) -> StateSize: ...
    def state_dict(self) -> dict[str, Any]: ...
    def resume_phase(self, phase: Phase) -> None: ...
    def load_state_dict(self, state: dict[str, Any]) -> None: ...


def count_floats(obj: Any) -> int:
    """Elements of the floating-point tensors inside nested dicts/lists/tuples, and of the
    parameters and buffers of modules (a teacher copy of the model)."""
    if isinstance(obj, torch.Tensor):
        return obj.numel() if obj.is_floating_point() else 0
    if isinstance(obj, torch.nn.Module):
        return sum(t.numel() for t in (*obj.parameters(), *obj.buffers()) if t.is_floating_point())
    if isinstance(obj, dict):
        return sum(count_floats(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(count_floats(v) for v in obj)
    return 0


# the registry lives in benchmark/plugins.py, which imports no torch (so `list` is quick)
STRATEGIES: Registry[type[Strategy]] = plugins.STRATEGIES

# Classes a strategy's checkpointed state may hold besides tensors and containers: saved as their
# attributes (`vars`), restored without calling __init__. Name -> class; a plug-in adds its own
# with `@checkpointable`.
CHECKPOINT_CLASSES: dict[str, type] = {}

C = TypeVar("C", bound=type)


def checkpointable(cls: C) -> C:
    """Class decorator: instances of `cls` may appear in a strategy's `state_dict()`."""
    name = cls.__name__
    if CHECKPOINT_CLASSES.get(name, cls) is not cls:
        raise ValueError(f"a checkpointable class named {name!r} is already registered "
                         f"({CHECKPOINT_CLASSES[name].__module__})")
    CHECKPOINT_CLASSES[name] = cls
    return cls


__all__ = ["CHECKPOINT_CLASSES", "STRATEGIES", "Phase", "StateSize", "Strategy", "checkpointable",
           "count_floats"]
