"""The command line: bad input is one line on stderr, exit code 2, nothing written."""

import json

import pytest
from conftest import refuse_connections

from benchmark.__main__ import main


@pytest.fixture
def tiny_args(tiny_model, synthetic_tasks, tmp_path):
    return ["--model", str(tiny_model), "--tasks", "syn_red,syn_count", "--max-length", "32",
            "--batch-size", "16", "--lr", "3e-3", "--output-dir", str(tmp_path / "out"), "--quiet"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["run", "--strategy", "finetun"], "unknown strategy 'finetun'. Did you mean 'finetune'?"),
        (["run", "--stream", "glue-smal"], "Did you mean 'glue-small'?"),
        (["run", "--tasks", "sst2,nope"], "unknown task 'nope'"),
        (["run", "--tasks", "sst2,sst2"], "appears twice"),
        (["run", "--order", "sideways"], "has no order 'sideways'"),
        (["run", "--epochs", "0"], "--epochs must be >= 1"),
        (["run", "--max-train", "-5"], "argument --max-train: '-5' is not a cap"),
        (["run", "--max-train", "sst2=10,nope=5"], "'nope' is not a task of this run"),
        (["run", "--batch-size", "0"], "--batch-size must be >= 1"),
        (["run", "--lr", "-1"], "lr must be > 0"),
        (["run", "--set", "lrr=1"], "unknown setting 'lrr'"),
        (["run", "--set", "warmup_ratio=x"], "warmup_ratio must be a number"),
        (["run", "--data-dir", "/no/such/folder"], "does not exist"),
        (["run", "--epochs", "two"], "invalid int value"),
        (["run", "--import", "no_such_module_abc"], "--import no_such_module_abc"),
        (["show", "/no/such/run.json"], "no run file"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv, message, capsys, tmp_path):
    out_dir = tmp_path / "never"
    if argv[0] == "run":
        argv = [*argv, "--output-dir", str(out_dir)]
    with pytest.raises(SystemExit) as info:
        raise SystemExit(main(argv))
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert not out_dir.exists()


def test_missing_mirror_in_data_dir(tmp_path, capsys):
    (tmp_path / "data").mkdir()
    rc = main(["run", "--data-dir", str(tmp_path / "data"), "--output-dir", str(tmp_path / "o"),
               "--model", "/no/such/model"])
    assert rc == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_model_that_does_not_exist(tiny_args, capsys, tmp_path):
    argv = ["run", *tiny_args]
    argv[argv.index("--model") + 1] = str(tmp_path / "no-model")
    assert main(argv) == 2
    assert "cannot load model" in capsys.readouterr().err


def test_run_show_and_rerun(tiny_args, tmp_path, capsys):
    assert main(["run", *tiny_args]) == 0
    out = capsys.readouterr().out
    assert "final average" in out and "syn_count" in out
    (path,) = (tmp_path / "out").glob("*.json")
    before = path.read_text()
    assert main(["show", str(path)]) == 0
    shown = capsys.readouterr().out
    assert "R on test (score x100" in shown
    cost = json.loads(before)["cost"]  # both clocks, the CPU one being load-independent
    assert shown.rstrip().endswith(f"wall time {cost['wall_time_s']:.0f}s, CPU time {cost['cpu_time_s']:.0f}s")
    # the same run again without --resume refuses and leaves the results alone
    assert main(["run", *tiny_args]) == 2
    assert "add --resume" in capsys.readouterr().err
    assert path.read_text() == before
    assert main(["run", *tiny_args, "--resume"]) == 0
    assert path.read_text() == before


def test_show_rejects_foreign_json(tmp_path, capsys):
    p = tmp_path / "x.json"
    p.write_text(json.dumps({"hello": 1}))
    assert main(["show", str(p)]) == 2
    assert "not a cmtbench run" in capsys.readouterr().err


def test_list_names_strategies_streams_and_tasks(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for word in ("finetune", "joint", "glue-small", "sst2 -> mrpc", "stsb", "pearson+spearman"):
        assert word in out
    assert main(["list", "--strategy", "finetune"]) == 0
    assert "lr" in capsys.readouterr().out


def test_help_mentions_the_main_flags(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    out = capsys.readouterr().out
    for flag in ("--strategy", "--stream", "--tasks", "--max-train", "--precision", "--resume", "--set"):
        assert flag in out


def test_no_data_folder_and_no_hub_fails_fast_with_a_hint(tiny_model, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("CMTBENCH_DATA_DIR", raising=False)
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "empty-cache"))  # nothing cached either
    connects = refuse_connections(monkeypatch)
    rc = main(["run", "--tasks", "rte", "--model", str(tiny_model), "--max-length", "32",
               "--output-dir", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1
    assert "CMTBENCH_DATA_DIR" in err and "unreachable" in err
    # fast: offline mode is on, so nothing tried the network (and retried it for ~20 s)
    assert connects == [] and not (tmp_path / "o").exists()
