"""`tune`: settings chosen by Optuna on validation, never reading test; the study resumes; the
chosen settings reach `run --tuned` and the run records which study chose them."""

import json
import tomllib
from pathlib import Path

import pytest
from conftest import registered

import benchmark.evaluate
from benchmark.__main__ import main
from benchmark.testing import COLOURS, make_synthetic_task


@pytest.fixture(scope="module")
def guarded_task(tmp_path_factory):
    """syn_guard: a learnable task whose test file is not JSON, so any read of test fails."""
    folder = tmp_path_factory.mktemp("guarded")
    words = COLOURS + tuple(f"w{i}" for i in range(8))
    spec = make_synthetic_task(folder, "syn_guard", lambda ws: int("red" in ws), words=words,
                               n_train=200, n_test=50)
    Path(spec.data_files["test"]).write_text("this is not a json file: reading test breaks the run\n")
    yield from registered([spec])


@pytest.fixture
def tune_args(tiny_model, guarded_task, tmp_path):
    return ["--model", str(tiny_model), "--tasks", "syn_guard", "--max-length", "32",
            "--batch-size", "16", "--val-size", "40", "--quiet", "--strategy", "finetune",
            "--tuning-dir", str(tmp_path / "tuning"), "--tuned-output", str(tmp_path / "tuned.toml")]


def test_tune_never_reads_test_and_writes_the_chosen_settings(tune_args, tmp_path, monkeypatch, capsys):
    splits = []
    predict = benchmark.evaluate.predict

    def spy(model, task, ctx, split="test"):
        splits.append(split)
        return predict(model, task, ctx, split)

    monkeypatch.setattr(benchmark.evaluate, "predict", spy)
    assert main(["tune", *tune_args, "--trials", "3"]) == 0
    assert splits and set(splits) == {"validation"}
    tuned = tomllib.loads((tmp_path / "tuned.toml").read_text())["finetune"]
    study = tuned["_study"]
    assert 1e-5 <= tuned["lr"] <= 1e-3 and study["trials"] == 3 and "trials_unfinished" not in study
    assert study["objective"] == "validation final_average" and study["tasks"] == ["syn_guard"]
    assert "/" not in study["storage"].removeprefix("sqlite:///")  # no path of this machine
    runs = [json.loads(p.read_text()) for p in (tmp_path / "tuning" / "runs").glob("*.json")]
    assert len(runs) == 3 and all(r["R"] == [] and r["R_val"] for r in runs)
    assert max(r["metrics_val"]["final_average"] for r in runs) == pytest.approx(study["value"])
    # the study resumes: asking for 3 trials again runs none
    capsys.readouterr()
    assert main(["tune", *tune_args, "--trials", "3"]) == 0
    assert "trial 3" not in capsys.readouterr().out


def test_run_uses_tuned_settings_and_records_the_study(tune_args, tiny_model, synthetic_tasks, tmp_path):
    main(["tune", *tune_args, "--trials", "2"])
    tuned = tomllib.loads((tmp_path / "tuned.toml").read_text())["finetune"]
    out = tmp_path / "out"
    args = ["run", "--model", str(tiny_model), "--tasks", "syn_red", "--max-length", "32", "--quiet",
            "--val-size", "0", "--tuned", str(tmp_path / "tuned.toml"), "--output-dir", str(out)]
    assert main(args) == 0
    record = json.loads(next(out.glob("*.json")).read_text())
    assert record["run"]["strategy_config"]["lr"] == pytest.approx(tuned["lr"])
    assert record["run"]["tuned"]["file"] == "tuned.toml"
    assert record["run"]["tuned"]["study"]["name"] == tuned["_study"]["name"]
    # --set overrides a tuned setting; a strategy without a table runs at its defaults
    assert main([*args, "--set", "lr=2e-3", "--output-dir", str(tmp_path / "o2")]) == 0
    assert json.loads(next((tmp_path / "o2").glob("*.json")).read_text())["run"]["strategy_config"]["lr"] == 2e-3
    assert main([*args, "--strategy", "head-only", "--output-dir", str(tmp_path / "o3")]) == 0


def test_grid_tries_every_point_once_and_keeps_the_best(tune_args, tmp_path, capsys):
    grid = ["--grid", "lr=1e-5,3e-3", "weight_decay=0,0.1"]
    assert main(["tune", *tune_args, *grid]) == 0
    tuned = tomllib.loads((tmp_path / "tuned.toml").read_text())["finetune"]
    runs = [json.loads(p.read_text()) for p in (tmp_path / "tuning" / "runs").glob("*.json")]
    tried = sorted((r["run"]["strategy_config"]["lr"], r["run"]["strategy_config"]["weight_decay"]) for r in runs)
    assert tried == [(1e-5, 0.0), (1e-5, 0.1), (3e-3, 0.0), (3e-3, 0.1)]
    score = {(r["run"]["strategy_config"]["lr"], r["run"]["strategy_config"]["weight_decay"]):
             r["metrics_val"]["final_average"] for r in runs}
    assert score[tuned["lr"], tuned["weight_decay"]] == max(score.values()) == tuned["_study"]["value"]
    assert tuned["_study"]["search"] == {"grid": {"lr": [1e-5, 3e-3], "weight_decay": [0, 0.1]}}
    capsys.readouterr()  # a rerun finds the grid done and trains nothing
    assert main(["tune", *tune_args, *grid]) == 0
    assert "trial" not in capsys.readouterr().out.replace("trials", "")
    # a grown grid runs only its new points
    assert main(["tune", *tune_args, "--grid", "lr=1e-5,3e-3,1e-2", "weight_decay=0,0.1"]) == 0
    out = capsys.readouterr().out
    assert "4 of 6 trials done; running 2 more" in out and out.count("-> validation") == 2
    assert len(list((tmp_path / "tuning" / "runs").glob("*.json"))) == 6


def test_a_killed_trial_is_not_counted_as_a_trial_of_the_study(tune_args, tmp_path):
    import optuna

    storage = f"sqlite:///{tmp_path / 'study.db'}"
    assert main(["tune", *tune_args, "--storage", storage, "--grid", "lr=1e-4"]) == 0
    name = tomllib.loads((tmp_path / "tuned.toml").read_text())["finetune"]["_study"]["name"]
    optuna.load_study(study_name=name, storage=storage).ask()  # a trial started, never finished
    assert main(["tune", *tune_args, "--storage", storage, "--grid", "lr=1e-4,1e-3"]) == 0
    study = tomllib.loads((tmp_path / "tuned.toml").read_text())["finetune"]["_study"]
    assert study["trials"] == 2 and study["trials_unfinished"] == 1


def test_fixed_settings_enter_the_table_and_share_from_copies_them(tune_args, tmp_path, capsys):
    assert main(["tune", *tune_args, "--set", "weight_decay=0.2", "--grid", "lr=1e-4"]) == 0
    path = tmp_path / "tuned.toml"
    assert {k: v for k, v in tomllib.loads(path.read_text())["finetune"].items() if k != "_study"} == \
        {"lr": 1e-4, "weight_decay": 0.2}  # the trial that was validated, not its lr alone
    args = [a for a in tune_args if a != "finetune"]
    i = args.index("--strategy")
    args[i:i + 1] = []
    assert main(["tune", *args, "--strategy", "replay", "--share-from", "finetune"]) == 0
    replay = tomllib.loads(path.read_text())["replay"]
    assert replay["lr"] == 1e-4 and replay["weight_decay"] == 0.2
    assert replay["_study"]["shared_from"] == "finetune" and "not tuned for replay" in replay["_study"]["note"]
    assert len(list((tmp_path / "tuning" / "runs").glob("*.json"))) == 1  # sharing ran no trial
    assert main(["tune", *args, "--strategy", "replay", "--share-from", "lwf"]) == 2
    assert "has no [lwf] table" in capsys.readouterr().err


@pytest.mark.parametrize("extra, message", [
    (["--grid", "nope=1,2"], "--grid nope: finetune has no such setting"),
    (["--grid", "lr"], "--grid expects key=v1,v2"),
    (["--val-size", "0"], "tuning chooses on the validation split"),
    (["--params", "nope"], "--params nope: not in finetune's search space"),
    (["--set", "lr=1e-3"], "'lr' is both --set and searched"),
    (["--tune-tasks", "5"], "--tune-tasks must be in 1..1"),
])
def test_bad_tune_input_is_one_line(tune_args, extra, message, capsys, tmp_path):
    assert main(["tune", *tune_args, "--trials", "1", *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "tuned.toml").exists()


def test_tuned_file_errors(tmp_path, capsys):
    assert main(["run", "--tuned", str(tmp_path / "none.toml"), "--output-dir", str(tmp_path / "o")]) == 2
    assert "no such file" in capsys.readouterr().err
    (tmp_path / "bad.toml").write_text("[x\n")
    assert main(["run", "--tuned", str(tmp_path / "bad.toml"), "--output-dir", str(tmp_path / "o")]) == 2
    assert "not a TOML file" in capsys.readouterr().err
