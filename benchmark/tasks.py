"""Task specifications (one dataset config each) and named streams (ordered task lists).

GLUE hides its test labels, so a GLUE task's test split is its validation split
(validation_matched for MNLI), as in the literature's dev-set tables. Nothing in the harness
selects models on it: there is no early stopping and no tuning inside a run.
"""

from __future__ import annotations

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
    # Tasks with the same label space share their classes when the model has one shared output
    # (class- and domain-incremental scenarios); None means the task's own classes.
    label_space: str | None = None
    # label_map[original id] = this task's id, or None to drop the row (derived tasks, e.g. polarity)
    label_map: tuple[int | None, ...] = ()

    def __post_init__(self) -> None:
        if not self.regression and len(self.label_names) < 2:
            raise ValueError(f"task {self.name!r}: a classification task needs >= 2 label names")
        if not set(self.main) <= set(self.metrics):
            raise ValueError(f"task {self.name!r}: main metrics {self.main} not in {self.metrics}")

    @property
    def num_labels(self) -> int:
        return 1 if self.regression else len(self.label_names)

    @property
    def space(self) -> str:
        return self.label_space or self.name


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


_STARS = ("1 star", "2 stars", "3 stars", "4 stars", "5 stars")
_POLARITY = dict(label_names=_BIN, label_space="polarity")
for _spec in [
    TaskSpec("agnews", dataset="fancyzhx/ag_news", mirror="ag_news", text_fields=("text",),
             label_names=("World", "Sports", "Business", "Sci/Tech"), test_split="test",
             description="AG News: news topic, 4 classes"),
    TaskSpec("yelp", dataset="Yelp/yelp_review_full", mirror="yelp_review_full", text_fields=("text",),
             label_names=_STARS, label_space="review_stars", test_split="test",
             description="Yelp reviews: 1-5 stars (shares its classes with amazon)"),
    # No canonical Hub copy of Amazon Review Full exists: the id below is a placeholder that a data
    # folder's `amazon_review_full` mirror replaces; point `dataset` elsewhere with a stream file.
    TaskSpec("amazon", dataset="amazon_review_full", mirror="amazon_review_full", text_fields=("text",),
             label_names=_STARS, label_space="review_stars", test_split="test",
             description="Amazon reviews: 1-5 stars (shares its classes with yelp)"),
    TaskSpec("dbpedia", dataset="fancyzhx/dbpedia_14", mirror="dbpedia_14",
             text_fields=("title", "content"), test_split="test",
             label_names=("Company", "EducationalInstitution", "Artist", "Athlete", "OfficeHolder",
                          "MeanOfTransportation", "Building", "NaturalPlace", "Village", "Animal",
                          "Plant", "Album", "Film", "WrittenWork"),
             description="DBpedia: Wikipedia article topic, 14 classes"),
    TaskSpec("yahoo", dataset="community-datasets/yahoo_answers_topics", mirror="yahoo_answers_topics",
             text_fields=("question_title", "question_content", "best_answer"), label_field="topic",
             test_split="test",
             label_names=("Society & Culture", "Science & Mathematics", "Health", "Education & Reference",
                          "Computers & Internet", "Sports", "Business & Finance", "Entertainment & Music",
                          "Family & Relationships", "Politics & Government"),
             description="Yahoo Answers: question topic, 10 classes"),
    TaskSpec("imdb", dataset="stanfordnlp/imdb", mirror="imdb", text_fields=("text",), test_split="test",
             description="IMDB movie reviews: polarity", **_POLARITY),
    # Star ratings as polarity for the domain-incremental sentiment stream: 1-2 stars negative,
    # 4-5 positive, 3 stars dropped (the usual binarisation, e.g. Zhang et al. 2015's polarity sets).
    TaskSpec("yelp_polarity", dataset="Yelp/yelp_review_full", mirror="yelp_review_full",
             text_fields=("text",), test_split="test", label_map=(0, 0, None, 1, 1),
             description="Yelp reviews as polarity (1-2 vs 4-5 stars)", **_POLARITY),
    TaskSpec("amazon_polarity", dataset="amazon_review_full", mirror="amazon_review_full",
             text_fields=("text",), test_split="test", label_map=(0, 0, None, 1, 1),
             description="Amazon reviews as polarity (1-2 vs 4-5 stars)", **_POLARITY),
    TaskSpec("sst2_polarity", dataset="nyu-mll/glue", mirror="glue", config="sst2",
             description="SST-2 in the shared polarity label space", **_POLARITY),
]:
    TASKS.add(_spec.name, _spec)


# SuperGLUE (Wang et al. 2019), as the 15-task long-sequence benchmark uses it. Its test labels are
# hidden, so, as for GLUE, the test split is the validation split. Metrics are SuperGLUE's: CB is
# scored by accuracy and macro-F1, MultiRC by F1 over all answer options (F1a; its exact match
# per question needs question ids that a classification example does not keep). MultiRC and
# every task also report accuracy, which is what the continual-learning papers average.
_SUPERGLUE = dict(dataset="aps/super_glue", mirror="super_glue")
_YESNO = ("False", "True")
for _spec in [
    TaskSpec("boolq", config="boolq", text_fields=("question",), pair_fields=("passage",),
             label_names=_YESNO, description="BoolQ: yes/no question about a passage", **_SUPERGLUE),
    TaskSpec("cb", config="cb", text_fields=("premise",), pair_fields=("hypothesis",),
             label_names=("entailment", "contradiction", "neutral"), metrics=("accuracy", "f1_macro"),
             main=("accuracy", "f1_macro"), description="CommitmentBank: 3-way entailment, tiny",
             **_SUPERGLUE),
    # COPA as one classification of (premise, cause/effect) against both alternatives: label 0
    # picks choice1, 1 choice2
    TaskSpec("copa", config="copa", text_fields=("premise", "question"), pair_fields=("choice1", "choice2"),
             label_names=("choice1", "choice2"), description="COPA: the more plausible cause or effect",
             **_SUPERGLUE),
    TaskSpec("wic", config="wic", text_fields=("word", "sentence1"), pair_fields=("sentence2",),
             label_names=_YESNO, description="WiC: is the word used in the same sense in both sentences",
             **_SUPERGLUE),
    TaskSpec("multirc", config="multirc", text_fields=("question", "answer"), pair_fields=("paragraph",),
             label_names=_YESNO, metrics=("f1", "accuracy"), main=("f1",),
             description="MultiRC: is the answer option true of the paragraph", **_SUPERGLUE),
]:
    TASKS.add(_spec.name, _spec)


@dataclass(frozen=True)
class Stream:
    """An ordered list of tasks, with named alternative orders and default per-task caps."""

    name: str
    tasks: tuple[str, ...]
    scenario: str = "task-incremental"  # the default; `scenarios` lists all it supports
    scenarios: tuple[str, ...] = ("task-incremental",)
    orders: dict[str, tuple[str, ...]] = field(default_factory=dict)
    max_train: int | None = None  # default caps; the CLI's --max-train/--max-eval override them
    max_eval: int | None = None
    max_train_by_task: dict[str, int] = field(default_factory=dict)  # per-task caps over the defaults
    max_eval_by_task: dict[str, int] = field(default_factory=dict)
    description: str = ""
    # The caps are the sizes a published protocol uses (rows per task for train and test): a data
    # source with fewer rows, or without a split, is a shortfall, and a run stops with one line
    # naming all of them unless it asks for --partial-data (benchmark/availability.py).
    fixed_sizes: bool = False

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


# Rows per task (train, test) of the literature's streams, from O-LoRA's released data
# (cmnfriend/O-LoRA, CL_Benchmark/*/*/{train,test}.json) and run logs (logs_and_outputs/):
# train = 1,000 x the number of classes drawn at random (CB and COPA whole), test = 7,600 drawn
# from the evaluation split or all of it when smaller. docs/data.md gives the file behind each.
LIT_SIZES: dict[str, tuple[int, int]] = {
    "agnews": (4000, 7600), "amazon": (5000, 7600), "yelp": (5000, 7600), "dbpedia": (14000, 7600),
    "yahoo": (10000, 7600), "mnli": (3000, 7600), "qqp": (2000, 7600), "rte": (2000, 277),
    "sst2": (2000, 872), "imdb": (2000, 7600), "boolq": (2000, 3270), "cb": (250, 56),
    "copa": (400, 100), "wic": (2000, 638), "multirc": (2000, 4848),
}
# Task orders 1-3 of the standard benchmark (cmnfriend/O-LoRA scripts/order_{1,2,3}.sh) and 4-6
# of the long one (Razdaibiedina et al. 2023, appendix; order 6 is O-LoRA's scripts/long.sh).
STANDARD_CL_ORDERS: dict[str, tuple[str, ...]] = {
    "1": ("dbpedia", "amazon", "yahoo", "agnews"),
    "2": ("dbpedia", "amazon", "agnews", "yahoo"),
    "3": ("yahoo", "amazon", "agnews", "dbpedia"),
}
LONG_ORDERS: dict[str, tuple[str, ...]] = {
    "4": ("mnli", "cb", "wic", "copa", "qqp", "boolq", "rte", "imdb", "yelp", "amazon", "sst2",
          "dbpedia", "agnews", "multirc", "yahoo"),
    "5": ("multirc", "boolq", "wic", "mnli", "cb", "copa", "qqp", "rte", "imdb", "sst2", "dbpedia",
          "agnews", "yelp", "amazon", "yahoo"),
    "6": ("yelp", "amazon", "mnli", "cb", "copa", "qqp", "rte", "imdb", "sst2", "dbpedia", "agnews",
          "yahoo", "multirc", "boolq", "wic"),
}

STREAMS: Registry[Stream] = Registry("stream")
for _stream in [
    Stream("glue", ("cola", "sst2", "mrpc", "qqp", "stsb", "mnli", "qnli", "rte"),
           description="all eight GLUE tasks in the benchmark's order (hours on a CPU; cap it)"),
    # The default: four tasks that single-task fine-tuning of MiniLM learns at these caps (at least
    # 10 validation points above the majority class in each of 3 seeds; docs/default-stream.md),
    # alternating sentiment and topic so that related tasks are apart. Embedded in the package.
    Stream("mixed4", ("sst2", "agnews", "yelp", "dbpedia"), max_train=1000, max_eval=500,
           description="SST-2, AG News, Yelp stars, DBpedia: 1,000 train / 500 test each, all learned; "
                       "embedded, runs offline"),
    Stream("glue-small", ("sst2", "mrpc", "stsb", "rte"), max_train=1000, max_eval=500,
           description="four GLUE tasks, 1,000 train / 500 test examples each; MRPC and RTE are not "
                       "learned at these caps (docs/default-stream.md)"),
    # The five-dataset stream of d'Autume et al. (2019), with its four task orders (also used by
    # LAMOL and IDBR): 33 classes, yelp and amazon sharing their five.
    Stream("text5", ("yelp", "agnews", "dbpedia", "amazon", "yahoo"), scenario="class-incremental",
           scenarios=("class-incremental", "task-incremental"), max_train=1000, max_eval=500,
           orders={
               "1": ("yelp", "agnews", "dbpedia", "amazon", "yahoo"),
               "2": ("dbpedia", "yahoo", "agnews", "amazon", "yelp"),
               "3": ("yelp", "yahoo", "amazon", "dbpedia", "agnews"),
               "4": ("agnews", "yelp", "amazon", "yahoo", "dbpedia"),
           },
           description="AG News, Yelp, Amazon, DBpedia, Yahoo (d'Autume et al. 2019); --order 1..4"),
    # The two streams the text continual-learning literature compares on since Progressive
    # Prompts (Razdaibiedina et al. 2023) and O-LoRA (Wang et al. 2023), with the sizes of
    # O-LoRA's released data (CL_Benchmark/): 1,000 training examples per class drawn at random,
    # all of CB and COPA; test 7,600 examples per task or the whole evaluation split when smaller.
    # docs/data.md gives the source of every number.
    # Also class-incremental (33 classes in one output, no task id at test): the papers' T5 keeps
    # the task's instruction but shares its output vocabulary across tasks, which sits between the
    # two scenarios; per-task heads (task-incremental) protect old tasks more than it does.
    Stream("standard-cl", STANDARD_CL_ORDERS["1"], orders=STANDARD_CL_ORDERS, fixed_sizes=True,
           scenarios=("task-incremental", "class-incremental"),
           max_train_by_task={t: LIT_SIZES[t][0] for t in STANDARD_CL_ORDERS["1"]},
           max_eval_by_task={t: LIT_SIZES[t][1] for t in STANDARD_CL_ORDERS["1"]},
           description="the 4-task standard CL benchmark: DBpedia, Amazon, Yahoo, AG News; "
                       "--order 1..3 (Razdaibiedina et al. 2023; Wang et al. 2023)"),
    Stream("long-15", LONG_ORDERS["4"], orders=LONG_ORDERS, fixed_sizes=True,
           max_train_by_task={t: LIT_SIZES[t][0] for t in LONG_ORDERS["4"]},
           max_eval_by_task={t: LIT_SIZES[t][1] for t in LONG_ORDERS["4"]},
           description="the 15-task long-sequence benchmark (GLUE, SuperGLUE, IMDB and the "
                       "text-classification sets); --order 4..6 (Razdaibiedina et al. 2023)"),
    Stream("sentiment", ("imdb", "yelp_polarity", "amazon_polarity", "sst2_polarity"),
           scenario="domain-incremental", scenarios=("domain-incremental", "task-incremental"),
           max_train=1000, max_eval=500,
           description="polarity across domains: movies (long), restaurants, products, movies (short)"),
]:
    STREAMS.add(_stream.name, _stream)


# The stream `run` uses when none is named; its capped data ships inside the package
# (benchmark/snapshot.py), so it runs on a fresh machine with no network and no data folder.
DEFAULT_STREAM = "mixed4"


def resolve_tasks(names: list[str] | tuple[str, ...]) -> list[TaskSpec]:
    """TaskSpecs for task names, with a clear error for unknown or repeated names."""
    if not names:
        raise UsageError("no tasks given; name some with --tasks a,b,c or pick a --stream")
    seen = [n for i, n in enumerate(names) if n in names[:i]]
    if seen:
        raise UsageError(f"task {seen[0]!r} appears twice in the task list; name each task once")
    return [TASKS.get(n) for n in names]
