"""Continual-learning strategies; importing this package registers the built-in ones."""

from strategies import finetune, joint  # noqa: F401  (registration side effects)
from strategies.base import STRATEGIES, BaseStrategy, Phase, StateSize, StrategyConfig, register

__all__ = ["STRATEGIES", "BaseStrategy", "Phase", "StateSize", "StrategyConfig", "register"]
