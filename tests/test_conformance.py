"""Every registered strategy, and every selector (through coreset-replay), on a tiny 2-task stream
(a regression, then a classification): finite losses, a complete record with the result schema and
integer parameter accounting, the same R for the same seed, and the same R after an interruption
and --resume. A strategy or selector registered later gets these checks for free.

The model is read and the tasks tokenised once for the module (`cached_loading`); each run gets
its own copies."""

import math
import warnings

import pytest
from conftest import interrupt_in_phase

from benchmark.errors import UsageError
from benchmark.results import REQUIRED_KEYS, read_run
from benchmark.runner import Runner, run
from data_selection import SELECTORS
from strategies import STRATEGIES

ACCOUNTING = ("head_params", "patch_params", "params_added", "trainable_params", "state_floats",
              "memory_examples", "memory_tokens")
pytestmark = pytest.mark.usefixtures("cached_loading")

# settings that keep a strategy's check fast without skipping what it does: MbPA++ adapts on
# every test example at test time (30 steps on 32 neighbours by default)
FAST = {"mbpa": {"adapt_steps": "1", "neighbours": "4"}}
CASES = [pytest.param(name, FAST.get(name, {}), id=name) for name in STRATEGIES.names()] + [
    # a budget below the task size, so the selector really chooses
    pytest.param("coreset-replay", {"selector": s, "budget": "12"}, id=f"coreset-replay[{s}]")
    for s in SELECTORS.names()
]


@pytest.mark.parametrize(("strategy", "settings"), CASES)
def test_strategy_conformance(strategy, settings, make_small_config, tmp_path, monkeypatch):
    def config(out: str, **kw):
        return make_small_config(strategy=strategy, output_dir=str(tmp_path / out),
                                 strategy_config={"lr": "3e-3", **settings}, **kw)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        full = run(config("a"))
    # its kept state is declared (`kept`), not left to the trailing-underscore convention
    assert not [w for w in caught if "trailing-underscore" in str(w.message)]
    assert full["status"] == "complete" and full["error"] is None
    assert all(k in full for k in REQUIRED_KEYS)
    assert len(full["R"]) == len(full["plan"]) and full["R"][-1][0] is not None
    assert all(math.isfinite(v) for row in full["R"] for v in row if v is not None)
    for phase in full["phases"]:
        assert phase["steps"] > 0 and math.isfinite(phase["mean_loss"]) and math.isfinite(phase["last_loss"])
        for key in ACCOUNTING:
            assert isinstance(phase[key], int) and phase[key] >= 0, (key, phase[key])
        assert phase["params_added"] == phase["head_params"] + phase["patch_params"]
        assert phase["trainable_params"] > 0
    assert isinstance(full["cost"]["params_added"], int)

    if len(full["plan"]) < 2:  # one phase (joint training): nothing to interrupt between phases
        assert run(config("b"))["R"] == full["R"]  # same seed, same numbers
        return
    # same seed, same numbers: a second run, cut after its first phase, scores that phase as the
    # first run did, and resumed it ends with the same R
    cls = STRATEGIES.get(strategy)
    original = interrupt_in_phase(monkeypatch, cls)
    with pytest.raises(KeyboardInterrupt):
        run(config("cut"))
    partial = read_run(Runner(config("cut")).path)
    assert partial["status"] == "interrupted" and partial["R"] == full["R"][:1]
    monkeypatch.setattr(cls, "after_task", original)
    resumed = run(config("cut", resume=True))
    assert resumed["status"] == "complete" and resumed["R"] == full["R"]
    assert [p["state_floats"] for p in resumed["phases"]] == [p["state_floats"] for p in full["phases"]]
    assert [p["memory_tokens"] for p in resumed["phases"]] == [p["memory_tokens"] for p in full["phases"]]


@pytest.mark.parametrize("strategy", STRATEGIES.names())
def test_config_has_help_and_rejects_unknown_settings(strategy, make_small_config):
    import dataclasses

    cls = STRATEGIES.get(strategy)
    assert (cls.__doc__ or "").strip(), f"{strategy} needs a docstring (its line in `list`)"
    for f in dataclasses.fields(cls.Config):
        assert f.metadata.get("help"), f"{strategy}: setting {f.name!r} has no help text"
    with pytest.raises(UsageError, match="unknown setting"):
        Runner(make_small_config(strategy=strategy, strategy_config={"no_such_setting": "1"}))


@pytest.mark.parametrize(("strategy", "settings"), [
    ("ewc", {"ewc_lambda": "-1"}), ("ewc", {"fisher_samples": "0"}), ("ewc", {"fisher": "sampled"}),
    ("online-ewc", {"gamma": "1.5"}), ("replay", {"budget": "0"}), ("replay", {"replay_ratio": "-0.5"}),
    ("coreset-replay", {"selector": "hearding"}), ("lwf", {"temperature": "0"}),
    ("agem", {"ref_batch_size": "-1"}), ("sparse-replay", {"replay_every": "0"}),
    ("progressive-prompts", {"prompt_length": "0"}), ("progressive-prompts", {"init": "text"}),
    ("o-lora", {"orth_lambda": "-1"}), ("mbpa", {"adapt": "encoder"}), ("mbpa", {"write_prob": "0"}),
])
def test_bad_settings_are_usage_errors(strategy, settings, make_small_config):
    with pytest.raises(UsageError):
        Runner(make_small_config(strategy=strategy, strategy_config=settings))
