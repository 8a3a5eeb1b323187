"""The protocol that makes a score mean something: validation held out from train, the
majority-class and single-task reference points, normalised scores, the not-learned flag, the
metric conventions side by side, and the step budget."""

import random

import numpy as np
import pytest
from conftest import registered

from benchmark import data, metrics, reference
from benchmark.evaluate import METRICS, _metric_rows, bootstrap_se, majority_score
from benchmark.runner import run
from benchmark.tasks import TASKS
from benchmark.testing import COLOURS, make_synthetic_task


# -- splits ----------------------------------------------------------------------------------
@pytest.mark.parametrize("n,cap,val", [(400, None, 500), (400, 50, 500), (400, 350, 60),
                                        (1000, 300, 200), (10, None, 5), (400, 100, 0)])
def test_validation_is_disjoint_from_train_and_sized(n, cap, val):
    train, valid = data.split_train(n, cap, val, seed=3, name="t")
    assert len(np.intersect1d(train, valid)) == 0
    assert len(valid) == min(val, n // 5)  # at most a fifth of the rows
    assert len(train) == min(cap or n, n - len(valid))
    assert len(set(train.tolist())) == len(train) and train.max(initial=0) < n and valid.max(initial=0) < n


def test_a_cap_that_leaves_room_keeps_the_train_sample_of_a_run_without_validation():
    with_val, _ = data.split_train(1000, 300, 200, seed=3, name="t")
    without, _ = data.split_train(1000, 300, 0, seed=3, name="t")
    assert with_val.tolist() == without.tolist()
    # another seed draws another (still disjoint) validation sample
    assert data.split_train(1000, 300, 200, 4, "t")[1].tolist() != data.split_train(1000, 300, 200, 3, "t")[1].tolist()


def test_prepared_task_has_three_splits_and_no_test_when_asked(synthetic_tasks, tiny_model):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model)
    spec = TASKS.get("syn_red")
    t = data.prepare_task(spec, 0, tok, None, None, None, 0, 32, val_size=500)
    assert (len(t.train), len(t.validation), len(t.test)) == (320, 80, 100)
    rows = [tuple(x) for x in t.train.input_ids]
    # the synthetic sentences repeat rarely; the split itself is checked on positions above
    assert len(set(rows)) > 300
    t = data.prepare_task(spec, 0, tok, None, None, None, 0, 32, val_size=500, load_test=False)
    assert t.test is None and len(t.validation) == 80


# -- reference points, by hand ---------------------------------------------------------------
def test_majority_score_by_hand(synthetic_tasks, tiny_model):
    from transformers import AutoTokenizer

    t = data.prepare_task(TASKS.get("syn_red"), 0, AutoTokenizer.from_pretrained(tiny_model),
                          None, None, None, 0, 32)
    train_majority = int(t.train.labels.mean() > 0.5)
    share = float(np.mean(t.test.labels == train_majority))
    assert majority_score(t, "test")["score"] == pytest.approx(share)
    count = data.prepare_task(TASKS.get("syn_count"), 0, AutoTokenizer.from_pretrained(tiny_model),
                              None, None, None, 0, 32)
    assert majority_score(count, "test")["score"] == 0.0  # a constant has no correlation


def test_normalised_scores_by_hand():
    # (0.8 - 0.5) / (0.9 - 0.5) = 0.75 ; (0.5 - 0.5) / ... = 0 ; above single-task: > 1
    assert metrics.normalised_score(0.8, 0.5, 0.9) == pytest.approx(0.75)
    assert metrics.normalised_score(0.5, 0.5, 0.9) == 0.0
    assert metrics.normalised_score(1.0, 0.5, 0.9) == pytest.approx(1.25)
    assert metrics.normalised_score(0.8, 0.5, 0.5) is None  # single-task at majority: undefined
    refs = [{"majority": {"test": 0.5}, "single_task": {"test": 0.9}},
            {"majority": {"test": 0.0}, "single_task": {"test": 0.8}},
            {"majority": {"test": 0.7}, "single_task": {"test": 0.65}},  # below majority: left out
            {"majority": {"test": 0.5}, "single_task": {"test": 0.6}, "learned": {"test": False}},
            None]
    # task 0: (0.8 - 0.5) / 0.4 = 0.75 ; task 1: 0.4 / 0.8 = 0.5 ; tasks 2-4 left out
    assert metrics.normalised_average([0.8, 0.4, 0.9, 0.55, 0.3], refs) == pytest.approx(0.625)


def test_learned_flag_needs_two_standard_errors():
    assert metrics.is_learned(0.60, 0.02, 0.55)  # 0.05 > 0.04
    assert not metrics.is_learned(0.58, 0.02, 0.55)  # 0.03 < 0.04
    assert not metrics.is_learned(0.50, 0.02, 0.55)


def test_forgetting_conventions_side_by_side():
    R = [[0.5, None, None], [0.8, 0.9, None], [0.6, 0.7, 0.9]]
    # Chaudhry: best earlier score -> (0.8 - 0.6 + 0.9 - 0.7) / 2 = 0.2
    assert metrics.forgetting(R, [0, 1, 2]) == pytest.approx(0.2)
    # first-minus-last (Avalanche): right after learning -> (0.5 - 0.6 + 0.9 - 0.7) / 2 = 0.05
    assert metrics.forgetting_first_last(R, [0, 1, 2]) == pytest.approx(0.05)
    assert metrics.forgetting_first_last(R, [0, 1, 2]) == pytest.approx(-metrics.backward_transfer(R, [0, 1, 2]))
    assert metrics.summarize(R, [0, 1, 2])["forgetting_first_last"] == pytest.approx(0.05)


def test_accuracy_only_average_skips_tasks_without_accuracy():
    Rm = [[{"accuracy": 0.9, "score": 0.9}, None],
          [{"accuracy": 0.7, "score": 0.7}, {"pearson": 0.2, "spearman": 0.4, "score": 0.3}]]
    assert metrics.metric_average(Rm, [0, 1]) == pytest.approx(0.7)
    assert metrics.metric_average(Rm[:1], [0, 1]) == pytest.approx(0.9)


@pytest.mark.parametrize("metric", ["accuracy", "f1", "f1_macro", "mcc", "pearson", "spearman"])
def test_vectorised_bootstrap_metrics_equal_the_library_ones(metric):
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, (6, 40)).astype(float)
    p = rng.integers(0, 3, (6, 40)).astype(float)
    if metric in ("pearson", "spearman"):
        p = p + rng.normal(size=p.shape)
    y[0][y[0] == 2] = 1  # a class absent from one row (macro-F1 averages over the classes present)
    p[0][p[0] == 2] = 0
    want = [METRICS[metric](y[i], p[i]) for i in range(6)]
    assert _metric_rows(metric, y, p, 3) == pytest.approx(want)


def test_bootstrap_se_of_an_accuracy_is_near_the_binomial_one():
    spec = TASKS.get("sst2")
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 1000).astype(np.float32)
    preds = np.where(rng.random(1000) < 0.8, labels, 1 - labels)  # ~80% right
    assert bootstrap_se(spec, preds, labels) == pytest.approx(np.sqrt(0.8 * 0.2 / 1000), rel=0.15)


# -- the independent strategy and the reference in runs -------------------------------------
@pytest.fixture(scope="module")
def chance_task(tmp_path_factory):
    """A task whose labels are coin flips: nothing to learn."""
    coin = random.Random(7)
    words = COLOURS + tuple(f"w{i}" for i in range(8))
    spec = make_synthetic_task(tmp_path_factory.mktemp("chance"), "coin", lambda ws: coin.randint(0, 1),
                               words=words, n_train=400, n_test=200)
    yield from registered([spec])


def test_independent_adds_one_backbone_per_task_and_matches_finetune_on_the_first(make_config, tmp_path):
    ind = run(make_config(strategy="independent", output_dir=str(tmp_path / "a")))
    ft = run(make_config(strategy="finetune", output_dir=str(tmp_path / "b")))
    backbone = ind["run"]["backbone_params"]
    for p in ind["phases"]:
        assert p["patch_params"] == backbone  # a whole copy of the encoder ...
        assert p["params_added"] == backbone + p["head_params"]  # ... plus the task's head
        assert p["trainable_params"] == backbone + p["head_params"]  # only the task's own copy trains
    assert ind["R"][0][0] == ft["R"][0][0]  # the first task sees the same model, data and seed
    assert ind["metrics"]["forgetting"] == 0.0  # nothing is shared
    # the shared encoder stays the pretrained one: later tasks do not start from earlier ones
    assert ind["R"][1][1] != ft["R"][1][1]


def test_not_learned_flag_and_normalised_scores_in_runs(make_config, chance_task, tmp_path):
    from benchmark.leaderboard import leaderboard

    cfg = dict(tasks=["syn_red", "coin"], val_size=100, output_dir=str(tmp_path / "runs"))
    before = run(make_config(strategy="finetune", **cfg))  # made before any reference exists
    assert before["metrics"]["normalised_average"] is None and before["reference"][0]["single_task"] is None
    from benchmark.results import format_summary

    assert "run --strategy independent with the same flags into the same --output-dir" in format_summary(before)
    as_ci = {**before, "run": {**before["run"], "scenario": "class-incremental"}}  # independent needs a task id
    assert "with the same flags but --scenario task-incremental into" in format_summary(as_ci)
    ind = run(make_config(strategy="independent", **cfg))
    ref = {t: r for t, r in zip(ind["tasks"], ind["reference"])}
    assert ref["syn_red"]["learned"] == {"test": True, "validation": True}
    assert ref["coin"]["learned"]["validation"] is False and ref["coin"]["learned"]["test"] is False
    assert reference.not_learned(ind) == ["coin"]
    assert ind["score_splits"] == {"R": "test", "R_val": "validation"}
    assert len(ind["R_val"]) == 2 and ind["metrics_val"]["final_average"] is not None
    # a run made after the independent one finds it in its folder and normalises against it
    ft = run(make_config(strategy="finetune", **cfg, strategy_config={"lr": "2e-3"}))
    fref = ft["reference"][0]
    assert fref["single_task_run"] == ind["run_id"]
    single, majority = fref["single_task"]["test"], fref["majority"]["test"]
    # coin is not learned, so the normalised average is syn_red's alone
    want = (ft["R"][-1][0] - majority) / (single - majority)
    assert ft["metrics"]["normalised_average"] == pytest.approx(want)
    # a class-incremental run takes the same reference: a task trained alone has no other task's
    # classes to tell apart, with a task id or without
    ci = run(make_config(strategy="finetune", scenario="class-incremental", **cfg))
    assert ci["reference"][0]["single_task_run"] == ind["run_id"] and reference.not_learned(ci) == ["coin"]
    assert ci["metrics"]["normalised_average"] == pytest.approx(
        (ci["R"][-1][0] - ci["reference"][0]["majority"]["test"]) / (single - ci["reference"][0]["majority"]["test"]))
    # the leaderboard fills the reference of the run made before, and flags coin everywhere
    board, _ = leaderboard(tmp_path / "runs")
    rows = {c: r for c, r in zip(board["config"], board.to_dict("records"))}
    assert set(board["not_learned"]) == {"coin"}
    first = rows["finetune (lr=0.003)"]
    assert first["normalised_average_mean"] == pytest.approx(
        (before["R"][-1][0] - majority) / (single - majority))
    assert rows["finetune (lr=0.002)"]["normalised_average_mean"] == pytest.approx(want)
    assert rows["independent"]["normalised_average_mean"] == pytest.approx(1.0)


def test_steps_budget_replaces_epochs(make_config):
    record = run(make_config(steps=7, tasks=["syn_red", "syn_blue"]))
    assert [p["steps"] for p in record["phases"]] == [7, 7]
    assert record["run"]["steps"] == 7


def test_steps_budget_runs_past_an_epoch(make_small_config):
    record = run(make_small_config(steps=5))  # 48 examples / batch 16 = 3 steps an epoch
    assert [p["steps"] for p in record["phases"]] == [5, 5]
    assert [p["examples_seen"] for p in record["phases"]] == [80, 80]


def test_run_ids_of_task_lists_do_not_depend_on_the_default_stream():
    from benchmark.runconfig import RunConfig
    from benchmark.runner import Runner

    # the default stream's name enters no run id of a --tasks run: caps are in it as resolved
    assert Runner(RunConfig(tasks=["sst2"])).run_id == Runner(RunConfig(stream="glue-small", tasks=["sst2"])).run_id
    # and a committed run keeps its id (results/runs/sst2-default, made when glue-small was the default)
    cfg = RunConfig(strategy="head-only", tasks=["sst2"], seed=0)
    assert Runner(cfg).run_id == "head-only_custom_minilm_s0_0b7ebd1a"
