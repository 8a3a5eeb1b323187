"""The run store: checkpoints that never unpickle, one consistent commit per phase, confined
paths, no machine paths in records, finite numbers, one live process per run id."""

import json
import math
import os
import pickle

import numpy as np
import pytest
import torch
from conftest import interrupt_in_phase

from benchmark import runstore
from benchmark.__main__ import main
from benchmark.data import Examples
from benchmark.errors import UsageError
from benchmark.results import read_run
from benchmark.runner import Runner, run
from benchmark.streamfile import load_stream_file
from data_selection.memory import ReplayMemory
from strategies.finetune import Finetune


class Exploit:
    """A pickle that, if ever loaded, creates a marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def interrupted_run(make_small_config, monkeypatch, **kw):
    """A run cut short in its second phase: the first phase and its checkpoint are committed."""
    cfg = make_small_config(**kw)
    original = interrupt_in_phase(monkeypatch, Finetune)
    with pytest.raises(KeyboardInterrupt):
        run(cfg)
    monkeypatch.setattr(Finetune, "after_task", original)
    return cfg, Runner(cfg)


def cli_args(cfg, *extra):
    return ["run", "--model", cfg.model, "--tasks", ",".join(cfg.tasks), "--max-length", "32",
            "--batch-size", "16", "--lr", "3e-3", "--epochs", "1", "--max-train", "0", "--max-eval", "0", "--val-size", "0",
            "--output-dir", cfg.output_dir, "--quiet", *extra]


def one_line_exit_2(argv, capsys, message, logs=False):
    """Exit code 2 and one line on stderr (after the phase logs when `logs`), no traceback."""
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    last = err.splitlines()[-1]
    assert message in last and last.startswith("error: ") and "Traceback" not in err, err
    assert logs or err.count("\n") == 1, err
    return err


# -- checkpoints without pickle ------------------------------------------------------------------
def test_checkpoint_files_and_reference(make_small_config, monkeypatch):
    cfg, runner = interrupted_run(make_small_config, monkeypatch)
    record = read_run(runner.path)
    ref = record["checkpoint"]
    assert ref["file"] == f"checkpoints/{runner.run_id}/phase-0.json" and ref["phase"] == 0
    files = sorted(f.name for f in runner.ckpt_path.iterdir())
    assert files == ["phase-0.json", "phase-0.safetensors"]  # no temporary files left
    assert runstore.sha256(runner.ckpt_path / "phase-0.json") == ref["sha256"]
    meta = json.loads((runner.ckpt_path / "phase-0.json").read_text())
    assert meta["format"] == runstore.FORMAT and meta["phase"] == 0
    assert meta["model"]["target_stats"]  # the regression head's statistics travel too


def test_a_crafted_old_format_pickle_is_never_loaded(make_small_config, monkeypatch, tmp_path, capsys):
    cfg, runner = interrupted_run(make_small_config, monkeypatch)
    marker = tmp_path / "pwned"
    old = runner.out_dir / "checkpoints" / f"{runner.run_id}.pt"
    old.write_bytes(pickle.dumps(Exploit(marker)))
    before = runner.path.read_text()
    err = one_line_exit_2([*cli_args(cfg), "--resume"], capsys, "old-format pickle")
    assert "delete it" in err
    assert not marker.exists() and runner.path.read_text() == before


@pytest.mark.parametrize("target", ["phase-0.safetensors", "phase-0.json"])
def test_a_pickle_in_place_of_a_checkpoint_runs_no_code(make_small_config, monkeypatch, tmp_path, capsys, target):
    cfg, runner = interrupted_run(make_small_config, monkeypatch)
    marker = tmp_path / "pwned"
    payload = pickle.dumps(Exploit(marker))
    (runner.ckpt_path / target).write_bytes(payload)
    one_line_exit_2([*cli_args(cfg), "--resume"], capsys, "hash")
    assert not marker.exists()
    # an attacker who also rewrites the hashes gets no further: JSON and safetensors never unpickle
    js = runner.ckpt_path / "phase-0.json"
    if target.endswith(".safetensors"):
        meta = json.loads(js.read_text())
        meta["tensors_sha256"] = runstore.sha256(runner.ckpt_path / target)
        js.write_text(json.dumps(meta))
    record = read_run(runner.path)
    record["checkpoint"]["sha256"] = runstore.sha256(js)
    runner.path.write_text(json.dumps(record))
    one_line_exit_2([*cli_args(cfg), "--resume"], capsys, "is unreadable")
    assert not marker.exists()


def test_missing_checkpoint_is_one_line(make_small_config, monkeypatch, capsys):
    cfg, runner = interrupted_run(make_small_config, monkeypatch)
    (runner.ckpt_path / "phase-0.json").unlink()
    one_line_exit_2([*cli_args(cfg), "--resume"], capsys, "is missing")


def test_state_codec_round_trip():
    memory = ReplayMemory()
    memory.add(3, Examples([[1, 2, 3], [4]], [[0, 0, 0], [1]], np.array([1.0, 0.0], dtype=np.float32)))
    memory.add(1, Examples([[5, 6]], None, np.array([2.5], dtype=np.float32)))
    state = {
        "memory_": memory,
        "fishers_": [{"a.weight": torch.randn(3, 2), "b": torch.arange(4)}],
        "misc_": {"k": (1, 2.5, "x", None, True), 7: [np.arange(3), float("nan")]},
        "p_": torch.nn.Parameter(torch.ones(2)),
    }
    model = torch.nn.Linear(2, 2)
    enc = runstore._Encoder(model)
    encoded = json.loads(json.dumps({k: enc.encode(v, k) for k, v in state.items()}, allow_nan=False))
    tensors = runstore._storable(enc.tensors)
    out = {k: runstore._Decoder(tensors, torch.device("cpu"), model).decode(v) for k, v in encoded.items()}
    m = out["memory_"]
    assert isinstance(m, ReplayMemory) and list(m.tasks) == [3, 1]  # order and int keys kept
    assert m.tasks[3].input_ids == [[1, 2, 3], [4]] and m.tasks[3].token_type_ids == [[0, 0, 0], [1]]
    assert m.tasks[1].token_type_ids is None and m.tasks[1].labels.dtype == np.float32
    assert torch.equal(out["fishers_"][0]["a.weight"], state["fishers_"][0]["a.weight"])
    assert out["fishers_"][0]["b"].dtype == torch.int64
    k = out["misc_"]["k"]
    assert k == (1, 2.5, "x", None, True) and isinstance(out["misc_"][7][0], np.ndarray)
    assert math.isnan(out["misc_"][7][1])
    assert isinstance(out["p_"], torch.nn.Parameter) and out["p_"].requires_grad


@pytest.mark.parametrize("value", [{1, 2}, object(), {(1, 2): 3}, np.array([object()])])
def test_unknown_state_types_are_refused_at_save_time(value, tmp_path):
    with pytest.raises(UsageError, match="cannot checkpoint strategy state"):
        runstore.save_checkpoint(tmp_path / "c" / "r", 0, "r", torch.nn.Linear(2, 2), {"x_": value})
    assert not (tmp_path / "c").exists()  # nothing written


def test_a_checkpoint_that_does_not_fit_the_model_is_refused():
    model = torch.nn.Linear(2, 2)
    with pytest.raises(UsageError, match="does not fit the model"):
        runstore.load_model_state(model, {"weight": torch.zeros(2, 2)}, {})
    with pytest.raises(UsageError, match="does not fit the model"):
        runstore.load_model_state(model, {"weight": torch.zeros(3, 2), "bias": torch.zeros(2)}, {})


# -- one atomic commit per phase -------------------------------------------------------------------
def test_interrupted_between_checkpoint_and_run_json_resumes_to_the_same_R(make_small_config, monkeypatch, tmp_path):
    full = run(make_small_config(output_dir=str(tmp_path / "full")))
    cfg = make_small_config(output_dir=str(tmp_path / "cut"))
    original = Runner._checkpoint

    def checkpoint_then_die(self, phase):
        ref = original(self, phase)
        if phase == 1:  # the phase-1 checkpoint is written, the run JSON not yet
            raise KeyboardInterrupt
        return ref

    monkeypatch.setattr(Runner, "_checkpoint", checkpoint_then_die)
    with pytest.raises(KeyboardInterrupt):
        run(cfg)
    runner = Runner(cfg)
    partial = read_run(runner.path)
    assert partial["status"] == "interrupted" and len(partial["R"]) == 1
    assert partial["checkpoint"]["phase"] == 0
    assert (runner.ckpt_path / "phase-1.json").exists()  # the orphan of the cut phase
    (runner.ckpt_path / ".phase-1.json.abc.tmp").write_text("half")  # a leftover temporary file
    monkeypatch.setattr(Runner, "_checkpoint", original)
    resumed = run(make_small_config(output_dir=str(tmp_path / "cut"), resume=True))
    assert resumed["status"] == "complete" and resumed["R"] == full["R"]
    assert not runner.ckpt_path.exists() and resumed["checkpoint"] is None


def test_keep_checkpoint_keeps_only_the_last_phase(make_small_config):
    record = run(make_small_config(keep_checkpoint=True))
    runner = Runner(make_small_config())
    assert sorted(f.name for f in runner.ckpt_path.iterdir()) == ["phase-1.json", "phase-1.safetensors"]
    assert record["checkpoint"]["phase"] == 1


# -- paths confined ------------------------------------------------------------------------------
STREAM = """
name = "{name}"

[[tasks]]
name = "{task}"
train = "{train}"
test = "t_test.jsonl"
text = "text"
label_names = ["a", "b"]
"""


@pytest.fixture
def stream_folder(tmp_path):
    folder = tmp_path / "streams"
    folder.mkdir()
    for split in ("train", "test"):
        (folder / f"t_{split}.jsonl").write_text(
            "".join(json.dumps({"text": f"w{i}", "label": i % 2}) + "\n" for i in range(8)))
    (tmp_path / "outside.jsonl").write_text((folder / "t_train.jsonl").read_text())
    return folder


def write_stream(folder, name="ok", task="tk", train="t_train.jsonl", file="s.toml"):
    path = folder / file
    path.write_text(STREAM.format(name=name, task=task, train=train))
    return path


@pytest.mark.parametrize(("kw", "message"), [
    ({"name": "../../evil"}, "its name must be a safe name"),
    ({"name": "a/b"}, "its name must be a safe name"),
    ({"name": ".hidden"}, "its name must be a safe name"),
    ({"name": "a..b"}, "its name must be a safe name"),
    ({"name": ""}, "its name must be a safe name"),
    ({"task": "../x"}, "the task name must be a safe name"),
    ({"task": "a b"}, "the task name must be a safe name"),
    ({"train": "../outside.jsonl"}, "must be inside the stream file's folder"),
    ({"train": "{abs}"}, "must be inside the stream file's folder"),
])
def test_unsafe_names_and_paths_in_a_stream_file_are_refused(stream_folder, kw, message):
    if kw.get("train") == "{abs}":
        kw = {"train": str(stream_folder.parent / "outside.jsonl")}
    path = write_stream(stream_folder, **kw)
    with pytest.raises(UsageError, match=message) as info:
        load_stream_file(path)
    assert "\n" not in str(info.value)


def test_allow_outside_data_lets_a_stream_name_outside_files(stream_folder):
    path = write_stream(stream_folder, train="../outside.jsonl")
    assert load_stream_file(path, allow_outside_data=True).tasks == ("tk",)
    path = write_stream(stream_folder, train=str(stream_folder.parent / "outside.jsonl"))
    assert load_stream_file(path, allow_outside_data=True).tasks == ("tk",)


def test_unsafe_stream_file_at_the_command_line(stream_folder, tmp_path, capsys):
    path = write_stream(stream_folder, name="../../evil")
    out = tmp_path / "never"
    one_line_exit_2(["run", "--stream", str(path), "--output-dir", str(out)], capsys, "safe name")
    path = write_stream(stream_folder, train="../outside.jsonl")
    one_line_exit_2(["run", "--stream", str(path), "--output-dir", str(out)], capsys, "--allow-outside-data")
    assert not out.exists() and not (tmp_path / "evil.json").exists()


def test_confined_asserts_inside(tmp_path):
    assert runstore.confined(tmp_path, "a.json") == (tmp_path / "a.json").resolve()
    with pytest.raises(RuntimeError):
        runstore.confined(tmp_path, "..", "x.json")


# -- no machine paths in run records ----------------------------------------------------------------
def test_run_record_holds_no_absolute_data_paths(make_small_config, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    record = run(make_small_config())
    assert record["run"]["data_source"] == "files"  # the synthetic tasks come from data files
    assert record["run"]["model_path"] == os.path.basename(make_small_config().model)


def test_committed_run_records_hold_no_machine_paths():
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "results"
    for path in root.rglob("*.json"):
        text = path.read_text()
        assert "/work/" not in text and "/home/" not in text, path


# -- numbers finite at the door ----------------------------------------------------------------
@pytest.mark.parametrize(("flags", "message"), [
    (["--set", "weight_decay=nan"], "weight_decay must be a finite number"),
    (["--set", "max_grad_norm=nan"], "max_grad_norm must be a finite number"),
    (["--lr", "inf"], "lr must be a finite number"),
    (["--set", "warmup_ratio=-inf"], "warmup_ratio must be a finite number"),
])
def test_non_finite_settings_are_refused(flags, message, capsys, tmp_path):
    out = tmp_path / "never"
    one_line_exit_2(["run", *flags, "--output-dir", str(out)], capsys, message)
    assert not out.exists()


def test_a_non_finite_loss_is_one_line_and_keeps_finished_phases(make_small_config, monkeypatch, capsys):
    cfg = make_small_config()
    original = Finetune.loss

    def poisoned(self, batch):
        loss = original(self, batch)
        return loss * float("nan") if int(batch.task_ids[0]) == 1 else loss

    monkeypatch.setattr(Finetune, "loss", poisoned)
    one_line_exit_2(cli_args(cfg), capsys, "non-finite training loss in phase 2", logs=True)
    record = read_run(Runner(cfg).path)
    assert record["status"] == "failed" and len(record["R"]) == 1
    assert "non-finite training loss" in record["error"]


# -- a lock per run id ---------------------------------------------------------------------------
def test_a_live_run_is_not_run_or_resumed_twice(make_small_config, monkeypatch, capsys):
    cfg = make_small_config()
    runner = Runner(cfg)
    lock = runstore.RunLock(runner.out_dir, runner.run_id)
    lock.acquire()
    try:
        one_line_exit_2(cli_args(cfg), capsys, f"in progress in process {os.getpid()}")
        assert not runner.path.exists()
        one_line_exit_2([*cli_args(cfg), "--resume"], capsys, f"in progress in process {os.getpid()}")
    finally:
        lock.release()
    assert main(cli_args(cfg)) == 0  # free again
