"""Training-step time of each continual-learning strategy relative to fine-tuning, on a second task
(when there is something to protect: a Fisher, a teacher, a memory), plus the cost of the work
between tasks.

    python benchmarks/strategy_overhead.py                        # tiny random BERT (seconds)
    python benchmarks/strategy_overhead.py --model minilm --steps 5

Each strategy gets a fresh model and two two-class tasks of random token sequences of one length.
It trains a few steps of the first task and finishes it (`after_task`: Fisher, teacher, memory
selection; timed), then times the second task's steps: drawing the batch (replay collates memory
examples into it) plus `train_step`. The table gives the median milliseconds per step, that time
relative to `finetune`, the examples in a step, the seconds `after_task` took on the first task, and
the floats and examples kept after it (as the runner counts them).
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

from benchmark.context import Budget, Compute, RunContext, StreamData
from benchmark.data import Examples, TaskData
from benchmark.model import MultiTaskModel, load_pretrained
from benchmark.tasks import TaskSpec
from strategies.base import STRATEGIES, Phase

DEFAULT = ["finetune", "ewc", "online-ewc", "lwf", "replay", "coreset-replay", "sparse-replay", "agem"]


def fake_task(index: int, n: int, seq_len: int, vocab: int, generator: torch.Generator) -> TaskData:
    spec = TaskSpec(f"bench{index}", dataset="none", label_names=("a", "b"))
    ids = torch.randint(5, vocab, (n, seq_len), generator=generator).tolist()
    labels = torch.randint(0, 2, (n,), generator=generator).numpy().astype(np.float32)
    ex = Examples(ids, None, labels)
    return TaskData(spec, index, ex, ex, n)


class Bench:
    """One strategy after a short first task, ready to take timed steps on the second."""

    def __init__(self, name: str, model_path: str, settings: dict, args: argparse.Namespace) -> None:
        from benchmark.config import build_config

        torch.manual_seed(0)
        tokenizer, encoder = load_pretrained(model_path)
        model = MultiTaskModel(encoder)
        g = torch.Generator().manual_seed(0)
        n = args.batch_size * (args.warmup + args.steps)
        tasks = [fake_task(i, n, args.seq_len, encoder.config.vocab_size, g) for i in range(2)]
        ctx = RunContext(0, StreamData(tasks, tokenizer.pad_token_id or 0),
                         Budget(batch_size=args.batch_size, eval_batch_size=args.batch_size),
                         Compute(precision=args.precision), show_progress=False)
        cls = STRATEGIES.get(name)
        self.strategy = strategy = cls(build_config(cls.Config, settings))
        strategy.setup(model, ctx)

        first = Phase(0, [tasks[0]])
        model.add_task(tasks[0].spec, 0, seed=0)
        strategy.before_task(first)
        for _, batch in zip(range(args.first_steps), strategy.batches(first)):
            model.train()  # as the runner does before every step
            strategy.train_step(batch)
        t0 = time.perf_counter()
        strategy.after_task(first)
        self.after_s = time.perf_counter() - t0
        self.state = strategy.state_size()

        second = Phase(1, [tasks[1]])
        model.add_task(tasks[1].spec, 1, seed=0)
        strategy.before_task(second)
        self.batches = iter(strategy.batches(second))
        self.times: list[float] = []
        self.sizes: list[int] = []

    def step(self, timed: bool) -> None:
        t0 = time.perf_counter()  # drawing the batch counts: replay strategies mix memory in here
        batch = next(self.batches)
        self.strategy.model.train()  # as the runner does before every step
        self.strategy.train_step(batch)
        if timed:
            self.times.append(time.perf_counter() - t0)
            self.sizes.append(len(batch))

    def row(self) -> dict:
        return {"ms": 1000 * statistics.median(self.times), "examples": statistics.median(self.sizes),
                "after_s": self.after_s, "floats": self.state.floats, "memory": self.state.examples}


def main(argv: list[str] | None = None) -> int:
    p = step_timing_parser(__doc__, DEFAULT)
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", dest="settings",
                   help="settings for every strategy that has them (e.g. fisher_samples=64)")
    p.add_argument("--first-steps", type=int, default=2, help="training steps on the first task")
    args = p.parse_args(argv)
    from benchmark.config import parse_assignments

    common = parse_assignments(args.settings)
    names = strategy_names(args)
    with tempfile.TemporaryDirectory() as tmp:
        model_path = model_folder(args, tmp)
        benches = {}
        for name in names:
            fields = STRATEGIES.get(name).Config.__dataclass_fields__
            benches[name] = Bench(name, model_path, {k: v for k, v in common.items() if k in fields}, args)
        round_robin(benches.values(), args)
        rows = {name: b.row() for name, b in benches.items()}
    print(f"model {args.model}, batch {args.batch_size} x {args.seq_len} tokens, {args.precision}, "
          f"{torch.get_num_threads()} threads, median of {args.steps} steps on the second task")
    print(f"{'strategy':<15} {'ms/step':>8} {'x finetune':>10} {'examples':>8} {'after task':>10} "
          f"{'state floats':>13} {'memory':>7}")
    ref = rows["finetune"]["ms"]
    for name, r in rows.items():
        print(f"{name:<15} {r['ms']:>8.1f} {r['ms'] / ref:>10.2f} {r['examples']:>8.0f} {r['after_s']:>9.2f}s "
              f"{r['floats']:>13,} {r['memory']:>7,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
