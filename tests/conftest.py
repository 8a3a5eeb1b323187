"""Shared fixtures: a tiny random BERT saved to disk and synthetic tasks (no network anywhere)."""

from __future__ import annotations

import copy
import os
import socket
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from benchmark.runconfig import RunConfig
from benchmark.tasks import TASKS
from benchmark.testing import COLOURS, make_synthetic_task, make_tiny_model

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
# The test models are tiny (hidden 32): a second intra-op thread buys nothing, and on a shared
# machine OpenMP threads that spin-wait for a busy core made a tiny run ~20x slower (10 s vs 0.5 s).
torch.set_num_threads(1)


def registered(specs):
    """Register synthetic task specs for a fixture's lifetime (use with `yield from`)."""
    for s in specs:
        TASKS.add(s.name, s)
    yield [s.name for s in specs]
    for s in specs:
        TASKS.remove(s.name)


def interrupt_in_phase(monkeypatch, cls, index: int = 1) -> Callable:
    """Make `cls.after_task` raise KeyboardInterrupt in phase `index`; returns the original hook."""
    original = cls.after_task

    def interrupt(self, phase):
        if phase.index == index:
            raise KeyboardInterrupt
        original(self, phase)

    monkeypatch.setattr(cls, "after_task", interrupt)
    return original


def refuse_connections(monkeypatch) -> list:
    """Make every outgoing socket connection fail at once; returns the list of the addresses tried."""
    tried = []

    def refuse(self, address, *args, **kwargs):
        tried.append(address)
        raise OSError("the tests make no network connections")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    return tried


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("models") / "tiny-bert")


@pytest.fixture(scope="session")
def synthetic_tasks(tmp_path_factory):
    """Registers syn_red, syn_blue (classification) and syn_count (regression) for the session."""
    folder = tmp_path_factory.mktemp("synthetic")
    words = COLOURS + tuple(f"w{i}" for i in range(8))  # about half the sentences hold a given colour
    specs = [
        make_synthetic_task(folder, "syn_red", lambda ws: int("red" in ws), words=words),
        make_synthetic_task(folder, "syn_blue", lambda ws: int("blue" in ws), words=words),
        make_synthetic_task(
            folder, "syn_count", lambda ws: float(sum(w in COLOURS for w in ws)), regression=True,
            words=words,
        ),
    ]
    yield from registered(specs)


@pytest.fixture(scope="session")
def _loaded() -> dict:
    """What `cached_loading` has read: models by name, tasks by their loading arguments."""
    return {"models": {}, "tasks": {}}


@pytest.fixture(scope="module")
def cached_loading(_loaded):
    """For a module of many tiny runs on the same model and tasks (the conformance suite): each
    model is read and each task tokenised once per session. A run gets its own copy of the encoder
    and of the tasks, so nothing one run changes reaches another, and the numbers are those of an
    uncached run."""
    from benchmark import data, model, runner

    load_model, prepare = model.load_pretrained, data.prepare_task

    def load_pretrained(name: str):
        if name not in _loaded["models"]:
            _loaded["models"][name] = load_model(name)
        tokenizer, encoder = _loaded["models"][name]
        return tokenizer, copy.deepcopy(encoder)

    def prepare_task(spec, index, tokenizer, *args, warn=None, **kwargs):
        key = (repr(spec), index, id(tokenizer), args, tuple(sorted(kwargs.items())))
        if key not in _loaded["tasks"]:
            _loaded["tasks"][key] = prepare(spec, index, tokenizer, *args, warn=warn, **kwargs)
        return copy.deepcopy(_loaded["tasks"][key])

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(runner, "load_pretrained", load_pretrained)
        patch.setattr(data, "prepare_task", prepare_task)
        yield


@pytest.fixture
def make_config(tiny_model, synthetic_tasks, tmp_path):
    """RunConfig for a tiny run on the synthetic stream; keyword arguments override."""

    def make(**overrides) -> RunConfig:
        kwargs = dict(
            strategy="finetune", tasks=["syn_red", "syn_blue", "syn_count"], model=str(tiny_model),
            seed=0, epochs=2, batch_size=16, max_length=32, max_train=0, max_eval=0,
            output_dir=str(tmp_path / "runs"), progress=False, strategy_config={"lr": "3e-3"},
            val_size=0,  # no validation split: tests of other things keep all 400 (48) train rows
        )
        kwargs.update(overrides)
        return RunConfig(**kwargs)

    return make


@pytest.fixture(scope="session")
def small_tasks(tmp_path_factory):
    """Registers small_count (regression), small_red and small_blue: 48 train / 24 test examples
    each, for checks that run every strategy or selector and need seconds, not minutes."""
    folder = tmp_path_factory.mktemp("small")
    words = COLOURS + tuple(f"w{i}" for i in range(8))
    specs = [
        make_synthetic_task(folder, "small_count", lambda ws: float(sum(w in COLOURS for w in ws)),
                            regression=True, words=words, n_train=48, n_test=24),
        make_synthetic_task(folder, "small_red", lambda ws: int("red" in ws), words=words,
                            n_train=48, n_test=24),
        make_synthetic_task(folder, "small_blue", lambda ws: int("blue" in ws), words=words,
                            n_train=48, n_test=24),
    ]
    yield from registered(specs)


@pytest.fixture
def make_small_config(tiny_model, small_tasks, tmp_path):
    """RunConfig for a one-epoch run on small_count -> small_red; keyword arguments override."""

    def make(**overrides) -> RunConfig:
        kwargs = dict(
            strategy="finetune", tasks=["small_count", "small_red"], model=str(tiny_model), seed=0,
            epochs=1, batch_size=16, max_length=32, max_train=0, max_eval=0,
            output_dir=str(tmp_path / "runs"), progress=False, strategy_config={"lr": "3e-3"},
            val_size=0,  # no validation split: tests of other things keep all 400 (48) train rows
        )
        kwargs.update(overrides)
        return RunConfig(**kwargs)

    return make
