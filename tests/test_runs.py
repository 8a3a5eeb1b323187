"""benchmark/runs.py, the one results loader: a row per complete run, with the flat columns the
leaderboard aggregates and the objects the figures and results/tables.py read."""

import math

import numpy as np
from run_records import make_record, write

from benchmark.runs import load_frames, load_runs


def test_a_row_per_complete_run_with_its_matrix_final_row_and_record(tmp_path):
    R = [[0.9, None, None], [0.7, 0.8, None], [0.6, 0.7, 0.5]]
    path = write(tmp_path, make_record("finetune", 0, tasks=("sst2", "rte", "mrpc"), R=R))
    write(tmp_path, make_record("finetune", 0, tasks=("sst2", "rte", "mrpc"), R=R), "z-copy.json")
    trial = make_record("ewc", 0, run_extra={"evaluate_test": False})  # a tuning trial: validation only
    trial["R_val"], trial["R_val_metrics"], trial["R"], trial["R_metrics"] = trial["R"], trial["R_metrics"], [], []
    write(tmp_path, trial)
    write(tmp_path, make_record("ewc", 1, status="interrupted"))
    # a run in progress keeps its phase checkpoints beside it: not runs, and no warning
    (tmp_path / "checkpoints" / "ewc_s1").mkdir(parents=True)
    (tmp_path / "checkpoints" / "ewc_s1" / "phase-1.json").write_text('{"phase": 1}')
    warnings = []
    loaded = load_runs(tmp_path, warnings.append)
    assert len(loaded.frame) == 1 and dict(loaded.incomplete) == {"validation-only (tuning)": 1, "interrupted": 1}
    assert warnings == [f"{tmp_path / 'z-copy.json'}: skipped, the same run as {path}"]
    row = loaded.frame.iloc[0]
    assert row["path"] == str(path) and row["record"]["run_id"] == row["run_id"]
    assert isinstance(row["R"], np.ndarray) and row["R"].shape == (3, 3)
    assert row["R"][1, 0] == 0.7 and math.isnan(row["R"][0, 2])  # not evaluated: NaN
    assert row["final"] == {"sst2": 0.6, "rte": 0.7, "mrpc": 0.5}
    assert loaded.summary() == "1 complete runs; left out 2 unfinished (1 interrupted, 1 validation-only (tuning)); 1 files not read (warnings above)"


def test_folders_load_apart_and_join_in_their_order(tmp_path):
    write(tmp_path / "a", make_record("finetune", 0))
    write(tmp_path / "b", make_record("ewc", 0))
    write(tmp_path / "b", make_record("ewc", 1, status="failed"))
    frame, loaded = load_frames([tmp_path / "b", tmp_path / "a"])
    assert list(frame["strategy"]) == ["ewc", "finetune"]
    assert [x.summary() for x in loaded] == ["1 complete runs; left out 1 unfinished (1 failed)", "1 complete runs"]
