"""LoRA (Hu et al. 2022, "LoRA: Low-Rank Adaptation of Large Language Models"), through peft:
each targeted linear map gets a low-rank update per task, W x + (alpha / r) B_t A_t x, with
A_t: H_in -> r (Kaiming-uniform) and B_t: r -> H_out (zeros), so an untrained adapter leaves the
backbone's output unchanged. One named peft adapter per task, switched by task id.

Per task: r * (H_in + H_out) per targeted map; 4 L r H for query and value (the paper's
choice and the default): 294,912 for BERT-base at r = 8.

Needs the optional extra: pip install 'cmtbench[peft]'.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from benchmark.errors import UsageError
from strategies._patching import PeftStrategy, PeftStrategyConfig, import_peft, target_list
from strategies.base import SearchSpace, register


@dataclass
class LoraStrategyConfig(PeftStrategyConfig):
    search_space: ClassVar[SearchSpace] = {**PeftStrategyConfig.search_space, "r": ("choice", [2, 4, 8, 16, 32])}

    lr: float = field(default=5e-4, metadata={"help": "AdamW learning rate (Hu et al. use 4e-4 to 5e-4 for RoBERTa-base)"})
    r: int = field(default=8, metadata={"help": "rank of each update"})
    alpha: int = field(default=16, metadata={"help": "scale: the update is multiplied by alpha / r"})
    dropout: float = field(default=0.1, metadata={"help": "dropout on the adapter's input"})
    target_modules: str = field(
        default="query,value", metadata={"help": "comma-separated module-name suffixes, or one regex"})

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.r < 1:
            raise UsageError(f"r must be >= 1, not {self.r}")
        if self.alpha <= 0:
            raise UsageError(f"alpha must be > 0, not {self.alpha}")
        if not 0 <= self.dropout < 1:
            raise UsageError(f"dropout must be in [0, 1), not {self.dropout}")


@register("lora")
class Lora(PeftStrategy):
    """Frozen backbone; a LoRA adapter per task (peft)."""

    Config = LoraStrategyConfig

    def peft_config(self) -> Any:
        c = self.config
        return import_peft(self.name).LoraConfig(
            r=c.r, lora_alpha=c.alpha, lora_dropout=c.dropout, target_modules=target_list(c.target_modules),
            bias="none",
        )
