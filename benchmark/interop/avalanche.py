"""Avalanche interop (the `avalanche` extra; Lomonaco et al. 2021, avalanche-lib 0.6).

`as_avalanche_benchmark(tasks, scenario, pad_id)`: a cmtbench stream as an Avalanche benchmark,
one experience per task in each of its train, valid (when the tasks have validation) and test
streams. An example is (x, y, t): x holds the text's token ids, token types and stream position
(3 x its length), y its class (its place in the shared output in the class- and
domain-incremental scenarios), t its task label (the stream position; 0 for every task when the
scenario gives no task id). The datasets' collate pads each batch to its longest text (dynamic
padding) into (B, 4, L): ids, attention mask, token types, stream position.

`--strategy avalanche:<Name>` (`strategy_class`): Avalanche's training strategy drives the
learning, cmtbench's runner everything else. Each hook runs the matching part of Avalanche's own
training template (`SupervisedTemplate.train`):

    batches      Avalanche's before_training and before_training_exp: dataset adaptation (the
                 replay buffer, GDumb's memory, Cumulative's union), its data loader, its
                 plugins; then that data loader, epoch by epoch (the runner asks for the
                 batches before before_task and counts what it trains on)
    before_task  cmtbench's optimiser and schedule over those batches
    train_step   one iteration of Avalanche's `training_epoch`: forward, criterion and plugin
                 penalties, backward, gradient projection (GEM, A-GEM), optimiser step
    after_task   after_training_exp (importances, teacher copy, buffer update), after_training

so the runner evaluates, times, counts parameters and state, and writes the run: the rows land
on the leaderboard beside the native strategies'. What cmtbench sets: the model (the encoder
and per-task heads of every run), the optimiser (AdamW with the warm-up schedule, gradient
clipping, as every native strategy; `--set lr=...`), batch size, epochs and `--steps`. What
Avalanche sets: the data loader (task-balanced, shuffled; not length-grouped, so batches carry
more padding than native ones), the losses, the plugins and their state. Avalanche trains
classifiers: regression tasks are refused. `--resume` works for Naive only: the other strategies
keep their state in Avalanche's plugins, which cmtbench does not checkpoint (it never pickles).
docs/avalanche.md has the install and the differences from the native strategies.
"""

from __future__ import annotations

import difflib
import importlib.util
import math
import warnings
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch

from benchmark.data import Batch, Examples, TaskData
from benchmark.errors import UsageError
from benchmark.interop import AVALANCHE_STRATEGIES
from benchmark.model import head_init_generator, make_head
from strategies.base import FULL_LR, BaseStrategy, Phase, SearchSpace, StateSize, StrategyConfig

INSTALL_HINT = ("install the avalanche extra: pip install -c constraints.txt -e '.[avalanche]' "
                "(docs/avalanche.md)")
PAD_LOGIT = -1e9  # logits of classes a task's head does not have, in a batch mixing tasks


def import_avalanche():
    """Import avalanche-lib, or a UsageError saying how to install it. (Its torchvision, a CUDA
    build from PyPI, imports beside a CPU torch through benchmark/torchvision_compat.py.)"""
    if importlib.util.find_spec("avalanche") is None:
        raise UsageError(f"Avalanche is not installed: {INSTALL_HINT}")
    with warnings.catch_warnings():  # "no QP solver found": GEM needs only quadprog (in the extra)
        warnings.simplefilter("ignore")
        import avalanche
    _si_stores_copies()
    return avalanche


def _si_stores_copies() -> None:
    """Avalanche 0.6's Synaptic Intelligence keeps `param.detach().cpu().flatten()` as its anchor,
    its weights before and after a step and its gradient. On a GPU `.cpu()` copies; on a CPU it
    returns the parameter itself, so each of these is a view of the live tensor: the anchor moves
    with the weights, every step adds grad x 0 to the path integral, and the penalty is exactly 0
    (SI trains as Naive, to the last digit). Stored copies give SI as written, on any device."""
    from avalanche.training.plugins import SynapticIntelligencePlugin as SI

    if getattr(SI, "cmtbench_copies", False):
        return

    @torch.no_grad()
    def extract_weights(model, target, excluded_parameters) -> None:
        for name, param in SI.allowed_parameters(model, excluded_parameters):
            target[name].data = param.detach().flatten().to("cpu", copy=True)

    @torch.no_grad()
    def extract_grad(model, target, excluded_parameters) -> None:
        for name, param in SI.allowed_parameters(model, excluded_parameters):
            target[name].data = param.grad.detach().flatten().to("cpu", copy=True)

    SI.extract_weights, SI.extract_grad = staticmethod(extract_weights), staticmethod(extract_grad)
    SI.cmtbench_copies = True


# -- the stream as an Avalanche benchmark --------------------------------------------------------

def class_offsets(tasks: list[TaskData], scenario: str) -> dict[int, int]:
    """Stream position -> first class of its task in the model's output: 0 with one head per task;
    with a shared output (class-/domain-incremental) one block per label space, in stream order,
    as `MultiTaskModel` grows it."""
    if scenario == "task-incremental":
        return {t.index: 0 for t in tasks}
    offsets: dict[int, int] = {}
    blocks: dict[str, int] = {}
    free = 0
    for t in sorted(tasks, key=lambda t: t.index):
        if t.spec.space not in blocks:
            blocks[t.spec.space], free = free, free + t.spec.num_labels
        offsets[t.index] = blocks[t.spec.space]
    return offsets


class TextExamples(torch.utils.data.Dataset):
    """One split of one task as (x, y): x = (ids, token types, stream position) x length."""

    def __init__(self, task: TaskData, examples: Examples, offset: int) -> None:
        self.task, self.examples, self.offset = task, examples, offset

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, i: int):
        ids = self.examples.input_ids[i]
        types = self.examples.token_type_ids[i] if self.examples.token_type_ids else [0] * len(ids)
        x = torch.tensor([ids, types, [self.task.index] * len(ids)], dtype=torch.long)
        return x, int(self.examples.labels[i]) + self.offset


class PadCollate:
    """Pads a list of (x, y, t) to the longest text of the batch (dynamic padding), or to
    `pad_to` tokens for all batches (GEM concatenates stored batches into one tensor)."""

    def __init__(self, pad_id: int, pad_to: int | None = None) -> None:
        self.pad_id, self.pad_to = pad_id, pad_to

    def __call__(self, items):
        length = self.pad_to or max(x.shape[1] for x, *_ in items)
        x = torch.zeros(len(items), 4, length, dtype=torch.long)
        x[:, 0] = self.pad_id
        for row, (xi, *_) in enumerate(items):
            n = xi.shape[1]
            x[row, 0, :n] = xi[0]
            x[row, 1, :n] = 1
            x[row, 2, :n] = xi[1]
            x[row, 3, :] = xi[2, 0]
        rest = [torch.tensor([item[k] for item in items], dtype=torch.long) for k in range(1, len(items[0]))]
        return [x, *rest]


def avalanche_dataset(task: TaskData, split: str, offset: int, task_label: int, pad_id: int,
                      pad_to: int | None = None):
    """An Avalanche classification dataset of one split of one task, with task labels."""
    import_avalanche()
    from avalanche.benchmarks.utils import (
        ConstantSequence,
        DataAttribute,
        TaskAwareSupervisedClassificationDataset,
    )
    from avalanche.benchmarks.utils.transform_groups import TransformGroups

    if task.spec.regression:
        raise UsageError(f"task {task.name!r} is a regression task; Avalanche's strategies train "
                         "classifiers: leave it out (--tasks)")
    examples = task.split(split)
    data = TextExamples(task, examples, offset)
    targets = [int(y) + offset for y in examples.labels]
    return TaskAwareSupervisedClassificationDataset(
        [data],
        data_attributes=[
            DataAttribute(targets, "targets"),
            DataAttribute(ConstantSequence(task_label, len(data)), "targets_task_labels", use_in_getitem=True),
        ],
        transform_groups=TransformGroups({"train": None, "eval": None}),
        collate_fn=PadCollate(pad_id, pad_to),
    )


def as_avalanche_benchmark(tasks: list[TaskData], scenario: str = "task-incremental", pad_id: int = 0,
                           pad_to: int | None = None):
    """An Avalanche `CLScenario` of the stream's tasks: train_stream, test_stream and (when every
    task has a validation split) valid_stream, one experience per task in stream order, with task
    labels (`with_task_labels`) and the classes timeline (`with_classes_timeline`). Batches are
    padded to their longest text, or to `pad_to` tokens when given."""
    import_avalanche()
    from avalanche.benchmarks.scenarios import (
        benchmark_from_datasets,
        with_classes_timeline,
        with_task_labels,
    )

    offsets = class_offsets(tasks, scenario)
    label = (lambda t: t.index) if scenario == "task-incremental" else (lambda t: 0)
    splits = {"train": "train", "test": "test"}
    if all(t.validation is not None for t in tasks):
        splits["valid"] = "validation"
    streams = {name: [avalanche_dataset(t, split, offsets[t.index], label(t), pad_id, pad_to) for t in tasks]
               for name, split in splits.items() if all(getattr(t, split) is not None for t in tasks)}
    return with_classes_timeline(with_task_labels(benchmark_from_datasets(**streams)))


def avalanche_model(model, scenario: str):
    """The cmtbench model as an Avalanche `MultiTaskModule` over (B, 4, L) inputs, sharing its
    parameters: Avalanche's task-aware forward routes each row to its task's head; a batch that
    mixes tasks gets one row of logits per example, padded with PAD_LOGIT where a head is narrower."""
    import_avalanche()
    from avalanche.models import MultiTaskModule

    class CmtbenchModule(MultiTaskModule):
        def __init__(self, net, shared: bool) -> None:
            super().__init__()
            self.net, self.shared = net, shared

        def _batch(self, x: torch.Tensor, task: int | None = None) -> Batch:
            tids = x[:, 3, 0] if task is None else torch.full_like(x[:, 3, 0], task)
            types = x[:, 2] if self.net.encoder.config.type_vocab_size > 1 else None
            return Batch(x[:, 0], x[:, 1], types, torch.zeros(len(x)), tids)

        def forward(self, x: torch.Tensor, task_labels=None):
            if task_labels is None:
                return self.forward_all_tasks(x)
            batch = self._batch(x)
            pooled = self.net.encode(batch)
            if self.shared:
                return self.net.shared_logits(pooled)
            outputs = self.net.outputs(batch, pooled)
            width = max(out.shape[-1] for _, _, out in outputs)
            logits = pooled.new_full((len(batch), width), PAD_LOGIT, dtype=torch.float32)
            for _, rows, out in outputs:
                logits[rows, : out.shape[-1]] = out
            return logits

        def forward_single_task(self, x: torch.Tensor, task_label: int) -> torch.Tensor:
            if self.shared:
                return self.net.shared_logits(self.net.encode(self._batch(x)))
            return self.net.outputs(self._batch(x, task_label))[0][2]

    return CmtbenchModule(model, shared=scenario != "task-incremental")


# -- Avalanche's strategies as cmtbench strategies -----------------------------------------------

@dataclass
class AvalancheConfig(StrategyConfig):
    """cmtbench's optimiser settings (AdamW, warm-up, clipping), as every native strategy has."""

    search_space: ClassVar[SearchSpace] = {"lr": FULL_LR}


@dataclass
class EWCConfig(AvalancheConfig):
    search_space: ClassVar[SearchSpace] = {"lr": FULL_LR, "ewc_lambda": ("log", 1.0, 1e6)}
    ewc_lambda: float = field(default=1e4, metadata={"help": "penalty weight (Avalanche's ewc_lambda; native ewc's default)"})
    mode: str = field(default="separate", metadata={"help": "separate (one penalty per experience) or online"})
    decay_factor: float = field(default=0.0, metadata={"help": "online mode: decay of the old importances"})

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.mode not in ("separate", "online"):
            raise UsageError(f"mode must be separate or online, not {self.mode!r}")
        if self.mode == "online" and not 0 < self.decay_factor <= 1:
            raise UsageError("online mode needs decay_factor in (0, 1]: e.g. --set decay_factor=0.9")


@dataclass
class SIConfig(AvalancheConfig):
    search_space: ClassVar[SearchSpace] = {"lr": FULL_LR, "si_lambda": ("log", 1e-2, 1e3)}
    si_lambda: float = field(default=1.0, metadata={"help": "penalty weight (Avalanche's si_lambda)"})
    eps: float = field(default=1e-7, metadata={"help": "damping of the importance (Avalanche's default)"})


@dataclass
class MASConfig(AvalancheConfig):
    search_space: ClassVar[SearchSpace] = {"lr": FULL_LR, "lambda_reg": ("log", 1e-2, 1e3)}
    lambda_reg: float = field(default=1.0, metadata={"help": "penalty weight (Avalanche's default)"})
    alpha: float = field(default=0.5, metadata={"help": "share of the old importance kept (Avalanche's default)"})


@dataclass
class LwFConfig(AvalancheConfig):
    search_space: ClassVar[SearchSpace] = {"lr": FULL_LR, "alpha": ("log", 0.1, 10.0)}
    alpha: float = field(default=1.0, metadata={"help": "weight of the distillation loss (native lwf's)"})
    temperature: float = field(default=2.0, metadata={"help": "softmax temperature (native lwf's)"})


@dataclass
class GEMConfig(AvalancheConfig):
    search_space: ClassVar[SearchSpace] = {"lr": FULL_LR, "memory_strength": ("float", 0.0, 1.0)}
    patterns_per_exp: int = field(default=100, metadata={"help": "examples kept per experience (native replay's budget)"})
    memory_strength: float = field(default=0.5, metadata={"help": "offset of the QP's constraints (Avalanche's default)"})


@dataclass
class AGEMConfig(AvalancheConfig):
    search_space: ClassVar[SearchSpace] = {"lr": FULL_LR, "patterns_per_exp": ("log-int", 10, 1000)}
    patterns_per_exp: int = field(default=100, metadata={"help": "examples kept per experience (native replay's budget)"})
    sample_size: int = field(default=64, metadata={"help": "memory examples per reference gradient (Avalanche's default)"})


@dataclass
class MemoryConfig(AvalancheConfig):
    search_space: ClassVar[SearchSpace] = {"lr": FULL_LR, "mem_size": ("log-int", 50, 2000)}
    mem_size: int = field(default=200, metadata={"help": "examples in the buffer, over all experiences (Avalanche's default)"})


def _kwargs(config: Any, *names: str, **renamed: str) -> dict[str, Any]:
    out = {n: getattr(config, n) for n in names}
    out.update({avalanche: getattr(config, ours) for avalanche, ours in renamed.items()})
    return out


# name -> (Avalanche class path, Config, its constructor arguments from the Config, keeps state)
SPECS: dict[str, tuple[str, type, Any, bool]] = {
    "Naive": ("avalanche.training.supervised:Naive", AvalancheConfig, lambda c: {}, False),
    "EWC": ("avalanche.training.supervised:EWC", EWCConfig,
            lambda c: {**_kwargs(c, "ewc_lambda", "mode"),
                       "decay_factor": c.decay_factor if c.mode == "online" else None}, True),
    "SI": ("avalanche.training.supervised:SynapticIntelligence", SIConfig,
           lambda c: _kwargs(c, "si_lambda", "eps"), True),
    "MAS": ("avalanche.training.supervised:MAS", MASConfig, lambda c: _kwargs(c, "lambda_reg", "alpha"), True),
    "LwF": ("avalanche.training.supervised:LwF", LwFConfig, lambda c: _kwargs(c, "alpha", "temperature"), True),
    "GEM": ("avalanche.training.supervised:GEM", GEMConfig,
            lambda c: _kwargs(c, "patterns_per_exp", "memory_strength"), True),
    "AGEM": ("avalanche.training.supervised:AGEM", AGEMConfig,
             lambda c: _kwargs(c, "patterns_per_exp", "sample_size"), True),
    "Replay": ("avalanche.training.supervised:Replay", MemoryConfig, lambda c: _kwargs(c, "mem_size"), True),
    "GDumb": ("avalanche.training.supervised:GDumb", MemoryConfig, lambda c: _kwargs(c, "mem_size"), True),
    "Cumulative": ("avalanche.training.supervised:Cumulative", AvalancheConfig, lambda c: {}, True),
}
assert set(SPECS) == set(AVALANCHE_STRATEGIES), "benchmark/interop/__init__.py names the same strategies"


def strategy_class(name: str) -> type[BaseStrategy]:
    """The cmtbench strategy class of Avalanche strategy `name` (the `avalanche:` family)."""
    if name not in SPECS:
        close = difflib.get_close_matches(name, list(SPECS), n=1, cutoff=0.5)
        hint = f" Did you mean 'avalanche:{close[0]}'?" if close else ""
        raise UsageError(f"unknown Avalanche strategy {name!r}.{hint} Known: "
                         f"{', '.join('avalanche:' + n for n in SPECS)}")
    path, config, _, _ = SPECS[name]
    doc = (f"{AVALANCHE_STRATEGIES[name]}\n\nAvalanche's {path.rpartition(':')[2]} run by cmtbench's runner "
           "(benchmark/interop/avalanche.py): Avalanche's data loader, losses and plugins; cmtbench's "
           "model, AdamW schedule, evaluation and accounting.")
    return type(f"Avalanche{name}", (AvalancheStrategy,), {"Config": config, "avalanche_name": name, "__doc__": doc})


class _Batches:
    """Avalanche's data loader for the phase, all epochs (or the step budget), as cmtbench Batches;
    Avalanche's epoch callbacks run around each epoch."""

    def __init__(self, owner: AvalancheStrategy, loader, epochs: int, steps: int | None) -> None:
        self.owner, self.loader, self.steps = owner, loader, steps
        self.epochs = epochs if steps is None else math.ceil(steps / max(1, len(loader)))

    def __len__(self) -> int:
        return self.epochs * len(self.loader) if self.steps is None else self.steps

    def __iter__(self):
        avl, n = self.owner.avl, 0
        for _ in range(self.epochs):
            avl._before_training_epoch()
            for mbatch in self.loader:
                if self.steps is not None and n >= self.steps:
                    break
                n += 1
                self.owner.pending = mbatch
                x = mbatch[0]
                yield Batch(x[:, 0], x[:, 1], None, mbatch[1].float(), x[:, 3, 0])
            avl._after_training_epoch()


class AvalancheStrategy(BaseStrategy):
    """An Avalanche training strategy under cmtbench's runner (see the module's docstring)."""

    avalanche_name: ClassVar[str] = "Naive"
    scenarios: ClassVar[tuple[str, ...]] = ("task-incremental", "class-incremental", "domain-incremental")

    def __init__(self, config: StrategyConfig | None = None) -> None:
        super().__init__(config)
        if importlib.util.find_spec("avalanche") is None:  # before any data is loaded
            raise UsageError(f"avalanche:{self.avalanche_name} needs Avalanche: {INSTALL_HINT}")

    def setup(self, model, ctx) -> None:
        super().setup(model, ctx)
        import_avalanche()
        from avalanche.training.plugins import EvaluationPlugin, SupervisedPlugin

        regression = [t.name for t in ctx.tasks if t.spec.regression]
        if regression:
            raise UsageError(f"task {regression[0]!r} is a regression task; Avalanche's strategies train "
                             "classifiers: leave it out (--tasks)")
        self.net = avalanche_model(model, ctx.scenario)
        # GEM stores the batches it sees and concatenates them: they need one length
        pad_to = max(int(t.train.lengths.max()) for t in ctx.tasks) if self.avalanche_name == "GEM" else None
        self.benchmark = as_avalanche_benchmark(ctx.tasks, ctx.scenario, ctx.pad_id, pad_to)
        owner = self

        class Schedule(SupervisedPlugin):
            """cmtbench's clipping before and learning-rate schedule after each optimiser step."""

            def before_update(self, strategy, **kwargs):
                if owner.config.max_grad_norm > 0:
                    torch.nn.utils.clip_grad_norm_(owner.trainable_parameters(), owner.config.max_grad_norm)

            def after_update(self, strategy, **kwargs):
                owner.scheduler.step()

        path, _, arguments, _ = SPECS[self.avalanche_name]
        module, _, cls_name = path.partition(":")
        cls = getattr(__import__(module, fromlist=[cls_name]), cls_name)
        with warnings.catch_warnings():  # "No loggers specified": cmtbench's runner reports
            warnings.simplefilter("ignore")
            self.avl = cls(model=self.net, optimizer=torch.optim.AdamW(self.net.parameters(), lr=self.config.lr),
                           criterion=torch.nn.CrossEntropyLoss(), train_mb_size=ctx.batch_size,
                           train_epochs=ctx.epochs, eval_mb_size=ctx.eval_batch_size, device=ctx.device,
                           plugins=[Schedule()], evaluator=EvaluationPlugin(loggers=[]),
                           **arguments(self.config))
        self.pending = None
        self._loader = self._prepared = None

    def _experience(self, phase: Phase):
        if len(phase.tasks) == 1:
            exp = self.benchmark.train_stream[phase.task.index]
        else:  # several tasks in one phase (joint-like plans, --mtl-tasks): one experience of all
            from avalanche.benchmarks.scenarios import (
                benchmark_from_datasets,
                with_classes_timeline,
                with_task_labels,
            )

            datasets = [self.benchmark.train_stream[t.index].dataset for t in phase.tasks]
            exp = with_classes_timeline(with_task_labels(benchmark_from_datasets(
                train=[_concat(datasets)]))).train_stream[0]
        exp.current_experience = phase.index
        return exp

    def _prepare(self, phase: Phase) -> None:
        """Avalanche's before-training work for the phase (dataset adaptation, data loader,
        plugins); its data loader gives the phase its batches, so `batches` runs it (the runner
        asks for them before `before_task`)."""
        avl = self.avl
        avl.is_training, avl._stop_training = True, False
        avl.experience = self._experience(phase)
        # Avalanche's own optimiser bookkeeping (`make_optimizer`) wants one parameter group; it
        # gets a fresh one to adapt, and cmtbench's optimiser replaces it below
        avl.optimizer = torch.optim.AdamW(self.net.parameters(), lr=self.config.lr)
        avl.optimized_param_id = None
        avl._before_training()
        avl._before_training_exp()
        if avl.model is not self.net:  # GDumb restarts from a copy of the initial model
            self._adopt(avl.model)
            avl.model = self.net
        self._loader, self._prepared = avl.dataloader, phase

    def before_task(self, phase: Phase) -> None:
        if self._prepared is not phase:  # resume_phase: no batches were asked for
            self._prepare(phase)
        self.configure_optimizer(phase)  # cmtbench's AdamW + schedule over this phase's batches
        self.avl.optimizer = self.optimizer

    def _adopt(self, copy: torch.nn.Module) -> None:
        """Load a model copy Avalanche made (GDumb's initial model) into the runner's model in
        place (tensor identity is what parameter accounting counts); heads the copy lacks start
        from their fresh initial weights."""
        theirs = dict(copy.named_parameters())
        with torch.no_grad():
            for name, p in self.net.named_parameters():
                if name in theirs:
                    p.copy_(theirs[name])
            for index, spec in self.model.specs.items():
                key = spec.space if self.model.shared_output else spec.name
                if f"net.heads.{key}.1.weight" not in theirs:
                    fresh = make_head(self.model.hidden_size, spec, head_init_generator(self.ctx.seed, index),
                                      self.model.head_dropout)
                    for p, q in zip(self.model.heads[key].parameters(), fresh.parameters()):
                        p.copy_(q)

    def batches(self, phase: Phase) -> _Batches:
        self._prepare(phase)
        return _Batches(self, self._loader, self.ctx.epochs, self.ctx.steps)

    def train_step(self, batch: Batch) -> float:
        avl = self.avl
        self.model.train()
        avl.dataloader = [self.pending]  # one iteration of Avalanche's own training_epoch
        try:
            with self.ctx.autocast():
                avl.training_epoch()
        finally:
            avl.dataloader = self._loader
        return float(avl.loss.detach())

    def after_task(self, phase: Phase) -> None:
        avl = self.avl
        avl._after_training_exp()
        avl._after_training()
        avl._train_cleanup()
        avl.is_training = False
        self._loader = self.pending = self._prepared = None

    def make_optimizer(self, groups: list[dict[str, Any]]) -> torch.optim.Optimizer:
        return torch.optim.AdamW(groups, lr=self.config.lr)

    # -- what it keeps ---------------------------------------------------------------------------
    def state_size(self) -> StateSize:
        """Floats, examples and tokens held by Avalanche's plugins and strategy (importances,
        anchors, teacher and initial-model copies, buffers), not counting the live model."""
        live = {id(p) for p in self.net.parameters()}
        size = StateSize()
        transient = {"model", "optimizer", "dataloader", "adapted_dataset", "experience", "mbatch",
                     "mb_output", "loss", "plugins", "evaluator", "clock", "_criterion", "_eval_streams",
                     "current_eval_stream", "optimized_param_id", "_last_model_params_dict"}
        roots = [v for k, v in vars(self.avl).items() if k not in transient]
        roots += [p for p in self.avl.plugins if type(p).__name__ not in ("EvaluationPlugin", "Clock",
                                                                           "PeriodicEval", "Schedule")]
        _measure(roots, live, set(), size, self.net)
        return size

    def state_dict(self) -> dict[str, Any]:
        return {"avalanche_state_": SPECS[self.avalanche_name][3]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("avalanche_state_", True):
            raise UsageError(f"cannot resume avalanche:{self.avalanche_name}: its state lives in Avalanche's "
                             "plugins, which cmtbench does not checkpoint (it never pickles); delete the "
                             "run JSON to start the run again")


def _concat(datasets):
    data = datasets[0]
    for other in datasets[1:]:
        data = data.concat(other)
    return data


def _measure(obj: Any, live: set[int], seen: set[int], size: StateSize, net: torch.nn.Module, depth: int = 0) -> None:
    """Add the floats, examples and tokens inside `obj` to `size` (each object once)."""
    if id(obj) in seen or depth > 8 or obj is None or isinstance(obj, (str, bytes, int, float, bool)):
        return
    seen.add(id(obj))
    if isinstance(obj, torch.Tensor):
        if obj.is_floating_point() and id(obj) not in live:
            size.floats += obj.numel()
        elif obj.dtype == torch.long and obj.ndim == 3 and obj.shape[1] == 4:  # stored inputs (GEM)
            size.examples += obj.shape[0]
            size.tokens += int(obj[:, 1].sum())
        return
    if isinstance(obj, torch.nn.Module):
        if obj is not net and obj is not net.net:
            size.floats += sum(p.numel() for p in obj.parameters() if id(p) not in live and p.is_floating_point())
            size.floats += sum(b.numel() for b in obj.buffers() if b.is_floating_point())
        return
    if type(obj).__module__.startswith("avalanche.benchmarks.utils") and hasattr(obj, "_flat_data"):
        size.examples += len(obj)  # an Avalanche dataset: a buffer of examples
        size.tokens += sum(int(obj[i][0].shape[1]) for i in range(len(obj)))
        return
    if isinstance(obj, dict):
        items = list(obj.values())
    elif isinstance(obj, (list, tuple, set, frozenset)):
        items = list(obj)
    elif hasattr(obj, "__dict__") and type(obj).__module__.startswith(("avalanche", __name__)):
        items = list(vars(obj).values())
    else:
        return
    for item in items:
        _measure(item, live, seen, size, net, depth + 1)
