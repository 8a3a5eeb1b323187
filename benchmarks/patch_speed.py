"""Training-step time of each per-task patch strategy relative to full fine-tuning.

    python benchmarks/patch_speed.py                       # tiny random BERT (seconds)
    python benchmarks/patch_speed.py --model minilm --steps 3 --seq-len 64

Each strategy gets a fresh model, one two-class task and its default settings; the script times
`strategy.train_step` on random batches of a fixed shape, one step of each strategy in turn
(after warm-up steps), and prints a table:
median milliseconds per step, that time relative to `finetune`, and the parameters the task
added (head, patch) and trained, measured from the model's tensors as the runner does.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time

import numpy as np
import torch
from _common import model_folder, round_robin, step_timing_parser, strategy_names

from benchmark.context import Budget, Compute, GradientTracker, RunContext, StreamData
from benchmark.data import Batch, Examples, TaskData
from benchmark.errors import UsageError
from benchmark.model import MultiTaskModel, added_params, load_pretrained, param_snapshot
from benchmark.tasks import TaskSpec
from strategies.base import STRATEGIES, Phase

DEFAULT = ["finetune", "head-only", "bitfit", "scale-bias", "ln-tuning", "ia3", "lora", "adapters", "pals"]


def fake_task(n: int, seq_len: int, vocab: int, generator: torch.Generator) -> TaskData:
    spec = TaskSpec("bench", dataset="none", label_names=("a", "b"))
    ids = torch.randint(5, vocab, (n, seq_len), generator=generator).tolist()
    ex = Examples(ids, None, np.asarray([i % 2 for i in range(n)], dtype=np.float32))
    return TaskData(spec, 0, ex, ex, n)


class Bench:
    """One strategy on a fresh model with one two-class task, ready to take timed steps."""

    def __init__(self, name: str, model_path: str, args: argparse.Namespace) -> None:
        torch.manual_seed(0)
        tokenizer, encoder = load_pretrained(model_path)
        self.model = MultiTaskModel(encoder)
        g = torch.Generator().manual_seed(0)
        self.task = fake_task(args.batch_size * (args.warmup + args.steps), args.seq_len, encoder.config.vocab_size, g)
        ctx = RunContext(0, StreamData([self.task], tokenizer.pad_token_id or 0),
                         Budget(batch_size=args.batch_size, eval_batch_size=args.batch_size),
                         Compute(precision=args.precision), show_progress=False)
        self.strategy = STRATEGIES.get(name)()
        self.strategy.setup(self.model, ctx)
        before = param_snapshot(self.model)
        self.model.add_task(self.task.spec, 0, seed=0)
        self.strategy.before_task(Phase(0, [self.task]))
        self.head, self.patch = added_params(before, param_snapshot(self.model))
        self.tracker = GradientTracker(self.model)
        self.ids, self.batch_size, self.times = torch.tensor(self.task.train.input_ids), args.batch_size, []
        self.steps_taken = 0

    def step(self, timed: bool) -> None:
        i, self.steps_taken = self.steps_taken, self.steps_taken + 1
        rows = slice(i * self.batch_size, (i + 1) * self.batch_size)
        batch = Batch(self.ids[rows], torch.ones_like(self.ids[rows]), None,
                      torch.as_tensor(self.task.train.labels[rows]), torch.zeros(self.batch_size, dtype=torch.long))
        t0 = time.perf_counter()
        self.model.train()  # as the runner does before every step
        self.strategy.train_step(batch)
        if timed:
            self.times.append(time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    args = step_timing_parser(__doc__, DEFAULT).parse_args(argv)
    names = strategy_names(args)
    with tempfile.TemporaryDirectory() as tmp:
        model_path = model_folder(args, tmp)
        backbone = sum(p.numel() for p in load_pretrained(model_path)[1].parameters())
        benches = {}
        for name in names:
            try:
                benches[name] = Bench(name, model_path, args)
            except UsageError as exc:  # e.g. peft not installed
                print(f"{name}: skipped ({exc})", file=sys.stderr)
    round_robin(benches.values(), args)
    print(f"model {args.model} ({backbone:,} backbone params), batch {args.batch_size} x {args.seq_len} tokens, "
          f"{args.precision}, {torch.get_num_threads()} threads, median of {args.steps} steps")
    print(f"{'strategy':<12} {'ms/step':>9} {'x finetune':>10} {'head':>8} {'patch/task':>11} {'% backbone':>10} {'trained':>11}")
    ref = statistics.median(benches["finetune"].times)
    for name, b in benches.items():
        ms = statistics.median(b.times)
        print(f"{name:<12} {1000 * ms:>9.1f} {ms / ref:>10.2f} {b.head:>8,} {b.patch:>11,} "
              f"{100 * b.patch / backbone:>9.2f}% {b.tracker.close():>11,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
