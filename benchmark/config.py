"""Building a strategy's Config dataclass from `--set key=value` strings, with clear errors."""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from pathlib import Path
from typing import Any

from benchmark.errors import UsageError

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def parse_assignments(items: list[str]) -> dict[str, str]:
    """["lr=3e-5", "ewc_lambda=1000"] -> {"lr": "3e-5", "ewc_lambda": "1000"}."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--set expects key=value, got {item!r} (e.g. --set lr=3e-5)")
        out[key.strip()] = value.strip()
    return out


def _convert(name: str, tp: Any, raw: Any) -> Any:
    """`raw` as a value of type `tp`: a string (`--set`, a flag) is parsed; any other value (a
    TOML/YAML file's) is checked and kept as it is."""
    if not isinstance(raw, str):
        if not _type_ok(raw, tp):
            raise UsageError(f"{name} = {raw!r} is not {_type_name(tp)}")
        return raw
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if raw.lower() in ("none", "null", ""):
            return None
        errors = []
        for a in args:
            try:
                return _convert(name, a, raw)
            except UsageError as exc:
                errors.append(str(exc))
        raise UsageError(errors[0])
    if origin is typing.Literal:
        choices = typing.get_args(tp)
        if raw not in choices:
            raise UsageError(f"{name} must be one of {', '.join(map(str, choices))}, not {raw!r}")
        return raw
    if tp is bool:
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise UsageError(f"{name} must be true or false, not {raw!r}")
    if tp in (int, float):
        try:
            value = tp(raw)
        except ValueError:
            raise UsageError(f"{name} must be {'an integer' if tp is int else 'a number'}, not {raw!r}") from None
        if not math.isfinite(value):
            raise UsageError(f"{name} must be a finite number, not {raw!r}")
        return value
    if tp is str:
        return raw
    if origin in (list, tuple):
        (inner, *_) = typing.get_args(tp) or (str,)
        return origin(_convert(name, inner, v) for v in raw.split(",") if v)
    raise UsageError(f"{name}: cannot set a field of type {tp} from the command line")


def _type_ok(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, h) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if origin is typing.Literal:
        return value in typing.get_args(hint)
    if origin in (list, tuple):
        (inner, *_) = typing.get_args(hint) or (Any,)
        return isinstance(value, (list, tuple)) and all(_type_ok(v, inner) for v in value)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is Any or origin is not None or not isinstance(hint, type):
        return True  # dicts and other containers: their own checks (a Config's __post_init__)
    return isinstance(value, hint)


def _type_name(hint: Any) -> str:
    return "a " + (getattr(hint, "__name__", None) or str(hint).replace("typing.", ""))


def build_config(cls: type, overrides: dict[str, Any]) -> Any:
    """An instance of the dataclass `cls` with `overrides` (strings are parsed by field type)."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    values = {}
    for key, raw in overrides.items():
        if key not in fields:
            close = difflib.get_close_matches(key, list(fields), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise UsageError(
                f"unknown setting {key!r} for {cls.__qualname__}.{hint} Known: {', '.join(sorted(fields))}"
            )
        values[key] = _convert(key, hints[key], raw)
    try:
        return cls(**values)
    except TypeError as exc:
        raise UsageError(f"bad settings for {cls.__qualname__}: {exc}") from exc


def describe_config(cls: type) -> list[tuple[str, str, Any, str]]:
    """(name, type, default, help) for each field, for `list` and `--help`."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else None
        )
        tp = getattr(hints[f.name], "__name__", str(hints[f.name]).replace("typing.", ""))
        out.append((f.name, tp, default, f.metadata.get("help", "")))
    return out


def as_setting(value: Any) -> str:
    """A value from a file (grid, tuned-settings TOML) or an Optuna trial as the string `--set`
    would give, so they and the command line build identical configs (and run ids): 1000 and
    "1000" both become 1000.0 for a float field."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(as_setting(v) for v in value)
    return str(value)


# Short names `--model` accepts besides a Hub id or a folder: alias -> (Hub id, what it is).
# Here, not in benchmark/model.py, so that `list` shows them without importing torch.
MODEL_ALIASES: dict[str, tuple[str, str]] = {
    "minilm": ("sentence-transformers/all-MiniLM-L6-v2",
               "the default (22.7M parameters); offline with the `models` extra"),
}


def model_name(model: str) -> str:
    """A model's short name for run ids, file names and tables: a folder's or Hub id's last part
    ("minilm", "bert-base-uncased", "tiny-bert")."""
    return Path(str(model).rstrip("/")).name or str(model)
