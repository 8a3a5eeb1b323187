"""Coreset selectors: which examples of a finished task a replay memory keeps, one module each.
Each registers itself with its decorator line into `SELECTORS`, which imports a selector's module
on the first lookup of its name: importing this package imports no selector."""

from data_selection.base import SELECTORS, SelectionContext, Selector, get_selector, register

__all__ = ["SELECTORS", "SelectionContext", "Selector", "get_selector", "register"]
