"""Continual-learning strategies. Importing this package imports every module in it, so each
strategy registers itself with its one decorator line; no list to keep up to date here."""

import importlib
import pkgutil

from strategies.base import STRATEGIES, BaseStrategy, Phase, StateSize, StrategyConfig, register

for _module in pkgutil.iter_modules(__path__):
    if _module.name != "base" and not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["STRATEGIES", "BaseStrategy", "Phase", "StateSize", "StrategyConfig", "register"]
