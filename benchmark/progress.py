"""The whole run's progress, with an estimate of the time left: a tqdm bar above the per-phase
bars in a terminal; where the output is not a terminal (a log file, a cluster job's output, where
tqdm draws nothing), one line every `every` seconds."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

now: Callable[[], float] = time.monotonic  # the clock (a test replaces it)


def clock_time(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class RunProgress:
    """Steps done out of the run's steps (phases' step counts, each corrected when the phase
    starts: a strategy's batches may take more), the elapsed time and the time left at the rate
    of the steps done in this process (a resumed run counts from where it resumed).

    With `evals_per_phase` (the task evaluations after each phase: phase p scores every task
    learned by then, so later phases cost more), the time left is training at the rate of the
    training steps alone plus the evaluations left at the measured seconds per evaluation, rather
    than the evaluation pauses spread evenly over the steps; before the first evaluation is timed
    the line says that it leaves them out."""

    def __init__(self, steps_per_phase: list[int], done_phases: int = 0, *, stream: TextIO | None = None,
                 every: float = 30.0, label: str = "run", evals_per_phase: list[int] | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.steps = list(steps_per_phase)
        self.phase = done_phases
        self.done = self.first = sum(self.steps[:done_phases])
        self.every, self.label = every, label
        self.start = self.last = now()
        self.evals = evals_per_phase
        self.evaluated = done_phases  # phases whose evaluation is behind us
        self.eval_seconds, self.evals_timed = 0.0, 0
        self.bar = None
        if self.stream.isatty():
            from tqdm.auto import tqdm

            self.bar = tqdm(total=self.total, initial=self.done, desc=label, file=self.stream, position=0,
                            dynamic_ncols=True, unit="step")

    @property
    def total(self) -> int:
        return sum(self.steps)

    def begin_phase(self, index: int, steps: int) -> None:
        self.phase, self.steps[index] = index, steps
        if self.bar is not None:
            self.bar.total = self.total
            self.bar.refresh()

    def step(self) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.update(1)
            return
        t = now()
        if t - self.last >= self.every:
            self.last = t
            print(self.line(t), file=self.stream, flush=True)

    def evaluated_phase(self, seconds: float) -> None:
        """The evaluation after phase `self.evaluated` took `seconds` (as the runner measured it)."""
        if self.evals is not None:
            self.eval_seconds += seconds
            self.evals_timed += self.evals[self.evaluated]
        self.evaluated += 1

    def line(self, t: float | None = None) -> str:
        elapsed = (now() if t is None else t) - self.start
        done, total = self.done, self.total
        training = elapsed - self.eval_seconds if self.evals is not None else elapsed
        rate = (done - self.first) / training if training > 0 else 0.0
        eta = clock_time((total - done) / rate + self._eval_left()) if rate > 0 else "?"
        if self.evals is not None and not self.evals_timed and sum(self.evals[self.evaluated:]):
            eta += " plus evaluation"
        return (f"{self.label}: step {done}/{total} ({100 * done / max(total, 1):.0f}%), phase "
                f"{self.phase + 1}/{len(self.steps)}, {clock_time(elapsed)} elapsed, ETA {eta}")

    def _eval_left(self) -> float:
        """Seconds the evaluations still to come should take, at the measured rate (0 before one is timed)."""
        if self.evals is None or not self.evals_timed:
            return 0.0
        return sum(self.evals[self.evaluated:]) * self.eval_seconds / self.evals_timed

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
