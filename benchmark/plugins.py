"""The plug-in registries: strategies, coreset selectors and task samplers.

They live here, in a module that imports neither torch nor any plug-in, so that `list` can name
and describe every plug-in in a fraction of a second (`Registry.summaries` reads the built-in
modules' source); looking a name up imports its module. The homes the code imports them from
stay as they were: `benchmark.api.STRATEGIES`, `data_selection.SELECTORS`,
`benchmark.samplers.SAMPLERS`.
"""

from __future__ import annotations

from benchmark.interop import AVALANCHE_STRATEGIES
from benchmark.registry import Registry

STRATEGIES: Registry = Registry(
    "strategy", base="strategies.base:BaseStrategy", entry_point_group="cmtbench.strategies",
    builtins="strategies",
)
# Avalanche's training strategies as `avalanche:<Name>` (benchmark/interop/avalanche.py; the
# `avalanche` extra): resolved on first lookup, so nothing imports Avalanche until one is named.
STRATEGIES.add_family("avalanche:", "benchmark.interop.avalanche:strategy_class", AVALANCHE_STRATEGIES)

SELECTORS: Registry = Registry("selector", entry_point_group="cmtbench.selectors", builtins="data_selection")

SAMPLERS: Registry = Registry("sampler", base="benchmark.samplers:TaskSampler",
                              entry_point_group="cmtbench.samplers", builtins="benchmark.samplers")
