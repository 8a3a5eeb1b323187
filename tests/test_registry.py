"""Registry: one-line registration, duplicate and type checks, did-you-mean, entry points."""

import importlib.metadata
import sys
import types

import pytest

from benchmark.errors import UsageError
from benchmark.registry import Registry
from strategies.base import STRATEGIES, BaseStrategy


class Base:
    pass


def test_register_and_get():
    reg = Registry("widget", base=Base)

    @reg.register("spinner")
    class Spinner(Base):
        pass

    assert reg.get("spinner") is Spinner
    assert reg.names() == ["spinner"] and "spinner" in reg and len(reg) == 1
    assert reg.names("sp*") == ["spinner"] and reg.names("x*") == []


def test_duplicate_and_wrong_base_are_refused():
    reg = Registry("widget", base=Base)
    reg.add("a", type("A", (Base,), {}))
    with pytest.raises(ValueError, match="already registered"):
        reg.add("a", type("A2", (Base,), {}))
    with pytest.raises(TypeError, match="must subclass Base"):
        reg.add("b", type("B", (), {}))
    with pytest.raises(ValueError, match="non-empty word"):
        reg.add("has space", type("C", (Base,), {}))


def test_unknown_name_suggests_the_closest_and_lists_all():
    with pytest.raises(UsageError) as info:
        STRATEGIES.get("fintune")
    message = str(info.value)
    assert "Did you mean 'finetune'?" in message
    assert "joint" in message and "\n" not in message


def test_builtins_are_loaded_lazily():
    reg = Registry("strategy", builtins="strategies")
    assert reg._items == {}
    # the built-in module registers into STRATEGIES, not into this registry: nothing leaks across
    assert reg.names() == []


def test_entry_point_plugins_are_loaded(monkeypatch):
    module = types.ModuleType("cmtbench_fake_plugin")

    class Plugin(BaseStrategy):
        """A third-party strategy."""

    module.Plugin = Plugin
    monkeypatch.setitem(sys.modules, "cmtbench_fake_plugin", module)
    ep = importlib.metadata.EntryPoint("fake-plugin", "cmtbench_fake_plugin:Plugin", "cmtbench.strategies")

    def fake_entry_points(group=None):
        return [ep] if group == "cmtbench.strategies" else []

    monkeypatch.setattr(importlib.metadata, "entry_points", fake_entry_points)
    reg = Registry("strategy", base=BaseStrategy, entry_point_group="cmtbench.strategies")
    assert reg.get("fake-plugin") is Plugin
    assert Plugin.name == "fake-plugin"


def test_broken_plugin_gives_a_usage_error(monkeypatch):
    ep = importlib.metadata.EntryPoint("broken", "no_such_module_xyz:Thing", "cmtbench.strategies")
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group=None: [ep])
    reg = Registry("strategy", entry_point_group="cmtbench.strategies")
    with pytest.raises(UsageError, match="plug-in 'broken'"):
        reg.names()
