"""Where a training step's CPU time goes, by operator, and what the variants that would change the
scores would save (prints two tables).

    python benchmarks/step_profile.py --model minilm --batch-size 32 --seq-len 128 --threads 2

One fine-tuning step (forward, backward; no optimizer) of the backbone on random token ids, in
training mode as `run` trains it: fp32, the model's dropout, its default attention. The first table
splits the step's self CPU time by operator (torch.profiler). The second times whole steps of
variants: eager attention, no attention dropout, no dropout at all, bf16 autocast. Only the first
row is what the reference runs do; every other row changes the numbers a run produces (other
rounding, other random masks), so none is a free speed-up of the reference sweep.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch


def load(model: str, attention: str, **config):
    from transformers import AutoConfig, AutoModel

    from benchmark.model import resolve_model
    from benchmark.testing import make_tiny_model

    path = make_tiny_model(Path(tempfile.gettempdir()) / "cmtbench-tiny-bert") if model == "tiny" else resolve_model(model)
    return AutoModel.from_pretrained(path, config=AutoConfig.from_pretrained(path, **config),
                                     attn_implementation=attention)


def batch(args: argparse.Namespace, vocab: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(5, vocab, (args.batch_size, args.seq_len), generator=g)
    # lengths spread between a quarter and all of seq-len, as dynamic padding leaves them
    lengths = torch.randint(args.seq_len // 4, args.seq_len + 1, (args.batch_size,), generator=g)
    mask = (torch.arange(args.seq_len)[None] < lengths[:, None]).long()
    return {"input_ids": ids, "attention_mask": mask}


def step_fn(model, inputs, precision: str) -> Callable[[], None]:
    model.train()

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            out = model(**inputs).last_hidden_state
        out.float().mean().backward()
        model.zero_grad(set_to_none=True)

    return step


def timed(step: Callable[[], None], steps: int, warmup: int) -> float:
    for _ in range(warmup):
        step()
    start = time.process_time()
    for _ in range(steps):
        step()
    return (time.process_time() - start) / steps


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="tiny", help="tiny (a random 2-layer BERT), minilm, or a model folder / Hub id")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seq-len", type=int, default=128, help="the longest example (the padded length)")
    p.add_argument("--steps", type=int, default=3, help="timed steps per variant")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    p.add_argument("--top", type=int, default=12, help="operators listed")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    model = load(args.model, "sdpa")
    args.seq_len = min(args.seq_len, model.config.max_position_embeddings)  # the tiny model has 64
    inputs = batch(args, model.config.vocab_size)
    step = step_fn(model, inputs, "fp32")
    step()
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step()
    ops = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in ops)
    print(f"one training step, {args.model}, batch {args.batch_size} x {args.seq_len} tokens, "
          f"{torch.get_num_threads()} thread(s): self CPU time by operator\n")
    print("| operator | calls | self CPU (ms) | share |\n|---|---|---|---|")
    for e in ops[: args.top]:
        print(f"| {e.key} | {e.count} | {e.self_cpu_time_total / 1e3:,.0f} | {e.self_cpu_time_total / total:.1%} |")
    rest = sum(e.self_cpu_time_total for e in ops[args.top:])
    print(f"| (the other {len(ops) - args.top}) | | {rest / 1e3:,.0f} | {rest / total:.1%} |")

    variants = [
        ("as run: fp32, sdpa attention, dropout as configured", "sdpa", {}, "fp32"),
        ("eager attention", "eager", {}, "fp32"),
        ("no attention dropout", "sdpa", {"attention_probs_dropout_prob": 0.0}, "fp32"),
        ("no dropout", "sdpa", {"attention_probs_dropout_prob": 0.0, "hidden_dropout_prob": 0.0}, "fp32"),
        ("bf16 autocast", "sdpa", {}, "bf16"),
    ]
    print("\n| variant | CPU s per step | vs as run |\n|---|---|---|")
    base = None
    for name, attention, config, precision in variants:
        m = model if (attention, config) == ("sdpa", {}) else load(args.model, attention, **config)
        seconds = timed(step_fn(m, inputs, precision), args.steps, args.warmup)
        base = base or seconds
        print(f"| {name} | {seconds:.3f} | {seconds / base:.2f}x |")


if __name__ == "__main__":
    main()
