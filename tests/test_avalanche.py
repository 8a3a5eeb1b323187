"""Avalanche interop (the `avalanche` extra): a cmtbench stream as an Avalanche benchmark, every
`avalanche:<Name>` strategy under cmtbench's runner, and cmtbench's metrics against Avalanche's
own on the same R. Skipped when avalanche-lib is not installed."""

import math

import numpy as np
import pytest
import torch
from conftest import interrupt_in_phase

pytest.importorskip("avalanche")

from benchmark import metrics  # noqa: E402
from benchmark.api import STRATEGIES  # noqa: E402
from benchmark.errors import UsageError  # noqa: E402
from benchmark.interop import AVALANCHE_STRATEGIES  # noqa: E402
from benchmark.runner import Runner, run  # noqa: E402

pytestmark = pytest.mark.usefixtures("cached_loading")
MEMORY = {"GEM", "AGEM", "Replay", "GDumb", "Cumulative"}  # keep examples between tasks
PENALTY = {"EWC", "SI", "MAS", "LwF"}  # keep floats (importances, anchors, a teacher)


@pytest.fixture
def two_tasks(make_small_config):
    def make(name: str, **kw):
        return make_small_config(strategy=f"avalanche:{name}", tasks=["small_red", "small_blue"], **kw)

    return make


@pytest.mark.parametrize("name", sorted(AVALANCHE_STRATEGIES))
def test_every_avalanche_strategy_runs_under_the_runner(name, two_tasks):
    record = run(two_tasks(name))
    assert record["status"] == "complete" and len(record["R"]) == 2
    assert all(math.isfinite(v) for row in record["R"] for v in row if v is not None)
    last = record["phases"][-1]
    for key in ("head_params", "trainable_params", "state_floats", "memory_examples", "memory_tokens"):
        assert isinstance(last[key], int) and last[key] >= 0
    assert last["head_params"] > 0 and last["patch_params"] == 0  # the runner's model, its heads
    assert (last["memory_examples"] > 0) == (name in MEMORY)
    if name in PENALTY:
        assert last["state_floats"] >= record["cost"]["backbone_params"]
    assert record["run_id"].startswith(f"avalanche-{name}_")  # no ":" in file names


def test_the_benchmark_has_task_labels_and_pads_each_batch_to_its_longest_text(tiny_model, small_tasks):
    from transformers import AutoTokenizer

    from benchmark import data
    from benchmark.interop.avalanche import as_avalanche_benchmark
    from benchmark.tasks import TASKS

    tok = AutoTokenizer.from_pretrained(tiny_model)
    tasks = [data.prepare_task(TASKS.get(n), i, tok, None, None, None, 0, 32)
             for i, n in enumerate(["small_red", "small_blue"])]
    bm = as_avalanche_benchmark(tasks, "task-incremental", pad_id=tok.pad_token_id)
    assert [e.task_label for e in bm.train_stream] == [0, 1] == [e.task_label for e in bm.test_stream]
    exp = bm.train_stream[1]
    assert len(exp.dataset) == len(tasks[1].train) and set(exp.classes_in_this_experience) == {0, 1}
    idx = [0, 1, 2, 3]
    x, y, t = exp.dataset.collate_fn([exp.dataset[i] for i in idx])
    lengths = [len(tasks[1].train.input_ids[i]) for i in idx]
    assert x.shape == (4, 4, max(lengths)) and x[:, 1].sum(1).tolist() == lengths
    assert x[0, 0, : lengths[0]].tolist() == tasks[1].train.input_ids[0] and t.tolist() == [1] * 4
    assert y.tolist() == tasks[1].train.labels[idx].astype(int).tolist()
    # class-incremental: no task id, classes in one shared output, a block per label space
    shared = as_avalanche_benchmark(tasks, "class-incremental", pad_id=tok.pad_token_id)
    assert [e.task_label for e in shared.train_stream] == [0, 0]
    assert set(shared.train_stream[1].classes_in_this_experience) == {2, 3}


def test_avalanche_scores_a_model_as_cmtbench_does(tiny_model, small_tasks):
    # the same model, scored by Avalanche's evaluation loop on the test stream and by cmtbench's
    # evaluator: the same accuracy per task (the datasets, padding and head routing agree)
    from avalanche.evaluation.metrics import accuracy_metrics
    from avalanche.training.plugins import EvaluationPlugin
    from avalanche.training.supervised import Naive

    from benchmark import data
    from benchmark.context import Budget, RunContext, StreamData
    from benchmark.evaluate import evaluate
    from benchmark.interop.avalanche import as_avalanche_benchmark, avalanche_model
    from benchmark.model import MultiTaskModel, load_pretrained
    from benchmark.tasks import TASKS

    tok, encoder = load_pretrained(str(tiny_model))
    tasks = [data.prepare_task(TASKS.get(n), i, tok, None, None, None, 0, 32)
             for i, n in enumerate(["small_red", "small_blue"])]
    model = MultiTaskModel(encoder)
    for t in tasks:
        model.add_task(t.spec, t.index, seed=0)
    ctx = RunContext(0, StreamData(tasks, tok.pad_token_id, "task-incremental"),
                     Budget(epochs=1, batch_size=8, eval_batch_size=8), show_progress=False)
    ours = [evaluate(model, t, ctx, "test")["accuracy"] for t in tasks]
    net = avalanche_model(model, "task-incremental")
    evaluator = EvaluationPlugin(accuracy_metrics(experience=True), loggers=[])
    strategy = Naive(model=net, optimizer=torch.optim.SGD(net.parameters(), lr=0.0), eval_mb_size=5,
                     evaluator=evaluator, device="cpu")
    results = strategy.eval(as_avalanche_benchmark(tasks, pad_id=tok.pad_token_id).test_stream)
    theirs = [results[f"Top1_Acc_Exp/eval_phase/test_stream/Task{i:03d}/Exp{i:03d}"] for i in range(2)]
    assert ours == pytest.approx(theirs, abs=1e-9)


def test_cmtbench_metrics_equal_avalanches_on_the_same_r(make_small_config, synthetic_tasks):
    # a 3-task avalanche:Naive run; Avalanche's forgetting (avalanche.evaluation.functional) is
    # "score right after learning - score now": cmtbench's `forgetting_first_last` (= -BWT).
    # cmtbench's `forgetting` is Chaudhry et al.'s, "best earlier score - score now": never
    # smaller, larger when a task's score rose after it was learned.
    from avalanche.evaluation.functional import forgetting as avalanche_forgetting

    record = run(make_small_config(strategy="avalanche:Naive", tasks=["small_red", "small_blue", "syn_red"],
                                   epochs=2))
    R = np.array(record["R"], dtype=float)
    F = avalanche_forgetting(R)
    m = record["metrics"]
    assert m["forgetting_first_last"] == pytest.approx(F[-1, :-1].mean())
    assert m["bwt"] == pytest.approx(-F[-1, :-1].mean())
    assert m["final_average"] == pytest.approx(R[-1].mean())  # Avalanche's stream accuracy
    assert m["forgetting"] >= m["forgetting_first_last"] - 1e-12
    # the two conventions apart: task 0 rises to 0.7 after it was learned at 0.5, then falls to 0.4
    R2 = [[0.5, None, None], [0.7, 0.6, None], [0.4, 0.5, 0.8]]
    learned = [0, 1, 2]
    F2 = avalanche_forgetting(np.array(R2, dtype=float))
    assert metrics.forgetting_first_last(R2, learned) == pytest.approx(F2[-1, :-1].mean()) == pytest.approx(0.1)
    assert metrics.forgetting(R2, learned) == pytest.approx(0.2)  # Chaudhry: max(0.5, 0.7) - 0.4


def test_a_stateful_strategy_refuses_resume_and_naive_resumes(two_tasks, monkeypatch, tmp_path):
    for name in ("EWC", "Naive"):
        cls = STRATEGIES.get(f"avalanche:{name}")
        original = interrupt_in_phase(monkeypatch, cls)
        cfg = two_tasks(name, output_dir=str(tmp_path / name))
        with pytest.raises(KeyboardInterrupt):
            run(cfg)
        monkeypatch.setattr(cls, "after_task", original)
        resumed = two_tasks(name, output_dir=str(tmp_path / name), resume=True)
        if name == "EWC":
            with pytest.raises(UsageError, match="cannot resume avalanche:EWC: its state lives in Avalanche's plugins"):
                Runner(resumed).run()
        else:
            assert run(resumed)["R"] == run(two_tasks(name, output_dir=str(tmp_path / "whole")))["R"]


def test_a_regression_task_is_refused_in_one_line(make_small_config):
    with pytest.raises(UsageError, match="'small_count' is a regression task"):
        run(make_small_config(strategy="avalanche:Naive"))


def test_synaptic_intelligence_keeps_copies_and_a_nonzero_importance(two_tasks):
    """Avalanche 0.6's SI kept views of the live weights on a CPU, so its path integral summed
    zeros and its penalty was exactly 0 (benchmark/interop/avalanche.py): its anchor must be a copy,
    not the parameter's own storage, and the importance must be nonzero."""
    runner = Runner(two_tasks("SI", strategy_config={"si_lambda": "100"}))
    record = runner.run()
    (si,) = [p for p in runner.strategy.avl.plugins if type(p).__name__ == "SynapticIntelligencePlugin"]
    anchor, importance = si.ewc_data
    params = dict(runner.strategy.net.named_parameters())
    shared = [n for n in anchor if n in params and n.startswith("net.encoder.")]
    assert shared and record["status"] == "complete"
    assert all(anchor[n].data.data_ptr() != params[n].data_ptr() for n in shared)
    assert sum(float(importance[n].data.abs().sum()) for n in shared) > 0
