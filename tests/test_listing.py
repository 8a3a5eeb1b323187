"""`list`: every name a user can give, one line each, read without importing the plug-ins; the
registry's families of names (`avalanche:<Name>`) resolved on first lookup."""

import subprocess
import sys
from pathlib import Path

import pytest

from benchmark.__main__ import main
from benchmark.errors import UsageError
from benchmark.registry import Registry, declared

ROOT = Path(__file__).parents[1]


def test_list_imports_neither_torch_nor_a_plugin():
    # the overview reads the plug-in modules' source (ast): importing them would import torch,
    # seconds on a busy CPU for every strategy module
    code = """
import sys
from benchmark.__main__ import main
main(["list"])
heavy = sorted(m for m in sys.modules if m == "torch" or m.startswith(("strategies.", "data_selection.", "benchmark.samplers")))
print("IMPORTED", heavy)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    assert out.splitlines()[-1] == "IMPORTED []"
    for line in ("  finetune ", "  herding ", "  temperature ", "  text5 ", "  minilm ", "  avalanche:EWC "):
        assert line in out, line
    assert "orders: default, random, 1, 2, 3, 4" in out  # streams name their orders
    # one column of names: every description starts where the others do
    described = [line for line in out.splitlines() if line.startswith("  ") and not line.startswith("   ")]
    assert len({len(line) - len(line[2:].split(" ", 1)[1].lstrip()) for line in described}) == 1


def test_every_summary_is_a_whole_sentence():
    """The overview shows a docstring's first line: it must not stop mid-sentence."""
    from benchmark.plugins import SELECTORS, STRATEGIES

    for registry in (STRATEGIES, SELECTORS):
        cut = {n: s for n, s in registry.summaries().items() if not s.endswith(".")}
        assert not cut, f"{registry.kind} summaries cut mid-sentence: {cut}"


def test_the_overview_matches_the_registered_plugins():
    # the source-read summaries name exactly what the registries hold once imported
    from benchmark.api import STRATEGIES
    from benchmark.samplers import SAMPLERS
    from data_selection import SELECTORS

    for registry in (STRATEGIES, SELECTORS, SAMPLERS):
        def own(names):  # the family's names are declared, not registered until looked up
            return {n for n in names if not n.startswith("avalanche:")}

        assert own(registry.summaries()) == own(registry.names()), registry.kind
    assert declared("strategies.finetune") == {"finetune": STRATEGIES.get("finetune").__doc__.splitlines()[0]}
    assert declared("benchmark.samplers")["sqrt"] == SAMPLERS.get("sqrt").formula


@pytest.mark.parametrize("args, expected", [
    (["--strategy", "ewc"], "ewc_lambda"),
    (["--selector", "herding"], "normalize=True"),
    (["--sampler", "temperature"], "formula: p_i"),
    (["--stream", "text5"], "order 4: agnews -> yelp"),
    (["--task", "rte"], "entailment, not_entailment"),
    (["--strategy", "avalanche:LwF"], "temperature"),
])
def test_list_shows_one_name_in_full(capsys, args, expected):
    assert main(["list", *args]) == 0
    assert expected in capsys.readouterr().out


def test_list_of_an_unknown_name_is_one_line_with_a_suggestion(capsys):
    assert main(["list", "--selector", "k-centre"]) == 2
    err = capsys.readouterr().err
    assert "Did you mean 'k-center'?" in err and err.count("\n") == 1


def test_a_family_resolves_on_first_lookup_and_refuses_unknown_members():
    reg = Registry("widget")
    made = []

    def make(member):
        if member not in ("A", "B"):
            raise UsageError(f"no widget {member!r}")
        made.append(member)
        return type(f"W{member}", (), {"__doc__": f"widget {member}"})

    reg.add_family("fam:", make, {"A": "first", "B": "second"})
    assert reg.summaries() == {"fam:A": "first", "fam:B": "second"} and made == []  # nothing resolved
    assert reg.get("fam:A").__name__ == "WA" and reg.get("fam:A") is reg.get("fam:A") and made == ["A"]
    assert reg.names() == ["fam:A"]  # names() holds what is registered
    with pytest.raises(UsageError, match="no widget 'C'"):
        reg.get("fam:C")
    with pytest.raises(UsageError, match=r"Known: fam:A, fam:\*"):
        reg.get("other")


def test_an_avalanche_name_runs_nothing_until_used():
    from benchmark.api import STRATEGIES

    cls = STRATEGIES.get("avalanche:EWC")
    assert cls.name == "avalanche:EWC" and cls.Config().ewc_lambda > 0
    with pytest.raises(UsageError, match="Did you mean 'avalanche:EWC'"):
        STRATEGIES.get("avalanche:EWc")
