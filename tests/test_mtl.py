"""mtl-then-add (--mtl-tasks), its summary metrics, samplers inside runs, and the task-conditioned
strategy: accounting, learning and resume on the synthetic stream."""

import pytest

from benchmark.errors import UsageError
from benchmark.metrics import first_phase_split
from benchmark.results import read_run
from benchmark.runconfig import resolve
from benchmark.runner import Runner, run
from strategies.task_conditioned import TaskConditioned

HIDDEN, LAYERS = 32, 2  # the tiny model of conftest
HEADS = {"syn_red": 2 * HIDDEN + 2, "syn_blue": 2 * HIDDEN + 2, "syn_count": HIDDEN + 1}


def test_first_phase_split_by_hand():
    learned = [0, 0, 1, 2]  # tasks 0 and 1 together, then 2, then 3
    R = [[0.80, 0.60, None, None],
         [0.70, 0.65, 0.90, None],
         [0.50, 0.60, 0.85, 0.70]]
    out = first_phase_split(R, learned)
    # task 0: max(0.80, 0.70) - 0.50 = 0.30; task 1: max(0.60, 0.65) - 0.60 = 0.05
    assert out["first_forgetting"] == pytest.approx(0.175)
    assert out["first_final_average"] == pytest.approx(0.55)
    assert out["added_final_average"] == pytest.approx((0.85 + 0.70) / 2)
    assert out["added_learning_accuracy"] == pytest.approx((0.90 + 0.70) / 2)
    # a run stopped after phase 1: task 3 is left out
    partial = first_phase_split(R[:2], learned)
    assert partial["first_forgetting"] == pytest.approx((0.10 - 0.05) / 2)
    assert partial["added_final_average"] == pytest.approx(0.90)
    only_first = first_phase_split(R[:1], learned)
    assert only_first["first_forgetting"] is None and only_first["added_final_average"] is None
    assert only_first["first_final_average"] == pytest.approx(0.70)


def test_mtl_then_add_rows_and_metrics(make_config):
    record = run(make_config(mtl_tasks=2, epochs=1))
    assert record["plan"] == [[0, 1], [2]] and record["learned_in_phase"] == [0, 0, 1]
    assert [[v is None for v in row] for row in record["R"]] == [[False, False, True], [False, False, False]]
    assert record["run"]["mtl_tasks"] == 2 and record["run"]["sampler"] == "proportional"
    m = record["metrics"]
    assert m["first_forgetting"] == pytest.approx(first_phase_split(record["R"], [0, 0, 1])["first_forgetting"])
    assert m["forgetting"] == pytest.approx(m["first_forgetting"])  # only phase-0 tasks can forget here
    assert m["added_final_average"] == pytest.approx(record["R"][1][2])
    first, added = record["phases"]
    assert first["sampler"] == "proportional" and added["sampler"] is None
    assert first["examples_by_task"] == {"syn_red": 400, "syn_blue": 400}
    assert first["data_used"]["syn_red"] == {"unique": 400, "of": 400, "share": 1.0}
    assert first["head_params"] == HEADS["syn_red"] + HEADS["syn_blue"]


def test_mtl_then_add_with_replay_replays_the_first_tasks(make_config):
    record = run(make_config(strategy="coreset-replay", mtl_tasks=2, epochs=1,
                             strategy_config={"lr": "3e-3", "budget": "20", "selector": "random"}))
    added = record["phases"][1]
    assert added["memory_examples"] == 60  # 20 per task after it
    replayed = added["examples_by_task"]
    assert replayed["syn_count"] == 400 and replayed["syn_red"] > 0 and replayed["syn_blue"] > 0
    assert added["data_used"] == {"syn_count": {"unique": 400, "of": 400, "share": 1.0}}


def test_mtl_and_sampler_are_checked_before_running(make_config):
    with pytest.raises(UsageError, match="plans its own phases"):
        resolve(make_config(strategy="joint", mtl_tasks=2))
    with pytest.raises(UsageError, match="more than the 3 tasks"):
        resolve(make_config(mtl_tasks=4))
    with pytest.raises(UsageError, match="must be >= 1"):
        make_config(mtl_tasks=0)
    with pytest.raises(UsageError, match="only acts on phases that train several tasks"):
        resolve(make_config(sampler="uniform"))
    with pytest.raises(UsageError, match="unknown setting"):
        resolve(make_config(strategy="joint", sampler="uniform", sampler_config={"temperature": "2"}))
    # the defaults keep the run ids of runs made before these options existed
    assert "sampler" not in make_config().identity() and "mtl_tasks" not in make_config().identity()
    a = resolve(make_config(strategy="joint", sampler="temperature", sampler_config={"temperature": "2"}))
    b = resolve(make_config(strategy="joint", sampler="temperature", sampler_config={"temperature": "2.0"}))
    assert a.run_id == b.run_id != resolve(make_config(strategy="joint")).run_id


def test_uncertainty_sampling_in_a_run_is_deterministic_and_recorded(make_config, tmp_path):
    def go(folder):
        return run(make_config(mtl_tasks=2, epochs=1, sampler="uncertainty", output_dir=str(tmp_path / folder)))

    a, b = go("a"), go("b")
    assert a["R"] == b["R"]
    first = a["phases"][0]
    assert first == b["phases"][0] | {k: first[k] for k in first if k.endswith(("_s", "_mb"))}
    assert first["sampler"] == "uncertainty" and first["steps"] == 50  # as many as proportional
    assert sum(first["examples_by_task"].values()) == 800
    for name, used in first["data_used"].items():
        assert used["share"] == used["unique"] / 400 and 0 < used["unique"] <= first["examples_by_task"][name]


def test_task_conditioned_accounting_and_learning(make_config):
    record = run(make_config(strategy="task-conditioned", strategy_config={"lr": "3e-3", "freeze_bottom": "false"}))
    d, m = 64, 16  # the defaults: embedding_dim, adapter_size
    film = 2 * LAYERS * (d * 2 * HIDDEN + 2 * HIDDEN)  # one FiLM map per LayerNorm
    hyper = LAYERS * d + d * 2 * m * HIDDEN + 2 * m * HIDDEN  # layer embeddings + hypernetwork
    ph = record["phases"]
    assert ph[0]["params_added_by_module"] == {
        "heads.syn_red": HEADS["syn_red"], "task_conditioner.embeddings": d, "task_conditioner.shared": film + hyper}
    for p, name in ((1, "syn_blue"), (2, "syn_count")):  # each later task adds its embedding and head only
        assert ph[p]["params_added_by_module"] == {f"heads.{name}": HEADS[name], "task_conditioner.embeddings": d}
        assert (ph[p]["head_params"], ph[p]["patch_params"]) == (HEADS[name], d)
    assert record["R"][0][0] > 0.8 and record["R"][1][1] > 0.8  # learns the colour tasks


def test_task_conditioned_freezes_the_bottom_half(make_config):
    record = run(make_config(strategy="task-conditioned", tasks=["syn_red"], epochs=1))
    backbone = record["run"]["backbone_params"]
    phase = record["phases"][0]
    # the frozen word embeddings and layer 0 get no gradient; layer 1, the generators, z and the head do
    assert phase["params_added"] < phase["trainable_params"] < backbone // 2 + phase["params_added"]


def test_task_conditioned_resumes_to_the_same_R(make_config, tmp_path, monkeypatch):
    settings = {"lr": "3e-3", "freeze_bottom": "false"}
    full = run(make_config(strategy="task-conditioned", epochs=1, strategy_config=settings,
                           output_dir=str(tmp_path / "full")))
    cfg = make_config(strategy="task-conditioned", epochs=1, strategy_config=settings, output_dir=str(tmp_path / "cut"))

    def interrupt(self, phase):
        if phase.index == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(TaskConditioned, "after_task", interrupt)
    with pytest.raises(KeyboardInterrupt):
        run(cfg)
    assert len(read_run(Runner(cfg).path)["R"]) == 1
    monkeypatch.undo()
    cfg.resume = True
    assert run(cfg)["R"] == full["R"]
