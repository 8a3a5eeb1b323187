"""Peak resident memory of a run and where it goes: the libraries, the model, the data, the
optimiser, the strategy's state, and the rest (activations and the allocator's retained pages).

    python benchmarks/memory.py --data-dir ../shared/data      # the default run and EWC, small caps
    python benchmarks/memory.py --strategies finetune --max-train 1000 --max-eval 500
    python benchmarks/memory.py --model tiny --max-train 64 --max-eval 32           # seconds
    python benchmarks/memory.py --data-dir ../shared/data --gradient-checkpointing   # layers recomputed

Each strategy runs in its own process (this script calls itself), so each peak is its own. In
the process: RSS after importing torch and transformers (libraries), after the runner loaded the
model and the tasks (model: its tensors' bytes; data: the rest of that step's growth: tokenised
examples, the `datasets` tables, the tokenizer), then the run; at its end the optimiser state (the
last phase's AdamW moments) and the strategy's kept state (`state_floats` x 4 bytes) are counted
from their tensors, and the peak (ru_maxrss) minus everything named is the rest: activations and
gradients of a step, evaluation batches, and memory the allocator keeps after freeing it. Numbers
are MiB; `cpu_s` is the process's CPU seconds (all threads), so a setting that trades time for
memory shows both. Glibc's allocator reads MALLOC_* environment variables (mallopt(3)), which the
child processes inherit: run the script once with and once without them for a before/after table.
The embedded data holds only the stream's own caps, so smaller caps need --data-dir (or the Hub).
It measures; it changes nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

MIB = 2**20


def rss_mb() -> float:
    with open("/proc/self/statm") as f:  # resident pages now (Linux)
        return int(f.read().split()[1]) * resource.getpagesize() / MIB


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def tensor_mb(tensors) -> float:
    return sum(t.numel() * t.element_size() for t in tensors) / MIB


def measure(args: argparse.Namespace) -> dict:
    """One run in this process; the breakdown as a dict."""
    start = rss_mb()
    import torch
    import transformers  # noqa: F401

    from benchmark.runconfig import RunConfig
    from benchmark.runner import Runner

    libraries = rss_mb() - start
    cfg = RunConfig(strategy=args.strategy, stream=args.stream, model=args.model, max_train=args.max_train,
                    max_eval=args.max_eval, max_length=args.max_length, progress=False,
                    output_dir=args.output_dir, data_dir=args.data_dir,
                    gradient_checkpointing=args.gradient_checkpointing)
    runner = Runner(cfg)
    loaded: dict[str, float] = {}
    load = runner._load

    def timed_load() -> None:
        before = rss_mb()
        load()
        loaded["model"] = tensor_mb([*runner.model.parameters(), *runner.model.buffers()])
        loaded["data"] = rss_mb() - before - loaded["model"]

    runner._load = timed_load
    record = runner.run()
    strategy = runner.strategy
    optimizer = getattr(strategy, "optimizer", None)
    moments = [v for s in (optimizer.state.values() if optimizer else []) for v in s.values()
               if isinstance(v, torch.Tensor)]
    out = {"strategy": args.strategy, "baseline": start, "libraries": libraries, **loaded,
           "optimizer": tensor_mb(moments), "strategy_state": record["cost"]["state_floats"] * 4 / MIB,
           "peak": peak_mb(), "cpu_s": sum(resource.getrusage(resource.RUSAGE_SELF)[:2])}
    out["rest"] = out["peak"] - sum(out[k] for k in ("baseline", "libraries", "model", "data", "optimizer",
                                                     "strategy_state"))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--strategies", default="coreset-replay,ewc", help="the default run's strategy, and EWC")
    p.add_argument("--stream", default="mixed4")
    p.add_argument("--model", default="minilm", help="minilm, tiny (a random 2-layer BERT), or a folder / Hub id")
    p.add_argument("--max-train", type=int, default=200)
    p.add_argument("--max-eval", type=int, default=100)
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--data-dir", default=None, help="Hub-shaped data mirrors (default: $CMTBENCH_DATA_DIR, "
                   "else the embedded data, which holds the stream's caps only)")
    p.add_argument("--gradient-checkpointing", action="store_true",
                   help="recompute each encoder layer in backward (the run option of that name)")
    p.add_argument("--one", default=None, help=argparse.SUPPRESS)  # internal: measure one strategy
    p.add_argument("--output-dir", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one:
        args.strategy = args.one
        print(json.dumps(measure(args)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        if args.model == "tiny":
            from benchmark.testing import make_tiny_model

            args.model, args.max_length = str(make_tiny_model(Path(tmp) / "tiny")), min(args.max_length, 64)
        rows = []
        for i, name in enumerate(n.strip() for n in args.strategies.split(",") if n.strip()):
            cmd = [sys.executable, __file__, "--one", name, "--output-dir", str(Path(tmp) / f"runs{i}"),
                   "--stream", args.stream, "--model", args.model, "--max-train", str(args.max_train),
                   "--max-eval", str(args.max_eval), "--max-length", str(args.max_length)]
            cmd += ["--data-dir", args.data_dir] if args.data_dir else []
            cmd += ["--gradient-checkpointing"] if args.gradient_checkpointing else []
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode:
                sys.exit(f"{name}: {done.stderr.strip().splitlines()[-1]}")
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    keys = ["baseline", "libraries", "model", "data", "optimizer", "strategy_state", "rest", "peak", "cpu_s"]
    malloc = " ".join(f"{k}={v}" for k, v in sorted(os.environ.items()) if k.startswith("MALLOC_")) or "glibc defaults"
    checkpointing = "; gradient checkpointing" if args.gradient_checkpointing else ""
    print(f"peak RSS and its parts, MiB ({args.stream}, {args.max_train} train / {args.max_eval} test per task; "
          f"{malloc}{checkpointing})")
    print(f"{'strategy':<16}" + "".join(f"{k:>15}" for k in keys))
    for r in rows:
        print(f"{r['strategy']:<16}" + "".join(f"{r[k]:>15.0f}" for k in keys))


if __name__ == "__main__":
    main()
