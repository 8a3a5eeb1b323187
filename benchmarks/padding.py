"""How much padding dynamic padding and length grouping save, per task (prints a table).

    python benchmarks/padding.py --data-dir ../shared/data --tasks sst2,mrpc,stsb,rte --max-train 1000

Counts tokens only (no training): real tokens, and the tokens a batch of that size computes on
when padded to the longest in the batch, for random batches, length-grouped batches (the
training order) and a fixed pad to --max-length.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from benchmark import data
from benchmark.model import resolve_model
from benchmark.tasks import resolve_tasks


def padded(lengths: np.ndarray, batches: list[list[int]]) -> int:
    return int(sum(len(b) * lengths[b].max() for b in batches))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tasks", default="sst2,mrpc,stsb,rte")
    p.add_argument("--model", default="minilm")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--max-train", type=int, default=1000)
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--batch-size", type=int, default=32)
    args = p.parse_args()
    from transformers import AutoTokenizer

    data_dir = data.resolve_data_dir(args.data_dir)
    if data_dir is not None:
        data.set_offline()
    tok = AutoTokenizer.from_pretrained(resolve_model(args.model))
    print(f"{'task':<8} {'real':>8} {'fixed':>8} {'random':>8} {'grouped':>8} {'grouped/random':>15}")
    for spec in resolve_tasks(args.tasks.split(",")):
        t = data.prepare_task(spec, 0, tok, data_dir, args.max_train, 1, 0, args.max_length)
        lengths = t.train.lengths
        rng = np.random.default_rng(0)
        perm = rng.permutation(len(lengths))
        rand = [perm[i : i + args.batch_size].tolist() for i in range(0, len(perm), args.batch_size)]
        grouped = data.length_grouped_order(lengths, args.batch_size, torch.Generator().manual_seed(0))
        r, g = padded(lengths, rand), padded(lengths, grouped)
        print(f"{spec.name:<8} {lengths.sum():>8} {len(lengths) * args.max_length:>8} {r:>8} {g:>8} {g / r:>15.2f}")


if __name__ == "__main__":
    main()
