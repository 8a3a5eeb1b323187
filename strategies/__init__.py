"""Continual-learning strategies, one module each. Each registers itself with its one decorator
line into `benchmark.api.STRATEGIES`, which imports a strategy's module on the first lookup of its
name: importing this package imports no strategy, and no list here needs keeping up to date."""

from strategies.base import STRATEGIES, BaseStrategy, Phase, StateSize, StrategyConfig, register

__all__ = ["STRATEGIES", "BaseStrategy", "Phase", "StateSize", "StrategyConfig", "register"]
