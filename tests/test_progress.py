"""The whole run's progress line (benchmark/progress.py), on a fake clock."""

from __future__ import annotations

import io

from benchmark import progress
from benchmark.progress import RunProgress


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_without_a_terminal_a_line_every_30_seconds_with_the_time_left(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(progress, "now", clock)
    out = io.StringIO()  # not a terminal: tqdm would draw nothing there
    bar = RunProgress([10, 10], stream=out, label="run-x")
    bar.begin_phase(0, 10)
    for _ in range(5):  # 5 steps of 10 s: lines at 30 s and 50 s... only once 30 s have passed since the last
        clock.t += 10
        bar.step()
    lines = out.getvalue().splitlines()
    assert lines == ["run-x: step 3/20 (15%), phase 1/2, 0:00:30 elapsed, ETA 0:02:50"]
    bar.begin_phase(1, 15)  # the phase's batches turned out to be 15 steps
    for _ in range(5):
        clock.t += 10
        bar.step()
    # 6 steps at 10 s each: 15 steps left of 25 take 150 s
    assert out.getvalue().splitlines()[1:] == ["run-x: step 6/25 (24%), phase 2/2, 0:01:00 elapsed, ETA 0:03:10",
                                               "run-x: step 9/25 (36%), phase 2/2, 0:01:30 elapsed, ETA 0:02:40"]


def test_a_resumed_run_counts_its_rate_from_where_it_resumed(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(progress, "now", clock)
    out = io.StringIO()
    bar = RunProgress([10, 10, 10], done_phases=2, stream=out, every=1)
    clock.t += 4
    bar.step()  # one step in 4 s; 9 left
    assert out.getvalue().strip() == "run: step 21/30 (70%), phase 3/3, 0:00:04 elapsed, ETA 0:00:36"


def test_in_a_terminal_a_bar_and_no_lines(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(progress, "now", clock)

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    out = Terminal()
    bar = RunProgress([4], stream=out, every=0)
    for _ in range(4):
        clock.t += 60
        bar.step()
    bar.close()
    assert "step 4/4" not in out.getvalue() and "4/4" in out.getvalue()  # tqdm's bar, not the line


def test_the_time_left_counts_evaluations_at_their_measured_rate(monkeypatch):
    """Training at the rate of training steps, plus the evaluations still to come (phase 2 scores
    two tasks) at the seconds one evaluation took: not the evaluation pause spread over the steps."""
    clock = FakeClock()
    monkeypatch.setattr(progress, "now", clock)
    out = io.StringIO()
    bar = RunProgress([10, 10], stream=out, every=5, evals_per_phase=[1, 2])
    bar.begin_phase(0, 10)
    for _ in range(5):
        clock.t += 1
        bar.step()
    # 5 steps in 5 s, 15 left: 15 s of training; no evaluation timed yet
    assert out.getvalue().splitlines() == ["run: step 5/20 (25%), phase 1/2, 0:00:05 elapsed, ETA 0:00:15 plus evaluation"]
    for _ in range(5):
        clock.t += 1
        bar.step()
    clock.t += 30  # one evaluation: 30 s
    bar.evaluated_phase(30.0)
    bar.begin_phase(1, 10)
    clock.t += 1
    bar.step()
    # 41 s elapsed, 11 of them training (1 step/s): 9 steps (9 s) + 2 evaluations (60 s) left;
    # spreading the pause over the steps would have said 9 x 41/11 = 34 s
    assert out.getvalue().splitlines()[-1] == "run: step 11/20 (55%), phase 2/2, 0:00:41 elapsed, ETA 0:01:09"


def test_a_run_reports_its_progress_with_evaluations_counted(make_small_config, monkeypatch, capsys):
    """Through the runner: the progress lines (a clock that moves 40 s per reading, so every step
    prints) come out, and the phase's evaluation has been timed by the second phase."""
    from benchmark.runner import run

    clock = FakeClock()

    def tick() -> float:
        clock.t += 40
        return clock.t

    monkeypatch.setattr(progress, "now", tick)
    record = run(make_small_config(progress=True))
    lines = [line for line in capsys.readouterr().err.splitlines() if " elapsed, ETA " in line]
    assert record["status"] == "complete" and lines
    first = [line for line in lines if "phase 1/2" in line]
    second = [line for line in lines if "phase 2/2" in line]
    assert first and all(line.endswith(" plus evaluation") for line in first)  # phase 1 has not been scored yet
    assert second and not any("plus evaluation" in line for line in second)
