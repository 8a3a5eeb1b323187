"""LayerNorm tuning (Zhao et al. 2024, "Tuning LayerNorm in Attention: Towards Efficient
Multi-Modal LLM Finetuning"), through peft: each task trains its own copy of every LayerNorm,
y = g_t * norm(x) + b_t. One named peft adapter per task, switched by task id.

Per task: (2L + 1) * 2H: 38,400 for BERT-base. It patches the same parameters as `scale-bias`
(without its linear biases), by the library instead of by hand: the two must agree.
Needs the optional extra: pip install 'cmtbench[peft]'.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from strategies._patching import PeftStrategy, PeftStrategyConfig, import_peft, target_list
from strategies.base import register


@dataclass
class LNTuningStrategyConfig(PeftStrategyConfig):
    lr: float = field(default=1e-3, metadata={"help": "AdamW learning rate"})
    target_modules: str = field(default="LayerNorm", metadata={"help": "LayerNorm module names: suffixes or one regex"})


@register("ln-tuning")
class LNTuning(PeftStrategy):
    """Frozen backbone; per-task LayerNorm gains and biases (peft LN tuning)."""

    Config = LNTuningStrategyConfig

    def peft_config(self) -> Any:
        return import_peft(self.name).LNTuningConfig(target_modules=target_list(self.config.target_modules))
