"""Sequential fine-tuning: the whole shared backbone and a new head per task, trained on each task
in turn with nothing to protect earlier tasks. The lower bound every continual method must beat."""

from __future__ import annotations

from strategies.base import BaseStrategy, register


@register("finetune")
class Finetune(BaseStrategy):
    """Fine-tune the shared backbone on each task in turn (lower bound)."""
