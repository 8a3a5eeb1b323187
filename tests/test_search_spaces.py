"""Every registered strategy declares a search space for `tune`: each key is a setting of its
Config, each range has a known kind, and configs at the ends of every range (every value of a
choice) pass the Config's own checks."""

import dataclasses
import math

import pytest

from strategies.base import STRATEGIES, StrategyConfig

KINDS = {"log", "float", "int", "log-int", "choice"}


def candidates(spec: tuple) -> list:
    kind, *args = spec
    if kind == "choice":
        return list(args[0])
    low, high = args
    mid = math.sqrt(low * high) if kind.startswith("log") else (low + high) / 2
    return [low, int(round(mid)) if kind.endswith("int") else mid, high]


@pytest.mark.parametrize("name", STRATEGIES.names())
def test_search_space_names_settings_with_valid_ranges(name):
    config = STRATEGIES.get(name).Config
    space = config.search_space
    assert issubclass(config, StrategyConfig)
    assert "lr" in space, "every strategy tunes its learning rate"
    fields = {f.name for f in dataclasses.fields(config)}
    for key, spec in space.items():
        assert key in fields, f"{name}: search_space key {key!r} is not a setting of {config.__name__}"
        kind = spec[0]
        assert kind in KINDS, f"{name}.{key}: unknown kind {kind!r}"
        if kind == "choice":
            assert len(spec) == 2 and len(spec[1]) >= 2
        else:
            low, high = spec[1:]
            assert low < high and (low > 0 if kind.startswith("log") else True)
            if kind.endswith("int"):
                assert isinstance(low, int) and isinstance(high, int)
        for value in candidates(spec):  # each value alone, on top of the defaults
            config(**{key: value})
    # and every setting at its low end together, then its high end (a choice's first and last)
    for end in (0, -1):
        config(**{key: candidates(spec)[end] for key, spec in space.items()})


def test_patch_strategies_search_larger_learning_rates_than_full_fine_tuning():
    high = {name: STRATEGIES.get(name).Config.search_space["lr"][2] for name in STRATEGIES.names()}
    assert high["finetune"] <= 1e-3 and high["ewc"] <= 1e-3
    assert all(high[n] >= 1e-2 for n in ("lora", "bitfit", "adapters", "pals", "head-only"))
