"""Independent single-task fine-tuning: each task gets a fresh copy of the pretrained backbone and
fine-tunes it alone. The classic "one model per task" baseline of continual learning: nothing is
shared, so nothing is forgotten and nothing transfers, and the parameters added per task are the
whole model. Its scores are also each task's single-task reference (benchmark/reference.py): the
normalised score of every other strategy is measured against them.
"""

from __future__ import annotations

import copy

from strategies.base import BaseStrategy, Phase, register


@register("independent")
class Independent(BaseStrategy):
    """A fresh copy of the backbone per task, fine-tuned on it alone (single-task reference)."""

    scenarios = ("task-incremental",)  # a task's copy is chosen by its task id

    def setup(self, model, ctx) -> None:
        super().setup(model, ctx)
        model.route_by_task = True
        for p in model.encoder.parameters():  # the shared encoder stays the pretrained one
            p.requires_grad_(False)

    def before_task(self, phase: Phase) -> None:
        current = {str(t.index) for t in phase.tasks}
        for key in current:
            if key not in self.model.task_encoders:
                encoder = copy.deepcopy(self.model.encoder)
                self.model.task_encoders[key] = encoder
        for key, encoder in self.model.task_encoders.items():
            encoder.requires_grad_(key in current)
        for index, spec in self.model.specs.items():
            self.model.heads[spec.name].requires_grad_(str(index) in current)
        super().before_task(phase)
