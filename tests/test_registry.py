"""Registry: one-line registration, duplicate and type checks, did-you-mean, entry points."""

import importlib.metadata
import subprocess
import sys
import types
from pathlib import Path

import pytest

from benchmark.api import STRATEGIES
from benchmark.errors import UsageError
from benchmark.registry import Registry
from strategies.base import BaseStrategy


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


def test_the_harness_imports_no_plugin():
    # the harness reaches strategies through benchmark.api.STRATEGIES, which imports a strategy's
    # module on the first lookup of its name: importing the harness loads none of them
    code = """
import sys
import benchmark.runner, benchmark.__main__, benchmark.sweep, benchmark.tune
def plugins():
    return sorted(m for m in sys.modules
                  if m.startswith(("strategies.", "data_selection.")) or m == "sklearn.cluster")
print(plugins())
from benchmark.api import STRATEGIES
STRATEGIES.get("finetune")
print(plugins())
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).parents[1]).stdout.splitlines()
    assert out == ["[]", "['strategies.base', 'strategies.finetune']"]


@pytest.fixture
def plugin_package(tmp_path, monkeypatch):
    """A package `fakeplugins` with a working module `good` and a module `bad` that fails."""
    package = tmp_path / "fakeplugins"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "good.py").write_text("from tests_registry_target import REG\nREG.add('good', object())\n")
    (package / "bad.py").write_text("import no_such_dependency_xyz\n")
    (package / "good_too.py").write_text("from tests_registry_target import REG\nREG.add('other-name', object())\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    reg = Registry("widget", builtins="fakeplugins")
    target = types.ModuleType("tests_registry_target")
    target.REG = reg
    monkeypatch.setitem(sys.modules, "tests_registry_target", target)
    yield reg
    for name in [m for m in sys.modules if m.startswith("fakeplugins")]:
        del sys.modules[name]


def test_a_lookup_imports_only_the_module_named_after_it(plugin_package):
    reg = plugin_package
    assert reg.get("good") is not None
    assert "fakeplugins.good" in sys.modules and "fakeplugins.good_too" not in sys.modules
    assert reg.get("other-name") is not None  # not named after its module: every module is imported


def test_a_broken_builtin_module_breaks_only_its_name(plugin_package):
    reg = plugin_package
    with pytest.raises(UsageError, match=r"module fakeplugins\.bad failed to import: ModuleNotFoundError"):
        reg.get("bad")
    assert reg.get("good") is not None and reg.names() == ["good", "other-name"]
    assert list(reg.broken()) == ["bad"]
    with pytest.raises(UsageError, match="unknown widget 'nothing'.*fakeplugins.bad failed"):
        reg.get("nothing")  # an unknown name says what could not be loaded


def test_base_can_be_named_lazily():
    reg = Registry("strategy", base="strategies.base:BaseStrategy")
    with pytest.raises(TypeError, match="must subclass BaseStrategy"):
        reg.add("x", type("X", (), {}))
    reg.add("y", type("Y", (BaseStrategy,), {}))
    assert reg.names() == ["y"]


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


def test_a_broken_plugin_breaks_only_its_name(monkeypatch):
    eps = [importlib.metadata.EntryPoint("broken", "no_such_module_xyz:Thing", "cmtbench.strategies"),
           importlib.metadata.EntryPoint("fine", "types:SimpleNamespace", "cmtbench.strategies")]
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group=None: eps)
    reg = Registry("strategy", entry_point_group="cmtbench.strategies")
    assert reg.names() == ["fine"] and reg.get("fine") is types.SimpleNamespace
    with pytest.raises(UsageError, match=r"plug-in 'broken' \(no_such_module_xyz:Thing\) failed to import"):
        reg.get("broken")
    assert "broken" in reg.broken()
