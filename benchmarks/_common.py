"""The command line shared by the step-timing scripts (patch_speed.py, strategy_overhead.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from benchmark.testing import make_tiny_model


def step_timing_parser(doc: str, default: list[str]) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    p.add_argument("--model", default="tiny", help="tiny (a random 2-layer BERT), minilm, or a model folder / Hub id")
    p.add_argument("--strategies", default=",".join(default), help="comma-separated; finetune is the reference")
    p.add_argument("--steps", type=int, default=20, help="timed steps per strategy")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seq-len", type=int, default=32, help="tokens per example (no padding)")
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    return p


def strategy_names(args: argparse.Namespace) -> list[str]:
    """The strategies asked for, finetune (the reference) first if it was left out; sets threads."""
    if args.threads:
        torch.set_num_threads(args.threads)
    names = [n.strip() for n in args.strategies.split(",") if n.strip()]
    return names if "finetune" in names else ["finetune", *names]


def round_robin(benches, args: argparse.Namespace) -> None:
    """`args.warmup` untimed and `args.steps` timed steps of every bench, one step of each in turn:
    on a shared machine a change of load then slows every strategy alike instead of whichever
    happens to be running. A bench has `step(timed: bool)`."""
    for i in range(args.warmup + args.steps):
        for bench in benches:
            bench.step(timed=i >= args.warmup)


def model_folder(args: argparse.Namespace, tmp: str) -> str:
    return str(make_tiny_model(Path(tmp) / "tiny")) if args.model == "tiny" else args.model
