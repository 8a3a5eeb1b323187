"""Sweeps through submitit (`sweep --executor submitit`): the runs go out as jobs and the sweep's
bookkeeping (skip complete runs, report failures, exit codes) is the same as for local runs."""

import json

import pytest

from benchmark.__main__ import main
from benchmark.results import read_run

pytest.importorskip("submitit")
TASKS2 = "syn_red,syn_blue"


@pytest.fixture
def tiny(tiny_model, synthetic_tasks, tmp_path):
    return ["--model", str(tiny_model), "--max-train", "32", "--max-eval", "32", "--max-length", "32",
            "--batch-size", "16", "--lr", "3e-3", "--output-dir", str(tmp_path / "out"), "--quiet",
            "--tasks", TASKS2]


def test_jobs_are_reported_skipped_when_complete_and_failures_named(tiny, tmp_path, capsys, monkeypatch):
    """submitit's debug executor runs the jobs in this process, through the same Job API (and
    opens the debugger on a failed job: not here)."""
    monkeypatch.setattr("pdb.post_mortem", lambda *a: None)
    argv = ["sweep", "--executor", "submitit", "--executor-set", "cluster=debug", "--strategies", "finetune,joint",
            *tiny]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.count("submitted as job") == 2 and out.count(": complete in ") == 2
    assert all(read_run(p)["status"] == "complete" for p in (tmp_path / "out").glob("*.json"))
    assert main(argv) == 0
    assert capsys.readouterr().out.count("skipped, already complete") == 2
    # a run that fails in its job (the tiny model has 64 positions) is reported, and exit code 1
    assert main([*argv, "--max-length", "100"]) == 1
    out = capsys.readouterr().out
    assert out.count("FAILED after") == 2 and "is beyond the 64 positions" in out


def test_a_job_for_a_run_another_process_holds_is_skipped(tiny, tmp_path, capsys, monkeypatch):
    from run_records import lock_held

    from benchmark.__main__ import build_parser
    from benchmark.sweep import grid_from_args, plan

    monkeypatch.setattr("pdb.post_mortem", lambda *a: None)
    argv = ["sweep", "--executor", "submitit", "--executor-set", "cluster=debug", "--strategies", "finetune", *tiny]
    (busy,) = plan(*grid_from_args(build_parser().parse_args(argv)))
    with lock_held(tmp_path / "out", busy.run_id):
        assert main(argv) == 0
    out = capsys.readouterr().out
    assert ": skipped, in progress in another process (run " in out and "FAILED" not in out
    assert not busy.path.exists()


def test_a_cluster_job_refused_for_a_live_run_is_reported_as_in_progress():
    import submitit

    from benchmark.errors import RunInProgress
    from benchmark.sweep import JobFailed, _job_error

    trace = "Traceback (most recent call last):\n  File \"x.py\", line 1\n"
    exc = _job_error(submitit.core.utils.FailedJobError(
        trace + "benchmark.errors.RunInProgress: run abc is in progress in process 12 (it holds x)"))
    assert isinstance(exc, RunInProgress) and str(exc) == "run abc is in progress in process 12 (it holds x)"
    other = _job_error(submitit.core.utils.FailedJobError(trace + "ValueError: bad"))
    assert isinstance(other, JobFailed) and str(other) == "ValueError: bad"


@pytest.mark.slow
def test_local_jobs_give_the_run_of_this_process(tiny, tmp_path, capsys):
    """submitit's local executor: the run is a job in a fresh Python, which gets the tasks this
    process registered, and gives the R matrix of the same run made here."""
    argv = ["sweep", "--executor", "submitit", "--executor-set", "cluster=local", "timeout_min=10",
            "--strategies", "finetune", *tiny]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.count("submitted as job") == 1 and out.count(": complete in ") == 1
    (path,) = (tmp_path / "out").glob("finetune_*.json")
    assert list((tmp_path / "out" / "submitit").glob("*_log.out"))  # the job's logs
    assert main(["run", "--strategy", "finetune", *tiny, "--output-dir", str(tmp_path / "here")]) == 0
    (same,) = (tmp_path / "here").glob("finetune_*.json")
    assert json.loads(same.read_text())["R"] == read_run(path)["R"]


def test_executor_settings_need_the_executor_and_are_checked(tiny, capsys):
    assert main(["sweep", "--executor-set", "timeout_min=5", "--strategies", "finetune", *tiny]) == 2
    assert "--executor-set is for --executor submitit" in capsys.readouterr().err
    assert main(["sweep", "--executor", "submitit", "--executor-set", "cluster=nowhere",
                 "--strategies", "finetune", *tiny]) == 2
    assert "--executor-set: " in capsys.readouterr().err
