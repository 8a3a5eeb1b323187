"""Coreset selectors: which examples of a finished task a replay memory keeps. Importing this
package imports every module in it, so each selector registers itself with its decorator line."""

import importlib
import pkgutil

from data_selection.base import SELECTORS, SelectionContext, Selector, get_selector, register

for _module in pkgutil.iter_modules(__path__):
    if _module.name != "base" and not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["SELECTORS", "SelectionContext", "Selector", "get_selector", "register"]
