"""(IA)^3 (Liu et al. 2022, "Few-Shot Parameter-Efficient Fine-Tuning is Better and Cheaper than
In-Context Learning"), through peft: each task learns vectors that rescale the keys, the values
and the inner feed-forward activations, k_t = l_k * k, v_t = l_v * v, FFN = W_2 (l_ff * gelu(W_1 x)),
all ones at the start. One named peft adapter per task, switched by task id.

Per task: L (2H + I): 55,296 for BERT-base.

The default targets are written for BERT-like encoders: `key`, `value` and the feed-forward's
second projection `layer.N.output.dense` (whose input is the inner activation), not the attention
block's `attention.output.dense`. Needs the optional extra: pip install 'cmtbench[peft]'.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from strategies._patching import PeftStrategy, PeftStrategyConfig, import_peft, target_list
from strategies.base import register

FFN_OUT = r".*\.layer\.\d+\.output\.dense"


@dataclass
class IA3StrategyConfig(PeftStrategyConfig):
    lr: float = field(default=3e-3, metadata={"help": "AdamW learning rate (Liu et al. use 3e-3)"})
    target_modules: str = field(
        default=rf".*\.(key|value)|{FFN_OUT}", metadata={"help": "modules to rescale: suffixes or one regex"})
    feedforward_modules: str = field(
        default=FFN_OUT, metadata={"help": "of those, the ones whose input (not output) is rescaled"})


@register("ia3")
class IA3(PeftStrategy):
    """Frozen backbone; per-task (IA)^3 rescaling vectors (peft)."""

    Config = IA3StrategyConfig

    def peft_config(self) -> Any:
        c = self.config
        return import_peft(self.name).IA3Config(
            target_modules=target_list(c.target_modules), feedforward_modules=target_list(c.feedforward_modules)
        )
