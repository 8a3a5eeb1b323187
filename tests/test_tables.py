"""results/tables.py: the reference table's 95% confidence intervals, worked by hand."""

import importlib.util
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("tables", Path(__file__).parents[1] / "results" / "tables.py")
tables = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tables)


@pytest.mark.parametrize("values, expected", [
    # mean 72.0, sd 2.0, t(0.975, 2) = 4.3027: 4.3027 * 2 / sqrt(3) = 4.97
    ([0.70, 0.72, 0.74], "72.0 ± 5.0"),
    # mean 50.0, sd sqrt(62.5) = 7.906, t(0.975, 4) = 2.7764: 2.7764 * 7.906 / sqrt(5) = 9.82
    ([0.40, 0.45, 0.50, 0.55, 0.60], "50.0 ± 9.8"),
    ([0.81], "81.0 (1 seed)"),
    ([None, None], "-"),
])
def test_ci95_is_student_t_over_the_seeds(values, expected):
    assert tables.ci95(values) == expected


def test_reference_tasks_gives_each_task_final_and_just_learned_score_over_the_seeds(tmp_path):
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from run_records import make_record, write

    from benchmark.runs import load_frames

    tasks = ("sst2", "agnews")
    write(tmp_path, make_record("finetune", 0, tasks=tasks, R=[[0.80, None], [0.70, 0.90]], cpu_time_s=100.0))
    write(tmp_path, make_record("finetune", 1, tasks=tasks, R=[[0.84, None], [0.76, 0.86]], cpu_time_s=300.0))
    write(tmp_path, make_record("joint", 0, tasks=tasks, R=[[0.82, 0.92]], plan=[[0, 1]]))
    df, _ = load_frames([tmp_path])
    lines = tables.reference_tasks(df).splitlines()
    assert lines[0] == "| strategy | seeds | sst2: final (just learned) | agnews: final (just learned) |"
    # finetune: sst2 final (70 + 76) / 2 = 73.0, just learned (80 + 84) / 2 = 82.0; agnews 88.0 both
    assert "| finetune | 2 | 73.0 (82.0) | 88.0 (88.0) |" in lines
    assert "| joint | 1 | 82.0 (82.0) | 92.0 (92.0) |" in lines  # one phase: final is just learned
    # the reference table's cost: mean CPU s per run, and the sweep's total
    ref = tables.reference(df)
    assert "| 200 |" in next(line for line in ref.splitlines() if line.startswith("| finetune"))
    assert ref.splitlines()[-1].startswith("3 runs: ")
