"""cmtbench's native fine-tuning against Avalanche's Naive (`avalanche:Naive`) on the same stream:
training examples and tokens per second, and peak memory, as the runner records them.

    python benchmarks/avalanche_vs_native.py                                   # mixed4, MiniLM, 200/100 per task
    python benchmarks/avalanche_vs_native.py --model tiny --max-train 64 --max-eval 32   # seconds
    python benchmarks/avalanche_vs_native.py --strategies finetune,avalanche:Naive,ewc,avalanche:EWC

Each strategy runs in its own process (`python -m benchmark run`), so each peak RSS is its own;
the runs alternate strategy by strategy for `--repeats` rounds, so a change of load on a shared
machine slows both alike. Both train the same model with the same AdamW schedule: the difference
is the data pipeline (native: length-grouped batches; Avalanche: its task-balanced shuffled loader,
so more padding per batch) and Avalanche's per-iteration callbacks. Needs the avalanche extra.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--strategies", default="finetune,avalanche:Naive")
    p.add_argument("--stream", default="mixed4")
    p.add_argument("--model", default="minilm", help="minilm, tiny (a random 2-layer BERT), or a folder / Hub id")
    p.add_argument("--max-train", type=int, default=200)
    p.add_argument("--max-eval", type=int, default=100)
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--threads", type=int, default=None, help="OMP_NUM_THREADS of each run")
    args = p.parse_args()
    names = [n.strip() for n in args.strategies.split(",") if n.strip()]
    rows: dict[str, list[dict]] = {n: [] for n in names}
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model
        if model == "tiny":
            from benchmark.testing import make_tiny_model

            model, args.max_length = str(make_tiny_model(Path(tmp) / "tiny")), min(args.max_length, 64)
        for r in range(args.repeats):
            for name in names:
                out = Path(tmp) / f"runs-{r}-{name.replace(':', '-')}"
                cmd = [sys.executable, "-m", "benchmark", "run", "--strategy", name, "--stream", args.stream,
                       "--model", model, "--max-train", str(args.max_train), "--max-eval", str(args.max_eval),
                       "--max-length", str(args.max_length), "--val-size", "0", "--quiet", "--output-dir", str(out)]
                env = None
                if args.threads:
                    import os

                    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
                subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
                record = json.loads(next(out.glob("*.json")).read_text())
                ph = record["phases"]
                train_s = sum(x["train_time_s"] for x in ph)
                rows[name].append({
                    "examples_per_s": sum(x["examples_seen"] for x in ph) / train_s,
                    "tokens_per_s": sum(x["tokens_seen"] for x in ph) / train_s,
                    "peak_rss_mb": record["cost"]["peak_rss_mb"],
                    "final_average": record["metrics"]["final_average"],
                })
    print(f"{args.stream}, model {args.model}, {args.max_train} train / {args.max_eval} test per task, "
          f"medians of {args.repeats} run(s)")
    print(f"{'strategy':<20} {'train ex/s':>10} {'tokens/s':>10} {'peak RSS MB':>12} {'final avg':>10}")
    for name, rs in rows.items():
        med = {k: statistics.median(r[k] for r in rs) for k in rs[0]}
        print(f"{name:<20} {med['examples_per_s']:>10.1f} {med['tokens_per_s']:>10.0f} "
              f"{med['peak_rss_mb']:>12.0f} {med['final_average'] * 100:>10.1f}")


if __name__ == "__main__":
    main()
