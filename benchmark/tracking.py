"""Experiment trackers (`--log-with tensorboard|wandb|mlflow`) through accelerate's tracking API:
the run's settings once, then the loss and learning rate of every step, and after each phase its
row of R, examples/s and tokens/s. Only the main process logs (accelerate's `log` sees to it)."""

from __future__ import annotations

import importlib.util
from typing import Any

from benchmark.errors import UsageError

# tracker -> (packages any of which provides it, what to install)
TRACKERS: dict[str, tuple[tuple[str, ...], str]] = {
    "tensorboard": (("tensorboard", "tensorboardX"), "tensorboard"),  # accelerate uses either
    "wandb": (("wandb",), "wandb"),
    "mlflow": (("mlflow",), "mlflow"),
}


def check_tracker(name: str | None) -> None:
    """A one-line error for a tracker whose package is missing (accelerate would drop it silently)."""
    if name is None:
        return
    if name not in TRACKERS:
        raise UsageError(f"--log-with {name!r} is not a tracker; choose one of {', '.join(TRACKERS)}")
    packages, install = TRACKERS[name]
    if not any(importlib.util.find_spec(p) is not None for p in packages):
        raise UsageError(f"--log-with {name} needs the {install} package: pip install {install} "
                         "(or leave --log-with out)")


def flat_settings(settings: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested settings as one level of scalars (what TensorBoard's hparams and MLflow take):
    {"strategy_config": {"lr": 1e-4}} -> {"strategy_config.lr": 1e-4}; lists and None as text."""
    out: dict[str, Any] = {}
    for key, value in settings.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out |= flat_settings(value, f"{name}.")
        elif isinstance(value, bool | int | float | str):
            out[name] = value
        else:
            out[name] = str(value)
    return out


class Tracker:
    """The run's trackers, started on the accelerator made with `log_with` (see make_accelerator)."""

    def __init__(self, accelerator: Any, run_id: str, settings: dict[str, Any], first_step: int = 0) -> None:
        self.accelerator = accelerator
        self.step = first_step  # optimizer steps of the whole run so far (a resumed run goes on)
        accelerator.init_trackers(run_id, config=flat_settings(settings))

    def train_step(self, loss: float, lr: float | None) -> None:
        values = {"train/loss": loss} | ({} if lr is None else {"train/lr": lr})
        self.accelerator.log(values, step=self.step)
        self.step += 1

    def phase(self, scores: dict[str, float], examples_per_s: float | None, tokens_per_s: float | None) -> None:
        """One phase's row of R (task -> score, with its mean) and its training throughput."""
        values = {f"R/{task}": v for task, v in scores.items()}
        if scores:
            values["R/average"] = sum(scores.values()) / len(scores)
        for key, v in (("throughput/examples_per_s", examples_per_s), ("throughput/tokens_per_s", tokens_per_s)):
            if v is not None:
                values[key] = v
        self.accelerator.log(values, step=self.step)

    def close(self) -> None:
        self.accelerator.end_training()
