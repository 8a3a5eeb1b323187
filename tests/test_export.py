"""`export`: runs.csv and scores.csv hold exactly the numbers of the run JSONs, one row per run
and one per score, with no absolute path."""

import pandas as pd
import pytest
from run_records import make_record, write

from benchmark.__main__ import main


@pytest.fixture(autouse=True)
def elsewhere(tmp_path_factory, monkeypatch):
    cwd = tmp_path_factory.mktemp("cwd")
    monkeypatch.chdir(cwd)
    return cwd


def test_one_row_per_run_and_per_score(tmp_path, elsewhere, capsys):
    R = [[0.9, None, None], [0.7, 0.8, None], [0.6, 0.7, 0.85]]
    record = make_record("finetune", 1, tasks=("sst2", "mrpc", "rte"), R=R)
    record["R_val"] = [[0.88, None, None], [0.75, 0.81, None], [0.62, 0.72, 0.8]]
    record["R_val_metrics"] = [[None if v is None else {"score": v, "accuracy": v} for v in row]
                               for row in record["R_val"]]
    write(tmp_path / "runs" / "sub", record)
    joint = make_record("joint", 1, tasks=("sst2", "mrpc", "rte"), plan=[[0, 1, 2]], R=[[0.85, 0.8, 0.9]])
    write(tmp_path / "runs", joint)
    write(tmp_path / "runs", make_record("finetune", 2, status="failed"))  # left out
    assert main(["export", str(tmp_path / "runs")]) == 0
    assert "export: 2 complete runs; left out 1 unfinished (1 failed); 15 scores" in capsys.readouterr().err
    runs = pd.read_csv(elsewhere / "export" / "runs.csv")
    scores = pd.read_csv(elsewhere / "export" / "scores.csv")
    assert sorted(runs["strategy"]) == ["finetune", "joint"]
    assert set(runs["file"]) == {f"sub/{record['run_id']}.json", f"{joint['run_id']}.json"}  # relative
    assert not runs.drop(columns=["file"]).astype(str).apply(lambda c: c.str.contains(str(tmp_path))).any().any()
    # finetune: 6 test + 6 validation scores; joint: 3 test scores after its one phase
    ft = scores[scores["strategy"] == "finetune"]
    assert (ft["split"] == "test").sum() == 6 and (ft["split"] == "validation").sum() == 6
    assert len(scores[scores["strategy"] == "joint"]) == 3
    row = ft[(ft["split"] == "test") & (ft["phase"] == 2) & (ft["task"] == "sst2")].iloc[0]
    assert (row["score"], row["learned_in_phase"], row["phases_since_learned"], row["task_position"]) == (0.6, 0, 2, 0)
    assert row["phase_tasks"] == "rte" and row["seed"] == 1 and row["config"] == "finetune"
    val = ft[(ft["split"] == "validation") & (ft["phase"] == 1) & (ft["task"] == "mrpc")].iloc[0]
    assert val["score"] == 0.81 and val["metric_accuracy"] == 0.81
    assert scores[scores["strategy"] == "joint"]["phase_tasks"].unique().tolist() == ["sst2+mrpc+rte"]
    # the summary metrics per run are the record's
    assert runs.loc[runs["strategy"] == "finetune", "final_average"].iloc[0] == pytest.approx(record["metrics"]["final_average"])


def test_export_refuses_to_write_into_the_folder_it_reads(tmp_path, monkeypatch, capsys):
    write(tmp_path, make_record("finetune", 0))
    monkeypatch.chdir(tmp_path)
    assert main(["export", str(tmp_path)]) == 2
    assert "the default output ./export is inside the results folder" in capsys.readouterr().err
    assert main(["export", str(tmp_path), "--out", str(tmp_path / "here")]) == 0  # asked for: written
    assert (tmp_path / "here" / "scores.csv").exists()
