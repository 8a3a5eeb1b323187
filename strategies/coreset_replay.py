"""Coreset replay: experience replay (strategies/replay.py) whose memory is chosen by a coreset
selector from data_selection instead of at random, e.g. herding per class as in iCaRL (Rebuffi et
al., 2017, Algorithm 4), k-center (Sener & Savarese, 2018) or predictive entropy. The training loss
is replay's: each batch of the current task plus a uniform draw from the memory."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from data_selection.base import SELECTORS
from strategies.base import SearchSpace, register
from strategies.replay import Replay, ReplayConfig


@dataclass
class CoresetReplayConfig(ReplayConfig):
    search_space: ClassVar[SearchSpace] = {**ReplayConfig.search_space, "selector": ("choice", [
        "random", "class-balanced", "herding", "k-center", "k-means", "entropy", "margin", "el2n"])}

    selector: str = field(default="herding", metadata={
        "help": "coreset selector from data_selection (random, class-balanced, herding, k-center, "
                "k-means, entropy, margin, el2n, ...)"})
    herding_normalize: bool = field(default=True, metadata={
        "help": "herding: L2-normalise the embeddings first, as iCaRL does (false: raw pooled vectors)"})

    def __post_init__(self) -> None:
        super().__post_init__()
        SELECTORS.get(self.selector)  # an unknown name fails here, with a did-you-mean


@register("coreset-replay")
class CoresetReplay(Replay):
    """Replay with a memory chosen by a coreset selector (default: herding per class)."""

    Config = CoresetReplayConfig

    def selector_name(self) -> str:
        return self.config.selector

    def selector_settings(self) -> dict[str, Any]:
        return {"normalize": self.config.herding_normalize} if self.config.selector == "herding" else {}
