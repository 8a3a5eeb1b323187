"""Shared machinery of the frozen-backbone, per-task patch strategies ("K for the price of 1",
Mudrakarta et al. 2018; BERT and PALs, Stickland & Murray 2019).

The backbone is frozen (a strategy may train it in some phases: PALs in a multi-task phase,
`trains_backbone`); each task gets a patch of its own and the model runs the
encoder once per task group with `model.active_task` set (`route_by_task`). A patch is either
    - an `nn.ModuleDict` stored as `model.patches[str(task)]`, keyed by *site* (a backbone module's
      path with "/" for "."), and applied by forward hooks on those backbone modules; or
    - a named peft adapter inside the encoder, switched by `AdapterSwitch` before each call.
A task without a patch (one not trained yet, scored for forward transfer) runs the unpatched
backbone. Because the backbone does not change after a task's phase and the task's patch is
frozen once its phase ends, no earlier task's outputs can change: zero forgetting by construction.

Patches and hooks are created in `setup`/`before_task` only: `--resume` rebuilds them by replaying
the finished phases' `before_task` and then loads the weights (benchmark/runstore.py; no pickle).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.errors import UsageError
from strategies.base import PATCH_LR, BaseStrategy, Phase, SearchSpace, StrategyConfig

if TYPE_CHECKING:
    from benchmark.context import RunContext
    from benchmark.model import MultiTaskModel

PATCHES = "patches"  # attribute of the model holding the per-task ModuleDicts


def freeze(module: nn.Module) -> None:
    for p in module.parameters():
        p.requires_grad_(False)


def site(name: str) -> str:
    """A module path as a ModuleDict key (keys may not contain dots)."""
    return name.replace(".", "/")


def bert_layers(encoder: nn.Module) -> nn.ModuleList:
    """The transformer blocks of a BERT-like encoder (BERT, RoBERTa, MiniLM, ...)."""
    layers = getattr(getattr(encoder, "encoder", None), "layer", None)
    try:
        ok = isinstance(layers, nn.ModuleList) and all(
            isinstance(layer.attention.output.dense, nn.Linear) and isinstance(layer.output.dense, nn.Linear)
            for layer in layers
        )
    except AttributeError:
        ok = False
    if not ok:
        raise UsageError(
            "this strategy patches BERT-like encoders (encoder.layer[i].attention.output.dense and "
            f".output.dense); {type(encoder).__name__} has another layout"
        )
    if getattr(encoder.config, "chunk_size_feed_forward", 0):
        raise UsageError("chunked feed-forward (chunk_size_feed_forward > 0) is not supported by patches")
    return layers


class TaskHook:
    """Base of the hooks: finds the patch of the task the encoder is running as."""

    transient: ClassVar[tuple[str, ...]] = ()  # per-call tensors, not pickled

    def __init__(self, model: MultiTaskModel) -> None:
        self.model = model  # a plain attribute: the hook is no module, so no cycle of submodules
        if self.transient:
            model.call_state.append(self)  # what a layer recomputed in backward must see again

    def patch(self) -> nn.ModuleDict | None:
        task, patches = self.model.active_task, getattr(self.model, PATCHES)
        return None if task is None or str(task) not in patches else patches[str(task)]

    def __getstate__(self) -> dict[str, Any]:
        return {k: (None if k in self.transient else v) for k, v in vars(self).items()}


class Override(nn.Module):
    """A task's own copies of some parameters of one backbone module, initialised from it."""

    def __init__(self, module: nn.Module, names: tuple[str, ...]) -> None:
        super().__init__()
        for n in names:
            self.register_parameter(n, nn.Parameter(getattr(module, n).detach().clone()))


class OverrideHook(TaskHook):
    """Forward hook on a LayerNorm or Linear: its output as if it had the task's parameters."""

    def __init__(self, model: MultiTaskModel, key: str) -> None:
        super().__init__(model)
        self.key = key

    def __call__(self, module: nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor | None:
        patch = self.patch()
        if patch is None or self.key not in patch:
            return None
        o = patch[self.key]
        if isinstance(module, nn.LayerNorm):
            return F.layer_norm(args[0], module.normalized_shape, getattr(o, "weight", module.weight),
                                getattr(o, "bias", module.bias), module.eps)
        # a Linear: swap the bias without redoing the matmul (exactly the backbone's output at init)
        return output + (o.bias - module.bias).to(output.dtype)


def add_override_hooks(model: MultiTaskModel, kinds: tuple[type[nn.Module], ...]) -> None:
    for name, module in model.encoder.named_modules():
        if isinstance(module, kinds) and getattr(module, "bias", None) is not None:
            module.register_forward_hook(OverrideHook(model, site(name)))


def make_overrides(encoder: nn.Module, layer_norm: tuple[str, ...], linear: tuple[str, ...]) -> nn.ModuleDict:
    """Per-site copies: `layer_norm` names of every LayerNorm, `linear` names of every Linear."""
    patch = nn.ModuleDict()
    for name, module in encoder.named_modules():
        names = layer_norm if isinstance(module, nn.LayerNorm) else linear if isinstance(module, nn.Linear) else ()
        names = tuple(n for n in names if getattr(module, n, None) is not None)
        if names:
            patch[site(name)] = Override(module, names)
    return patch


class PatchStrategy(BaseStrategy):
    """Frozen backbone and one patch per task; a subclass says what a patch is (`make_patch`)
    and where it acts (`install`). Each phase trains exactly its tasks' heads and new patches."""

    scenarios: ClassVar[tuple[str, ...]] = ("task-incremental",)  # patches are chosen by task id
    routes: ClassVar[bool] = True  # False: the encoder does not depend on the task (head-only)

    def setup(self, model: MultiTaskModel, ctx: RunContext) -> None:
        super().setup(model, ctx)
        freeze(model)
        model.route_by_task = self.routes
        setattr(model, PATCHES, nn.ModuleDict())  # a resumed run adds them again (resume_phase)
        self.install(model)

    def install(self, model: MultiTaskModel) -> None:
        """Register the hooks that apply patches (once per model)."""

    def make_patch(self, task: int) -> nn.ModuleDict | None:
        """Create task `task`'s patch; return it to store it in `model.patches` (None: nothing to
        store, e.g. a peft adapter injected into the encoder)."""
        return None

    def add_patch(self, task: int) -> None:
        patches = getattr(self.model, PATCHES)
        if str(task) not in patches:
            patch = self.make_patch(task)
            if patch is not None:
                patches[str(task)] = patch

    def before_task(self, phase: Phase) -> None:
        freeze(self.model)
        old = {id(p) for p in self.model.parameters()}
        for task in phase.tasks:
            self.add_patch(task.index)
            self.model.heads[task.name].requires_grad_(True)
        for p in self.model.parameters():
            if id(p) not in old:  # parameters shared with an earlier task stay frozen
                p.requires_grad_(True)
        if self.trains_backbone(phase):
            for _, p in self.model.backbone_parameters():
                p.requires_grad_(True)
        super().before_task(phase)

    def trains_backbone(self, phase: Phase) -> bool:
        """Whether the backbone trains with the patches in this phase (PALs' multi-task setting)."""
        return False

    def after_task(self, phase: Phase) -> None:
        freeze(self.model)  # the task's patch is final


# -- patches made by peft (an optional extra) ------------------------------------------------


def adapter_name(task: int | None) -> str:
    return f"task{task}"


def import_peft(strategy: str) -> Any:
    try:
        import peft
    except ImportError:
        raise UsageError(f"strategy {strategy!r} needs peft: pip install 'cmtbench[peft]'") from None
    return peft


def target_list(text: str) -> list[str] | str:
    """'query,value' -> ['query', 'value'] (peft matches name suffixes); a value holding regex
    characters is kept as one regex, which peft matches against the whole module name."""
    return text if any(c in text for c in "*|()[]^$\\") else [t.strip() for t in text.split(",") if t.strip()]


@dataclass
class PeftStrategyConfig(StrategyConfig):
    """Settings every peft strategy has; subclasses redefine the defaults."""

    search_space: ClassVar[SearchSpace] = {"lr": PATCH_LR}

    target_modules: str = field(default="", metadata={"help": "modules to patch: suffixes or one regex"})

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.target_modules.strip():
            raise UsageError("target_modules must name at least one module")


class AdapterSwitch(TaskHook):
    """Forward pre-hook on the encoder: activate the running task's peft adapter, or none."""

    def __call__(self, module: nn.Module, args: tuple) -> None:
        from peft.tuners.tuners_utils import set_adapter

        name = adapter_name(self.model.active_task)
        active = [name] if name in getattr(module, "peft_config", {}) else []
        # peft's set_adapter also sets requires_grad: trainable only while training (only the
        # current task is routed then); frozen when evaluating
        set_adapter(module, active, inference_mode=not module.training)


class PeftStrategy(PatchStrategy):
    """A patch strategy whose per-task patch is a named peft adapter inside the encoder."""

    def peft_config(self) -> Any:
        raise NotImplementedError

    def setup(self, model: MultiTaskModel, ctx: RunContext) -> None:
        import_peft(self.name)
        super().setup(model, ctx)

    def install(self, model: MultiTaskModel) -> None:
        model.encoder.register_forward_pre_hook(AdapterSwitch(model))

    def make_patch(self, task: int) -> None:
        peft = import_peft(self.name)
        with warnings.catch_warnings():
            # peft warns that a model with an adapter gets another: one per task is the point
            warnings.filterwarnings("ignore", message=".*multiple adapters.*")
            warnings.filterwarnings("ignore", message="Unsupported layer type")
            try:
                peft.inject_adapter_in_model(self.peft_config(), self.model.encoder, adapter_name=adapter_name(task))
            except ValueError as exc:  # e.g. no module matches the target names
                raise UsageError(f"{self.name}: {exc}") from None
        return None
