"""Data-parallel runs (benchmark/parallel.py): two CPU processes over gloo give the R matrix of one
process, EWC's Fisher split over them is the one-process Fisher, and only the main process writes.

The two processes are forked from the test process (the tiny model and the synthetic tasks are
already loaded there) with the environment `accelerate launch` gives its workers; a fresh
interpreter per process would spend most of the test importing torch.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmark.data import Examples, TaskData, collate
from benchmark.errors import UsageError
from benchmark.model import MultiTaskModel
from benchmark.parallel import Parallel
from benchmark.runner import run
from benchmark.testing import make_tiny_model
from strategies.ewc import diagonal_fisher

# R of two processes vs one, same seed and global batch, no dropout: the processes compute the
# same sums in another order (each its block's mean, then the weighted sum), so the weights differ
# by float rounding; measured: R differs by at most 2e-7 (ewc, agem). A flipped prediction would
# show as 1/24 (one of the 24 test examples) and is worth a look, so the tolerance is tight.
R_TOLERANCE = 1e-5
# EWC: fine-tuning plus its penalty and its Fisher; A-GEM: two backward passes per step
STRATEGIES = {"ewc": {"ewc_lambda": "100"}, "agem": {"lr": "0.05"}}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, fn, args) -> None:
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(reset_partial_state=True)  # forked: the parent's one-process state
    torch.set_num_threads(1)
    fn(rank, *args)


def in_processes(fn, *args, world: int = 2) -> None:
    """Run fn(rank, *args) in `world` forked processes that form one gloo process group."""
    from torch.multiprocessing import start_processes

    start_processes(_worker, args=(world, _free_port(), fn, args), nprocs=world, start_method="fork")


@pytest.fixture(scope="module")
def exact_model(tmp_path_factory) -> Path:
    """The tiny model without dropout: its training does not depend on how a batch is split."""
    return make_tiny_model(tmp_path_factory.mktemp("models") / "tiny-no-dropout", dropout=0.0)


def _runs(rank: int, configs: list) -> None:
    for cfg in configs:
        run(cfg)


def test_two_processes_give_the_r_matrix_of_one(make_small_config, exact_model, tmp_path):
    def config(strategy, out):
        # batch 9 over 48 examples: a last batch of 3 rows, split 1 / 2 between the processes
        return make_small_config(strategy=strategy, model=str(exact_model), batch_size=9, output_dir=str(out),
                                 strategy_config={"lr": "3e-3", **STRATEGIES[strategy]}, keep_checkpoint=True)

    one = [config(s, tmp_path / "one") for s in STRATEGIES]
    two = [config(s, tmp_path / "two") for s in STRATEGIES]
    _runs(0, one)
    in_processes(_runs, two)
    for cfg in one:
        a = json.loads(next(Path(cfg.output_dir).glob(f"{cfg.strategy}_*.json")).read_text())
        b = json.loads(next((tmp_path / "two").glob(f"{cfg.strategy}_*.json")).read_text())
        assert b["status"] == "complete" and b["run"]["host"]["processes"] == 2 and a["run"]["host"]["processes"] == 1
        ra, rb = np.array(a["R"], dtype=float), np.array(b["R"], dtype=float)  # None (not learned yet): nan
        assert np.array_equal(np.isnan(ra), np.isnan(rb))
        diff = np.nanmax(np.abs(ra - rb))
        print(f"{cfg.strategy}: R one process {a['R']}, two {b['R']}, max |diff| {diff:.2e}")
        assert diff <= R_TOLERANCE, cfg.strategy
        # the losses of the global batches, not of one process's block
        np.testing.assert_allclose([p["mean_loss"] for p in b["phases"]], [p["mean_loss"] for p in a["phases"]],
                                   rtol=1e-5)
        assert [p["examples_seen"] for p in b["phases"]] == [p["examples_seen"] for p in a["phases"]]
        assert [p["trainable_params"] for p in b["phases"]] == [p["trainable_params"] for p in a["phases"]]
    # only the main process wrote: one run JSON and one checkpoint folder per strategy
    assert len(list((tmp_path / "two").glob("*.json"))) == len(STRATEGIES)
    assert len(list((tmp_path / "two" / "checkpoints").glob("*/*.safetensors"))) == len(STRATEGIES)


def _fisher_task():
    from benchmark.tasks import TaskSpec

    spec = TaskSpec("c", dataset="json", text_fields=("text",), label_names=("a", "b"), test_split="test",
                    metrics=("accuracy",), main=("accuracy",))
    rng = np.random.default_rng(0)
    ids = [[2, *rng.integers(5, 40, rng.integers(2, 9)).tolist(), 3] for _ in range(30)]
    ex = Examples(ids, None, rng.integers(0, 2, 30).astype(np.float32))
    return TaskData(spec, 0, ex, ex, len(ids))


def _fisher(model_dir: Path, parallel: Parallel) -> dict[str, torch.Tensor]:
    from transformers import AutoModel

    task = _fisher_task()
    torch.manual_seed(0)
    model = MultiTaskModel(AutoModel.from_pretrained(model_dir))
    model.add_task(task.spec, 0, seed=0)
    ctx = types.SimpleNamespace(collate=lambda parts: collate(parts, 0), autocast=contextlib.nullcontext,
                                parallel=parallel)
    return diagonal_fisher(model, task, ctx, 25, False, torch.Generator().manual_seed(0))


def _fisher_worker(rank: int, model_dir: Path, out: Path) -> None:
    from safetensors.torch import save_file

    from benchmark.parallel import make_accelerator

    parallel = Parallel(make_accelerator(torch.device("cpu"), "fp32"))
    assert parallel.world == 2
    fisher = _fisher(model_dir, parallel)
    save_file({n: f.contiguous() for n, f in fisher.items()}, str(out / f"fisher{rank}.safetensors"))


def test_ewc_fisher_split_over_two_processes_is_the_fisher_of_one(tiny_model, tmp_path):
    from safetensors.torch import load_file

    in_processes(_fisher_worker, tiny_model, tmp_path)
    one = _fisher(tiny_model, Parallel())
    for rank in (0, 1):  # each process holds the whole Fisher
        two = load_file(str(tmp_path / f"fisher{rank}.safetensors"))
        assert set(two) == set(one)
        for n in one:
            torch.testing.assert_close(two[n], one[n], rtol=1e-5, atol=1e-12)
    assert sum(float(f.sum()) for f in one.values()) > 0


def test_shards_cover_the_batch_once_with_shares_summing_to_one():
    batch = collate([(0, Examples([[2, 5, 3]] * 7, None, np.arange(7, dtype=np.float32)), range(7))], 0)
    rows, shares = [], []
    for rank in range(3):
        p = Parallel()
        p.world, p.rank = 3, rank
        rows += p.shard(batch).labels.tolist()
        shares.append(p.share)
    assert rows == list(range(7)) and sum(shares) == pytest.approx(1.0)
    p = Parallel()
    p.world, p.rank = 8, 0  # more processes than rows: the first row, with weight 0
    assert len(p.shard(batch)) == 1 and p.share == 0.0


def test_fp16_needs_a_gpu(make_small_config):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(UsageError, match="fp16 needs a CUDA device"):
        run(make_small_config(precision="fp16", device="cpu"))


def test_tensorboard_gets_loss_and_lr_per_step_r_per_phase_and_throughput(make_small_config, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    record = run(make_small_config(log_with="tensorboard", output_dir=str(tmp_path / "runs")))
    folder = tmp_path / "runs" / "trackers" / record["run_id"]
    events = EventAccumulator(str(folder))
    events.Reload()
    scalars = {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}
    steps = sum(p["steps"] for p in record["phases"])
    assert [s for s, _ in scalars["train/loss"]] == list(range(steps))
    losses = [v for _, v in scalars["train/loss"]]
    first = record["phases"][0]["steps"]
    assert np.mean(losses[:first]) == pytest.approx(record["phases"][0]["mean_loss"], rel=1e-5)
    assert len(scalars["train/lr"]) == steps and max(v for _, v in scalars["train/lr"]) > 0
    # R after each phase, at the step the phase ended
    assert [v for _, v in scalars["R/small_count"]] == pytest.approx([row[0] for row in record["R"]], rel=1e-6)
    assert [s for s, _ in scalars["R/small_red"]] == [steps]
    assert all(v > 0 for _, v in scalars["throughput/tokens_per_s"] + scalars["throughput/examples_per_s"])


def test_a_tracker_whose_package_is_missing_is_one_line(make_small_config, monkeypatch):
    import importlib.util

    find = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "wandb" else find(name, *a))
    with pytest.raises(UsageError, match="--log-with wandb needs the wandb package: pip install wandb"):
        run(make_small_config(log_with="wandb"))
