"""Shared fixtures: a tiny random BERT saved to disk and synthetic tasks (no network anywhere)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from benchmark.runner import RunConfig
from benchmark.tasks import TASKS
from benchmark.testing import COLOURS, make_synthetic_task, make_tiny_model

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


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
    for s in specs:
        TASKS.add(s.name, s)
    yield [s.name for s in specs]
    for s in specs:
        TASKS.remove(s.name)


@pytest.fixture
def make_config(tiny_model, synthetic_tasks, tmp_path):
    """RunConfig for a tiny run on the synthetic stream; keyword arguments override."""

    def make(**overrides) -> RunConfig:
        kwargs = dict(
            strategy="finetune", tasks=["syn_red", "syn_blue", "syn_count"], model=str(tiny_model),
            seed=0, epochs=2, batch_size=16, max_length=32, max_train=0, max_eval=0,
            output_dir=str(tmp_path / "runs"), progress=False, strategy_config={"lr": "3e-3"},
        )
        kwargs.update(overrides)
        return RunConfig(**kwargs)

    return make
