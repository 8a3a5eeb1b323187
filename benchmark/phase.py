"""A training phase: the tasks a strategy trains in one go (benchmark/api.py re-exports it).

Its own module, below everything that uses it: the run context and the samplers batch a phase,
the strategy contract (benchmark/api.py) hands it to every hook, and neither needs the other.
"""

from __future__ import annotations

from dataclasses import dataclass

from benchmark.data import TaskData


@dataclass
class Phase:
    """One training phase: usually a single task; several when a strategy trains them together."""

    index: int
    tasks: list[TaskData]
    # optimizer steps the phase trains: the length of the strategy's `batches(phase)`, set by the
    # runner before `before_task` (None: not known yet; `RunContext.num_steps` gives the plain count)
    steps: int | None = None

    @property
    def task(self) -> TaskData:
        if len(self.tasks) != 1:
            raise RuntimeError(f"phase {self.index} trains {len(self.tasks)} tasks, not one")
        return self.tasks[0]

    @property
    def names(self) -> list[str]:
        return [t.name for t in self.tasks]
