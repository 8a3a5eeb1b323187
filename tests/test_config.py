"""`--set key=value` parsing into Config dataclasses."""

from dataclasses import dataclass, field
from typing import Literal

import pytest

from benchmark.config import build_config, describe_config, parse_assignments
from benchmark.errors import UsageError
from strategies.base import StrategyConfig


@dataclass
class Cfg(StrategyConfig):
    ewc_lambda: float = field(default=100.0, metadata={"help": "penalty weight"})
    budget: int = 10
    online: bool = False
    selector: Literal["random", "herding"] = "random"
    cap: int | None = None
    targets: tuple[str, ...] = ("query", "value")


def test_values_are_parsed_by_field_type():
    cfg = build_config(Cfg, parse_assignments(
        ["lr=3e-5", "ewc_lambda=1000", "budget=5", "online=true", "selector=herding", "cap=none",
         "targets=query,key"]))
    assert cfg.lr == 3e-5 and cfg.ewc_lambda == 1000.0 and cfg.budget == 5
    assert cfg.online is True and cfg.selector == "herding" and cfg.cap is None
    assert cfg.targets == ("query", "key")
    assert build_config(Cfg, {"cap": "7"}).cap == 7


@pytest.mark.parametrize(
    "items, message",
    [
        (["lrr=1"], "unknown setting 'lrr'.*Did you mean 'lr'"),
        (["budget=1.5"], "budget must be an integer"),
        (["lr=fast"], "lr must be a number"),
        (["online=maybe"], "online must be true or false"),
        (["selector=kmeans"], "selector must be one of random, herding"),
        (["lr=-1"], "lr must be > 0"),
        (["warmup_ratio=1.5"], r"warmup_ratio must be in \[0, 1\)"),
    ],
)
def test_bad_settings_are_one_clear_error(items, message):
    with pytest.raises(UsageError, match=message):
        build_config(Cfg, parse_assignments(items))


def test_assignment_syntax():
    with pytest.raises(UsageError, match="key=value"):
        parse_assignments(["lr"])
    assert parse_assignments(["a=b=c"]) == {"a": "b=c"}


def test_describe_lists_help():
    rows = {name: (tp, default, help_) for name, tp, default, help_ in describe_config(Cfg)}
    assert rows["ewc_lambda"] == ("float", 100.0, "penalty weight")
    assert rows["lr"][1] == 1e-4
