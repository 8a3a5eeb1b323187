"""The runner end to end on the synthetic stream: R, learning, accounting, determinism, resume."""

import json
import os
import resource

import numpy as np
import pytest
from conftest import interrupt_in_phase

from benchmark.errors import UsageError
from benchmark.results import read_run
from benchmark.runner import Runner, run
from benchmark.tasks import TASKS
from strategies.finetune import Finetune


def test_finetune_learns_and_records_everything(make_config):
    record = run(make_config())
    R = record["R"]
    assert record["status"] == "complete" and len(R) == 3
    assert [row[j] is None for row in R for j in range(3)] == [
        False, True, True, False, False, True, False, False, False]
    assert R[0][0] > 0.8  # syn_red is learnable: far above its majority rate (checked below)
    labels = [json.loads(x)["label"] for x in open(TASKS.get("syn_red").data_files["test"])]
    assert 0.35 < sum(labels) / len(labels) < 0.65
    assert R[2][2] > 0.5  # syn_count: Pearson/Spearman of the regression
    assert record["metrics"]["final_average"] == pytest.approx(sum(R[2]) / 3)
    ph = record["phases"]
    for p in ph:
        assert p["steps"] == 2 * 25  # 400 examples / batch 16 -> 25 batches, 2 epochs
        assert p["examples_seen"] == 800
        assert p["patch_params"] == 0 and p["state_floats"] == 0 and p["memory_examples"] == 0
    hidden = 32
    assert [p["head_params"] for p in ph] == [2 * hidden + 2, 2 * hidden + 2, hidden + 1]
    # finetune trains the whole backbone plus the current head (not the earlier heads)
    backbone = record["run"]["backbone_params"]
    assert ph[0]["trainable_params"] == backbone + ph[0]["head_params"]
    assert ph[2]["trainable_params"] == backbone + ph[2]["head_params"]
    assert record["cost"]["params_added"] == sum(p["head_params"] for p in ph)
    # the file on disk is the record
    assert read_run(Runner(make_config(resume=True)).path) == json.loads(json.dumps(record))


def test_same_seed_same_R_and_another_seed_differs(make_config, tmp_path):
    a = run(make_config(output_dir=str(tmp_path / "a")))
    b = run(make_config(output_dir=str(tmp_path / "b")))
    c = run(make_config(output_dir=str(tmp_path / "c"), seed=1))
    assert a["R"] == b["R"]
    assert a["R"] != c["R"]
    assert a["run_id"] == b["run_id"] != c["run_id"]


def test_joint_has_one_row_and_beats_finetune_here(make_config):
    joint = run(make_config(strategy="joint"))
    fine = run(make_config())
    assert len(joint["R"]) == 1 and joint["plan"] == [[0, 1, 2]]
    assert joint["metrics"]["forgetting"] is None
    assert joint["phases"][0]["examples_seen"] == 2400
    assert joint["metrics"]["final_average"] >= fine["metrics"]["final_average"] - 0.02


def test_forward_transfer_scores_unseen_tasks(make_config):
    record = run(make_config(fwt=True))
    assert len(record["b"]) == 3 and all(v is not None for v in record["b"])
    assert all(v is not None for row in record["R"] for v in row)
    assert record["metrics"]["fwt"] is not None
    # the unseen-task heads are temporary: only trained tasks keep parameters
    assert record["cost"]["head_params"] == 2 * (2 * 32 + 2) + 33


def test_resume_after_an_interruption_gives_the_same_R(make_config, tmp_path, monkeypatch):
    full = run(make_config(output_dir=str(tmp_path / "full")))
    cfg = make_config(output_dir=str(tmp_path / "cut"))
    original = interrupt_in_phase(monkeypatch, Finetune)
    with pytest.raises(KeyboardInterrupt):
        run(cfg)
    runner = Runner(cfg)
    partial = read_run(runner.path)
    assert partial["status"] == "interrupted" and len(partial["R"]) == 1
    assert partial["R"][0] == full["R"][0]
    monkeypatch.setattr(Finetune, "after_task", original)
    with pytest.raises(UsageError, match="add --resume"):
        run(cfg)
    resumed = run(make_config(output_dir=str(tmp_path / "cut"), resume=True))
    assert resumed["status"] == "complete"
    assert resumed["R"] == full["R"]
    assert not runner.ckpt_path.exists()  # removed once complete


def test_a_run_does_not_resume_under_other_library_versions(make_config, tmp_path, monkeypatch):
    """A record keeps one set of versions: phases computed with one transformers and the rest with
    another would be labelled as the first."""
    from benchmark import results

    cfg = make_config(output_dir=str(tmp_path / "cut"))
    original = interrupt_in_phase(monkeypatch, Finetune)
    with pytest.raises(KeyboardInterrupt):
        run(cfg)
    monkeypatch.setattr(Finetune, "after_task", original)
    real = results.package_versions
    monkeypatch.setattr(results, "package_versions", lambda: real() | {"transformers": "0.0.1"})
    resume = make_config(output_dir=str(tmp_path / "cut"), resume=True)
    with pytest.raises(UsageError, match=r"other library versions \(transformers .* -> 0\.0\.1\)"):
        run(resume)
    assert read_run(Runner(cfg).path)["status"] == "interrupted"  # the finished phases are kept
    monkeypatch.setattr(results, "package_versions", real)
    assert run(resume)["status"] == "complete"


def test_a_run_stopped_before_its_first_phase_ends_starts_afresh_with_this_process_versions(
        make_config, tmp_path, monkeypatch):
    from benchmark import results

    cfg = make_config(output_dir=str(tmp_path / "cut"))
    original = interrupt_in_phase(monkeypatch, Finetune, index=0)
    with pytest.raises(KeyboardInterrupt):
        run(cfg)
    assert read_run(Runner(cfg).path)["phases"] == []
    monkeypatch.setattr(Finetune, "after_task", original)
    real = results.package_versions
    monkeypatch.setattr(results, "package_versions", lambda: real() | {"transformers": "0.0.1"})
    record = run(make_config(output_dir=str(tmp_path / "cut"), resume=True))
    assert record["status"] == "complete" and record["run"]["versions"]["transformers"] == "0.0.1"


def test_the_record_names_the_cpu_and_the_kernels_torch_chose(make_config):
    """Floats differ in their last bits between CPUs and instruction sets: a record says which."""
    import torch

    host = run(make_config())["run"]["host"]
    assert host["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert host["cpu"] is None or (isinstance(host["cpu"], str) and host["cpu"])


def test_a_failed_run_keeps_finished_phases(make_config, monkeypatch):
    cfg = make_config()

    def boom(self, phase):
        if phase.index == 2:
            raise RuntimeError("disk on fire")

    monkeypatch.setattr(Finetune, "after_task", boom)
    with pytest.raises(RuntimeError):
        run(cfg)
    record = read_run(Runner(cfg).path)
    assert record["status"] == "failed" and "disk on fire" in record["error"]
    assert len(record["R"]) == 2 and record["metrics"]["final_average"] is not None


def test_complete_run_is_not_overwritten(make_config):
    first = run(make_config())
    with pytest.raises(UsageError, match="finished run with this configuration exists"):
        run(make_config())
    assert run(make_config(resume=True)) == first


def test_bf16_autocast_runs(make_config):
    record = run(make_config(precision="bf16", tasks=["syn_red"], epochs=1))
    assert record["status"] == "complete" and 0 <= record["R"][0][0] <= 1


def test_the_runner_sets_train_mode_and_gives_before_task_the_step_count(make_config, monkeypatch):
    """The contract (docs/adding-a-strategy.md): every step runs in train mode, whatever the
    strategy did in between, and before_task knows how many steps its phase trains."""
    modes, steps = [], []
    step, before = Finetune.train_step, Finetune.before_task

    def train_step(self, batch):
        modes.append(self.model.training)
        loss = step(self, batch)
        self.model.eval()  # e.g. a strategy scoring its memory between steps
        return loss

    def before_task(self, phase):
        steps.append(phase.steps)
        before(self, phase)

    monkeypatch.setattr(Finetune, "train_step", train_step)
    monkeypatch.setattr(Finetune, "before_task", before_task)
    record = run(make_config(tasks=["syn_red", "syn_blue"], epochs=1, max_train=64, max_eval=32))
    assert modes and all(modes)
    assert steps == [p["steps"] for p in record["phases"]] == [4, 4]


def test_kept_state_is_declared_and_a_modules_floats_count():
    import warnings

    import torch

    from benchmark.api import count_floats
    from strategies.base import BaseStrategy

    class Legacy(BaseStrategy):
        kept = ("declared",)

    strategy = Legacy()
    strategy.declared, strategy.old_ = torch.zeros(3), torch.zeros(2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        state = strategy.state_dict()
    assert set(state) == {"declared", "old_"}  # the old convention still saved, and named in a warning
    assert any("kept = ('old_',)" in str(w.message) for w in caught)
    assert count_floats({"teacher": torch.nn.Linear(3, 2)}) == 3 * 2 + 2


@pytest.mark.skipif(not os.access("/proc/self/clear_refs", os.W_OK), reason="Linux: the peak RSS can be reset")
def test_a_run_records_its_own_peak_not_an_earlier_one_of_the_process(make_config):
    # a sweep worker runs one run after another: an earlier, larger peak must not be recorded
    big = np.ones(800 * 2**20 // 8)  # touched: 800 MiB resident, then freed (mmapped: returned)
    del big
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    record = run(make_config())
    assert record["cost"]["peak_rss_mb"] < before - 400
