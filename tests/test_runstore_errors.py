"""The run store under ordinary mistakes and accidents: a catalogue of bad inputs (exit 2, one
line, nothing written or lost), changed data read afresh and refused on --resume, a full disk,
an interruption at every write boundary of a phase commit, and a fuzz of run records."""

import copy
import errno
import json
import os
from pathlib import Path

import pytest
from conftest import interrupt_in_phase
from test_runstore import cli_args

from benchmark import data as data_mod
from benchmark import results, runstore, schema
from benchmark.__main__ import main
from benchmark.results import read_run
from benchmark.runner import Runner, run
from benchmark.tasks import TaskSpec
from strategies.finetune import Finetune

ROOT = Path(__file__).resolve().parent.parent


def tree(folder: Path) -> dict:
    """Every file under `folder` with its bytes (what must not change); None when absent."""
    if not folder.exists():
        return None
    if folder.is_file():
        return {".": folder.read_bytes()}
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def rows(n, label=lambda i: i % 2, start=0):
    return "".join(json.dumps({"text": f"red w{i % 7} blue w{i % 5} n{i}", "label": label(i)}) + "\n"
                   for i in range(start, start + n))


STREAM = """
name = "cat"
{tasks}
"""
TASK = """
[[tasks]]
name = "{name}"
train = "{name}_train.jsonl"
test = "{name}_test.jsonl"
text = "text"
label_names = ["a", "b"]
"""


def stream_folder(tmp_path, names=("ta", "tb"), train=None) -> Path:
    folder = tmp_path / "stream"
    folder.mkdir(exist_ok=True)
    for name in names:
        (folder / f"{name}_train.jsonl").write_text(rows(40) if train is None else train)
        (folder / f"{name}_test.jsonl").write_text(rows(12, start=100))
    path = folder / "s.toml"
    path.write_text(STREAM.format(tasks="".join(TASK.format(name=n) for n in names)))
    return path


def stream_args(path, out, *extra):
    return ["run", "--stream", str(path), "--model", "{model}", "--max-length", "32", "--batch-size", "16",
            "--max-train", "0", "--max-eval", "0", "--val-size", "0", "--output-dir", str(out), "--quiet", *extra]


# -- the catalogue ---------------------------------------------------------------------------------
def case_output_is_a_file(tmp_path, cfg, monkeypatch):
    out = tmp_path / "file"
    out.write_text("not a folder")
    return cli_args(cfg)[:-3] + ["--output-dir", str(out), "--quiet"], out, "is a file, not a folder"


def case_output_inside_a_file(tmp_path, cfg, monkeypatch):
    (tmp_path / "file").write_text("x")
    return (cli_args(cfg)[:-3] + ["--output-dir", str(tmp_path / "file" / "runs"), "--quiet"], tmp_path / "file",
            "which is a file")


def case_output_read_only(tmp_path, cfg, monkeypatch):
    out = tmp_path / "ro"
    out.mkdir()
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if Path(p) == out else real(p, mode, **kw))
    return cli_args(cfg)[:-3] + ["--output-dir", str(out), "--quiet"], out, "is not writable"


def case_tasks_empty(tmp_path, cfg, monkeypatch):
    out = tmp_path / "o"
    return ["run", "--tasks", "", "--output-dir", str(out)], out, "--tasks names no task"


def case_tasks_blank(tmp_path, cfg, monkeypatch):
    out = tmp_path / "o"
    return ["run", "--tasks", " , ", "--output-dir", str(out)], out, "--tasks names no task"


def case_task_named_with_a_dot(tmp_path, cfg, monkeypatch):
    path = stream_folder(tmp_path, names=("a.b",))
    return stream_args(path, tmp_path / "o"), tmp_path / "o", "holds a '.'"


def case_task_named_blank(tmp_path, cfg, monkeypatch):
    path = stream_folder(tmp_path, names=(" ",))
    return stream_args(path, tmp_path / "o"), tmp_path / "o", "the task name must be a safe name"


def case_empty_jsonl(tmp_path, cfg, monkeypatch):
    path = stream_folder(tmp_path, train="")
    return stream_args(path, tmp_path / "o"), tmp_path / "o", "its train file 'ta_train.jsonl' is empty"


def case_blank_jsonl(tmp_path, cfg, monkeypatch):
    path = stream_folder(tmp_path, train="\n\n  \n")
    return stream_args(path, tmp_path / "o"), tmp_path / "o", "is empty"


def case_float_labels(tmp_path, cfg, monkeypatch):
    path = stream_folder(tmp_path, train=rows(40, label=lambda i: 0.5 if i == 3 else i % 2))
    return stream_args(path, tmp_path / "o"), tmp_path / "o", "label 0.5 in its train split is not a class number"


def case_max_length_beyond_the_model(tmp_path, cfg, monkeypatch):
    argv = cli_args(cfg)
    argv[argv.index("--max-length") + 1] = "100"
    return argv, Path(cfg.output_dir), "--max-length 100 is beyond the 64 positions"


def case_loading_script_in_a_mirror(tmp_path, cfg, monkeypatch):
    mirror = tmp_path / "data" / "glue"
    mirror.mkdir(parents=True)
    marker = tmp_path / "pwned"
    (mirror / "glue.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    (mirror / "README.md").write_text("---\nconfigs:\n- config_name: sst2\n  data_files: sst2/*\n---\n")
    monkeypatch.setattr(case_loading_script_in_a_mirror, "marker", marker, raising=False)
    out = tmp_path / "o"
    return (["run", "--tasks", "sst2", "--data-dir", str(tmp_path / "data"), "--model", cfg.model,
             "--max-length", "32", "--output-dir", str(out)], out, "holds Python code (glue.py)")


def interrupted(cfg, monkeypatch):
    original = interrupt_in_phase(monkeypatch, Finetune)
    with pytest.raises(KeyboardInterrupt):
        run(cfg)
    monkeypatch.setattr(Finetune, "after_task", original)
    return Runner(cfg)


def case_truncated_checkpoint(tmp_path, cfg, monkeypatch):
    runner = interrupted(cfg, monkeypatch)
    st = runner.ckpt_path / "phase-0.safetensors"
    st.write_bytes(st.read_bytes()[:100])
    return [*cli_args(cfg), "--resume"], Path(cfg.output_dir), "do not match their hash"


def case_truncated_run_json(tmp_path, cfg, monkeypatch):
    runner = interrupted(cfg, monkeypatch)
    runner.path.write_text(runner.path.read_text()[:200])
    return [*cli_args(cfg), "--resume"], Path(cfg.output_dir), "not valid JSON"


def case_resume_with_other_settings(tmp_path, cfg, monkeypatch):
    runner = interrupted(cfg, monkeypatch)
    record = json.loads(runner.path.read_text())
    record["run"]["batch_size"] = 8  # as if the run had been made with --batch-size 8
    runner.path.write_text(json.dumps(record))
    return [*cli_args(cfg), "--resume"], Path(cfg.output_dir), "its settings differ: batch_size (8 -> 16)"


def case_resume_a_malformed_record(tmp_path, cfg, monkeypatch):
    runner = interrupted(cfg, monkeypatch)
    record = json.loads(runner.path.read_text())
    record["R"][0][0] = 7.5
    runner.path.write_text(json.dumps(record))
    return [*cli_args(cfg), "--resume"], Path(cfg.output_dir), "R[0][0] = 7.5 is not a score"


def case_resume_with_changed_data(tmp_path, cfg, monkeypatch):
    path = stream_folder(tmp_path)
    argv = stream_args(path, tmp_path / "o")
    argv[argv.index("{model}")] = cfg.model
    original = interrupt_in_phase(monkeypatch, Finetune)
    assert main(argv) == 130
    monkeypatch.setattr(Finetune, "after_task", original)
    train = path.parent / "ta_train.jsonl"
    train.write_text(rows(39))  # a row fewer
    return [*argv, "--resume"], tmp_path / "o", "the data of task 'ta' differs from the data it was run on (train 40 -> 39)"


def case_show_a_malformed_record(tmp_path, cfg, monkeypatch):
    out = tmp_path / "o"
    out.mkdir()
    (out / "r.json").write_text(json.dumps({"schema_version": 2, "run_id": "x", "status": "complete", "run": {},
                                            "tasks": [], "phases": [], "R": [], "metrics": {}}))
    return ["show", str(out / "r.json")], out, "a version-2 run without error, task_info"


CASES = [case_output_is_a_file, case_output_inside_a_file, case_output_read_only, case_tasks_empty,
         case_tasks_blank, case_task_named_with_a_dot, case_task_named_blank, case_empty_jsonl,
         case_blank_jsonl, case_float_labels, case_max_length_beyond_the_model, case_loading_script_in_a_mirror,
         case_truncated_checkpoint, case_truncated_run_json, case_resume_with_other_settings,
         case_resume_a_malformed_record, case_resume_with_changed_data, case_show_a_malformed_record]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.__name__.removeprefix("case_"))
def test_bad_input_catalogue(case, make_small_config, tmp_path, monkeypatch, capsys):
    cfg = make_small_config()
    argv, watched, message = case(tmp_path, cfg, monkeypatch)
    argv = [cfg.model if a == "{model}" else a for a in argv]
    before = tree(watched)
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err, err
    assert message in err, err
    assert tree(watched) == before  # nothing written, nothing lost
    assert not getattr(case, "marker", Path("/nonexistent")).exists()  # no loading script ran
    print(f"{case.__name__}: {err.strip()}")  # the catalogue of messages, with -s


# -- changed data ----------------------------------------------------------------------------------
def test_a_changed_local_file_is_read_afresh(tmp_path, monkeypatch):
    """datasets keys local files by name and mtime: same mtime, or the same name elsewhere, must
    not be served from the cache of the old contents."""
    import datasets.config

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "d"
    folder.mkdir()
    train = folder / "train.jsonl"
    train.write_text(rows(10))
    spec = TaskSpec("fresh", dataset="json", text_fields=("text",), label_names=("a", "b"),
                    data_files={"train": str(train)}, test_split="test")
    assert len(data_mod.load_splits(spec, None, load_test=False)["train"]) == 10
    stamp = os.stat(train)
    train.write_text(rows(5))
    os.utime(train, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))  # same name, size class and mtime
    assert len(data_mod.load_splits(spec, None, load_test=False)["train"]) == 5


def test_a_changed_mirror_is_read_afresh(tmp_path, monkeypatch):
    import datasets.config
    import pandas as pd

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "cache"))
    spec = TaskSpec("mirrored", dataset="x/glue", config="sst2", mirror="glue", text_fields=("sentence",),
                    label_names=("a", "b"), train_split="train")

    def write(root, n):
        (root / "glue" / "sst2").mkdir(parents=True, exist_ok=True)
        (root / "glue" / "README.md").write_text(
            "---\nconfigs:\n- config_name: sst2\n  data_files:\n  - split: train\n    path: sst2/train-*\n---\n")
        f = root / "glue" / "sst2" / "train-00000-of-00001.parquet"
        pd.DataFrame({"sentence": [f"s{i}" for i in range(n)], "label": [i % 2 for i in range(n)]}).to_parquet(f)
        os.utime(f, ns=(10**18, 10**18))  # the same mtime every time

    write(tmp_path / "a", 10)
    assert len(data_mod.load_splits(spec, tmp_path / "a", load_test=False)["train"]) == 10
    write(tmp_path / "a", 3)
    assert len(data_mod.load_splits(spec, tmp_path / "a", load_test=False)["train"]) == 3
    write(tmp_path / "b", 4)  # another folder of the same name
    assert len(data_mod.load_splits(spec, tmp_path / "b", load_test=False)["train"]) == 4


def test_fingerprints_are_recorded_and_follow_the_data(make_small_config):
    record = run(make_small_config())
    fps = [t["fingerprint"] for t in record["task_info"]]
    assert all(len(f) == 64 for f in fps) and fps[0] != fps[1]
    again = run(make_small_config(output_dir=make_small_config().output_dir + "2"))
    assert [t["fingerprint"] for t in again["task_info"]] == fps  # deterministic


def test_resume_with_other_settings_and_no_own_run_warns(make_small_config, capsys):
    cfg = make_small_config()
    assert main(cli_args(cfg)) == 0
    capsys.readouterr()
    argv = cli_args(cfg)
    argv[argv.index("--batch-size") + 1] = "8"
    assert main([*argv, "--resume"]) == 0
    err = capsys.readouterr().err
    assert "warning: --resume found no run with these settings" in err and "batch_size (16 -> 8)" in err


# -- a full disk ---------------------------------------------------------------------------------------
def full_disk(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.fixture
def uninterrupted_R(make_small_config, tmp_path):
    return run(make_small_config(output_dir=str(tmp_path / "full")))["R"]


@pytest.mark.parametrize("point", ["checkpoint-tensors", "run-json"])
def test_a_full_disk_is_one_line_and_resumes(point, make_small_config, monkeypatch, capsys, uninterrupted_R):
    import safetensors.torch

    cfg = make_small_config()
    runner = Runner(cfg)
    if point == "checkpoint-tensors":  # the disk fills while phase 2's tensors are written
        real = safetensors.torch.save_file

        def save(tensors, filename, *a, **kw):
            if runner.path.exists() and len(json.loads(runner.path.read_text())["phases"]) == 1:
                Path(filename).write_bytes(b"half a file")
                full_disk()
            return real(tensors, filename, *a, **kw)

        monkeypatch.setattr(safetensors.torch, "save_file", save)
    else:  # the disk is full from phase 2's run JSON on: the failure cannot be recorded either
        real = results.write_json_atomic

        def write(path, data):
            if len(data["phases"]) == 2 or data["status"] == "failed":
                fd = os.open(path.parent / f".{path.name}.x.tmp", os.O_CREAT | os.O_WRONLY)
                os.close(fd)  # the half-written temporary a real full disk leaves
                full_disk()
            return real(path, data)

        monkeypatch.setattr(results, "write_json_atomic", write)
    capsys.readouterr()
    assert main(cli_args(cfg)) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[-1].startswith("error: cannot write in") and "No space left on device" in err[-1]
    assert "--resume" in err[-1] and not any("Traceback" in line for line in err)
    record = read_run(runner.path)
    assert len(record["R"]) == 1 and record["R"][0] == uninterrupted_R[0]  # the finished phase kept
    if point == "checkpoint-tensors":
        assert record["status"] == "failed" and "No space left" in record["error"]
        assert "/" not in record["error"]  # no machine path
    else:
        assert record["status"] == "running"  # as last committed
    leftovers = [p.name for p in Path(cfg.output_dir).rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == [] and sorted(p.name for p in runner.ckpt_path.iterdir()) == [
        "phase-0.json", "phase-0.safetensors"]
    monkeypatch.undo()  # space again
    resumed = run(make_small_config(resume=True))
    assert resumed["status"] == "complete" and resumed["R"] == uninterrupted_R


# -- an interruption at every write boundary of a phase commit --------------------------------------------
def _after(module, name, condition):
    """Wrap module.name so that it raises the test's exception after a call where condition(args)."""
    real = getattr(module, name)

    def wrapped(*args, **kwargs):
        out = real(*args, **kwargs)
        if condition(*args, **kwargs):
            raise wrapped.exc
        return out

    return wrapped


BOUNDARIES = {
    # inside the tensors' write: a half temporary file, nothing renamed
    "during-tensors": ("safetensors.torch", "save_file", None),
    "tensors-written": (runstore, "_atomic", lambda path, write: path.name == "phase-1.safetensors"),
    "checkpoint-json-written": (runstore, "_atomic", lambda path, write: path.name == "phase-1.json"),
    "run-json-written": (results, "write_json_atomic",
                         lambda path, data: len(data["phases"]) == 2 and data["status"] == "running"),
    "old-checkpoint-deleted": (runstore, "clean_checkpoints", lambda folder, keep: keep == "phase-1.json"),
}


@pytest.mark.parametrize("exc", [KeyboardInterrupt, SystemExit])
@pytest.mark.parametrize("boundary", list(BOUNDARIES))
def test_killed_at_every_write_boundary_resumes_to_the_same_R(boundary, exc, make_small_config, monkeypatch,
                                                              uninterrupted_R):
    import importlib

    module, name, condition = BOUNDARIES[boundary]
    module = importlib.import_module(module) if isinstance(module, str) else module
    if condition is None:
        real = module.save_file

        def wrapped(tensors, filename, *a, **kw):
            if "phase-1" in Path(filename).name:
                Path(filename).write_bytes(b"half")
                raise exc()
            return real(tensors, filename, *a, **kw)
    else:
        wrapped = _after(module, name, condition)
        wrapped.exc = exc()
    monkeypatch.setattr(module, name, wrapped)
    cfg = make_small_config()
    with pytest.raises(exc):
        run(cfg)
    monkeypatch.undo()
    runner = Runner(cfg)
    record = read_run(runner.path)
    committed = 2 if boundary in ("run-json-written", "old-checkpoint-deleted") else 1
    assert len(record["phases"]) == committed and record["checkpoint"]["phase"] == committed - 1
    assert not [p for p in Path(cfg.output_dir).rglob("*.tmp")]  # no temporary file left
    resumed = run(make_small_config(resume=True))
    assert resumed["status"] == "complete" and resumed["R"] == uninterrupted_R
    assert not runner.ckpt_path.exists()


# -- a fuzz of run records ---------------------------------------------------------------------------------
def _paths(obj, prefix=()):
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, (*prefix, i))


def readers(record: dict, path: Path) -> None:
    """Everything that reads a validated run record."""
    from benchmark import plots, reference, runs, validate

    results.format_summary(record)
    reference.not_learned(record)
    validate.recomputed(record)
    path.write_text(json.dumps(record))
    validate.check_record(path, path.parent)
    if record["status"] == "complete" and record["run"].get("evaluate_test") is not False:
        runs.run_row(record)
        runs.check_matrix(record)
        runs.attach_references([(path, record)])
        runs.runs_frame([(path, record)])
        plots._row_labels(record)


@pytest.fixture(scope="module")
def base_records(tmp_path_factory, tiny_model, small_tasks):
    from benchmark.runconfig import RunConfig

    v1 = json.loads(next((ROOT / "results" / "runs").rglob("*.json")).read_text())
    out = tmp_path_factory.mktemp("fuzz")
    cfg = RunConfig(strategy="finetune", tasks=["small_count", "small_red"], model=str(tiny_model), epochs=1,
                    batch_size=16, max_length=32, max_train=0, max_eval=0, val_size=8, output_dir=str(out),
                    progress=False, strategy_config={"lr": "3e-3"})
    v2 = run(cfg)
    partial = copy.deepcopy(v2)
    partial["status"], partial["phases"], partial["R"], partial["R_metrics"] = "interrupted", v2["phases"][:1], v2["R"][:1], v2["R_metrics"][:1]
    partial["R_val"], partial["R_val_metrics"] = v2["R_val"][:1], v2["R_val_metrics"][:1]
    partial["checkpoint"] = {"file": "checkpoints/x/phase-0.json", "sha256": "0" * 64, "phase": 0}
    return [v1, json.loads(json.dumps(v2)), partial]


def test_the_base_records_are_valid(base_records, tmp_path):
    for record in base_records:
        readers(results.parse_run(copy.deepcopy(record)), tmp_path / "r.json")


def test_fuzzed_run_records_are_accepted_and_read_or_rejected_with_a_value_error(base_records, tmp_path):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    values = st.one_of(
        st.none(), st.booleans(), st.integers(-3, 5), st.floats(allow_nan=True, allow_infinity=True),
        st.sampled_from(["", " ", "complete", "running", "sst2", "/home/x", "x.json"]),
        st.lists(st.one_of(st.none(), st.integers(0, 3), st.floats(-2, 2)), max_size=4),
        st.dictionaries(st.sampled_from(["file", "sha256", "score", "test", "a"]),
                        st.one_of(st.none(), st.integers(-1, 2), st.text(max_size=3)), max_size=3),
    )

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(st.data())
    def fuzz(data):
        record = copy.deepcopy(data.draw(st.sampled_from(base_records)))
        for _ in range(data.draw(st.integers(1, 3))):
            paths = [p for p in _paths(record) if p]
            target = data.draw(st.sampled_from(paths))
            parent = record
            for k in target[:-1]:
                parent = parent[k]
            action = data.draw(st.sampled_from(["replace", "delete", "append", "truncate"]))
            if action == "replace" or not isinstance(parent, (dict, list)):
                parent[target[-1]] = data.draw(values)
            elif action == "delete":
                del parent[target[-1]]
            elif action == "append" and isinstance(parent[target[-1]], list):
                parent[target[-1]].append(data.draw(values))
            elif isinstance(parent[target[-1]], list):
                del parent[target[-1]][len(parent[target[-1]]) // 2:]
        try:
            parsed = results.parse_run(json.loads(json.dumps(record)))
        except ValueError:
            return
        readers(parsed, tmp_path / "r.json")

    fuzz()


def test_version_1_records_are_upgraded_for_every_reader():
    records = (json.loads(p.read_text()) for p in sorted((ROOT / "results" / "runs").rglob("*.json")))
    v1 = next(r for r in records if r["schema_version"] == 1)  # the committed glue-small runs
    record = results.parse_run(v1)
    assert record["schema_version"] == schema.SCHEMA_VERSION == 2
    assert record["R_val"] == [] and record["reference"] is None and record["run"]["val_size"] == 0
    assert v1["schema_version"] == 1 and "R_val" not in v1  # the record read is left alone


def test_the_committed_results_validate_clean(capsys):
    assert main(["validate", str(ROOT / "results" / "runs")]) == 0
    assert capsys.readouterr().out.rstrip().endswith(" run JSONs, all clean")


def test_validate_reports_each_problem(tmp_path, capsys):
    src = next((ROOT / "results" / "runs").rglob("*.json"))
    good = json.loads(src.read_text())
    bad = copy.deepcopy(good)
    bad["metrics"]["final_average"] += 1e-6
    bad["run"]["model_path"] = "/home/someone/model"
    (tmp_path / "good.json").write_text(json.dumps(good))
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    (tmp_path / "broken.json").write_text("{")
    capsys.readouterr()
    assert main(["validate", str(tmp_path)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert any("bad.json: metrics.final_average" in line for line in out)
    assert any("bad.json: run.model_path holds an absolute machine path" in line for line in out)
    assert any("broken.json: not readable JSON" in line for line in out)
    assert out[-1] == "validate: 3 run JSONs, 1 clean, 3 problems in the other 2"
    (tmp_path / "bad.json").unlink()
    (tmp_path / "broken.json").unlink()
    assert main(["validate", str(tmp_path)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "validate: 1 run JSON, all clean"
    assert main(["validate", str(tmp_path / "none")]) == 2


def test_validate_checks_the_checkpoint_of_an_unfinished_run(make_small_config, monkeypatch, capsys):
    cfg = make_small_config()
    runner = interrupted(cfg, monkeypatch)
    capsys.readouterr()
    main(["validate", cfg.output_dir])  # (the test model's absolute path in run.model is a problem too)
    assert "checkpoint" not in capsys.readouterr().out
    (runner.ckpt_path / "phase-0.json").write_text("{}")
    assert main(["validate", cfg.output_dir]) == 1
    assert "checkpoint checkpoints/" in capsys.readouterr().out
    (runner.ckpt_path / "phase-0.json").unlink()
    assert main(["validate", cfg.output_dir]) == 1
    assert "is missing" in capsys.readouterr().out
