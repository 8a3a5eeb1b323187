"""Task specifications (one dataset config each) and named streams (ordered task lists).

GLUE hides its test labels, so a GLUE task's test split is its validation split
(validation_matched for MNLI), as in the literature's dev-set tables. Nothing in the harness
selects models on it: there is no early stopping and no tuning inside a run.
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass, field

from benchmark.errors import UsageError
from benchmark.registry import Registry

SCENARIOS = ("task-incremental", "class-incremental", "domain-incremental")


@dataclass(frozen=True)
class TaskSpec:
    """One dataset config as a task: where it lives, which columns hold text and label, how it is scored."""

    name: str
    dataset: str  # Hub id ("nyu-mll/glue"), or a loader name ("parquet", "csv", "json") with data_files
    config: str | None = None
    mirror: str | None = None  # folder under a data dir that mirrors `dataset` ("glue")
    text_fields: tuple[str, ...] = ("sentence",)  # joined with a space into the first segment
    pair_fields: tuple[str, ...] = ()  # joined into the second segment (sentence-pair tasks)
    label_field: str = "label"
    label_names: tuple[str, ...] = ()  # empty for regression
    regression: bool = False
    train_split: str = "train"
    test_split: str = "validation"
    metrics: tuple[str, ...] = ("accuracy",)
    main: tuple[str, ...] = ("accuracy",)  # `score` is the mean of these metrics
    data_files: dict[str, str] | None = field(default=None, compare=False)
    description: str = ""

    def __post_init__(self) -> None:
        if not self.regression and len(self.label_names) < 2:
            raise ValueError(f"task {self.name!r}: a classification task needs >= 2 label names")
        if not set(self.main) <= set(self.metrics):
            raise ValueError(f"task {self.name!r}: main metrics {self.main} not in {self.metrics}")

    @property
    def num_labels(self) -> int:
        return 1 if self.regression else len(self.label_names)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


TASKS: Registry[TaskSpec] = Registry("task")
_GLUE = dict(dataset="nyu-mll/glue", mirror="glue")
_BIN = ("negative", "positive")

for _spec in [
    TaskSpec("cola", config="cola", label_names=("unacceptable", "acceptable"),
             metrics=("mcc", "accuracy"), main=("mcc",),
             description="CoLA: grammatical acceptability (Matthews correlation)", **_GLUE),
    TaskSpec("sst2", config="sst2", label_names=_BIN,
             description="SST-2: movie-review sentiment", **_GLUE),
    TaskSpec("mrpc", config="mrpc", text_fields=("sentence1",), pair_fields=("sentence2",),
             label_names=("not_equivalent", "equivalent"), metrics=("f1", "accuracy"),
             main=("f1", "accuracy"), description="MRPC: paraphrase detection", **_GLUE),
    TaskSpec("qqp", config="qqp", text_fields=("question1",), pair_fields=("question2",),
             label_names=("not_duplicate", "duplicate"), metrics=("f1", "accuracy"),
             main=("f1", "accuracy"), description="QQP: duplicate questions", **_GLUE),
    TaskSpec("stsb", config="stsb", text_fields=("sentence1",), pair_fields=("sentence2",),
             regression=True, metrics=("pearson", "spearman"), main=("pearson", "spearman"),
             description="STS-B: semantic similarity, regression on 0-5", **_GLUE),
    TaskSpec("mnli", config="mnli", text_fields=("premise",), pair_fields=("hypothesis",),
             label_names=("entailment", "neutral", "contradiction"),
             test_split="validation_matched", description="MNLI: 3-way entailment", **_GLUE),
    TaskSpec("qnli", config="qnli", text_fields=("question",), pair_fields=("sentence",),
             label_names=("entailment", "not_entailment"),
             description="QNLI: does the sentence answer the question", **_GLUE),
    TaskSpec("rte", config="rte", text_fields=("sentence1",), pair_fields=("sentence2",),
             label_names=("entailment", "not_entailment"),
             description="RTE: textual entailment, small", **_GLUE),
]:
    TASKS.add(_spec.name, _spec)


@dataclass(frozen=True)
class Stream:
    """An ordered list of tasks, with named alternative orders and default per-task caps."""

    name: str
    tasks: tuple[str, ...]
    scenario: str = "task-incremental"
    orders: dict[str, tuple[str, ...]] = field(default_factory=dict)
    max_train: int | None = None  # default caps; the CLI's --max-train/--max-eval override them
    max_eval: int | None = None
    description: str = ""

    def ordered(self, order: str, seed: int) -> tuple[tuple[str, ...], str]:
        """The task order for `order` ("default", "random" or a named order) and its label."""
        if order == "default":
            return self.tasks, "default"
        if order == "random":
            tasks = list(self.tasks)
            random.Random(seed).shuffle(tasks)
            return tuple(tasks), f"random-{seed}"
        if order in self.orders:
            return self.orders[order], order
        known = ", ".join(["default", "random", *self.orders])
        raise UsageError(f"stream {self.name!r} has no order {order!r}; known orders: {known}")


STREAMS: Registry[Stream] = Registry("stream")
for _stream in [
    Stream("glue", ("cola", "sst2", "mrpc", "qqp", "stsb", "mnli", "qnli", "rte"),
           description="all eight GLUE tasks in the benchmark's order (hours on a CPU; cap it)"),
    Stream("glue-small", ("sst2", "mrpc", "stsb", "rte"), max_train=1000, max_eval=500,
           description="four GLUE tasks, 1,000 train / 500 test examples each: minutes on a CPU"),
]:
    STREAMS.add(_stream.name, _stream)


def resolve_tasks(names: list[str] | tuple[str, ...]) -> list[TaskSpec]:
    """TaskSpecs for task names, with a clear error for unknown or repeated names."""
    if not names:
        raise UsageError("no tasks given; name some with --tasks a,b,c or pick a --stream")
    seen = [n for i, n in enumerate(names) if n in names[:i]]
    if seen:
        raise UsageError(f"task {seen[0]!r} appears twice in the task list; name each task once")
    return [TASKS.get(n) for n in names]
