"""Write the embedded snapshot of a stream (benchmark/snapshot_data/) from Hub-shaped sources.

    python scripts/make_snapshot.py --data-dir ../shared/data            # the default stream
    python scripts/make_snapshot.py --stream NAME --data-dir DIR --seeds 0-4

For each task: the rows of its training split that runs at the stream's caps draw for train and
validation with each seed (their union), and the fixed test sample, each row with its position
among the split's usable rows (`__pos__`, see benchmark/snapshot.py), as zstd parquet with the
source's columns. The manifest records, per file, the source (Hub id, config, split), rows, the
usable rows of the full split, sha256 and the dataset's licence. Without --data-dir it reads the
Hub. Deterministic: the same sources give byte-identical files.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmark import data  # noqa: E402
from benchmark.runconfig import RunConfig  # noqa: E402
from benchmark.snapshot import POS, SNAPSHOT_DIR  # noqa: E402
from benchmark.tasks import DEFAULT_STREAM, STREAMS, resolve_tasks  # noqa: E402

# As stated on each dataset's Hub card (license field) and by its authors; the snapshot keeps them.
LICENCES = {
    "nyu-mll/glue": "per task, see the GLUE dataset card and the original datasets' terms "
                    "(SST-2: Stanford Sentiment Treebank; QNLI: derived from SQuAD, CC BY-SA 4.0)",
    "fancyzhx/ag_news": "the AG's corpus terms: free for non-commercial research and education",
    "fancyzhx/dbpedia_14": "CC BY-SA 3.0 (DBpedia)",
    "Yelp/yelp_review_full": "the Yelp Dataset Terms of Use (non-commercial research)",
    "stanfordnlp/imdb": "the Large Movie Review Dataset's terms (research use; cite Maas et al. 2011)",
    "community-datasets/yahoo_answers_topics": "the Yahoo! Answers Comprehensive Questions and "
                                               "Answers terms (Yahoo! Webscope, research use)",
}


# What the sources are, from ../shared/data/README.md (the Hub-shaped mirrors the committed snapshot
# was cut from): where a mirror's split is a subset of the Hub's, a run on the snapshot equals a
# run on that mirror, not one on the Hub.
SOURCES = {
    ("glue", "sst2"): "train and validation are the full official splits (the Hub's rows)",
    ("ag_news", None): "train: 6,600 rows = the official TEST set minus the 1,000 test rows; test: "
                       "a 1,000-row sample of the official test set (subsets of the Hub's splits)",
    ("yelp_review_full", None): "train: a balanced 1,000-row sample of the official train set; test: "
                                "a balanced 1,000-row sample of the official test set (USB splits)",
    ("dbpedia_14", None): "train: 12,600 rows of a 1,000-per-class sample of the official train set; "
                          "test: 100 per class held out from that sample (not the official test set)",
}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def parse_seeds(text: str) -> list[int]:
    if "-" in text:
        a, b = text.split("-")
        return list(range(int(a), int(b) + 1))
    return [int(s) for s in text.split(",")]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--stream", default=DEFAULT_STREAM)
    p.add_argument("--data-dir", default=None, help="Hub-shaped mirrors; default: the Hub")
    p.add_argument("--seeds", default="0-4")
    p.add_argument("--val-size", type=int, default=RunConfig.val_size)
    p.add_argument("--out", default=str(SNAPSHOT_DIR))
    args = p.parse_args(argv)
    import pyarrow as pa
    import pyarrow.parquet as pq

    stream = STREAMS.get(args.stream)
    seeds = parse_seeds(args.seeds)
    data_dir = data.resolve_data_dir(args.data_dir)
    if data_dir is not None:
        data.set_offline()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    manifest = {"stream": stream.name, "seeds": seeds, "made_by": "scripts/make_snapshot.py",
                "source": "Hub-shaped mirrors" if data_dir is not None else "the Hugging Face Hub",
                "tasks": {}}
    for spec in resolve_tasks(list(stream.tasks)):
        max_train = stream.max_train_by_task.get(spec.name, stream.max_train)
        max_eval = stream.max_eval_by_task.get(spec.name, stream.max_eval)
        splits = data.load_splits(spec, data_dir)
        files = {}
        for split in ("train", "test"):
            ds = splits[split]
            labels = data._labels(ds, spec, split)
            usable = np.flatnonzero(np.isfinite(labels))
            if split == "train":
                positions = set()
                for seed in seeds:
                    train, val = data.split_train(len(usable), max_train, args.val_size, seed, spec.name)
                    positions |= set(train.tolist()) | set(val.tolist())
                positions = np.asarray(sorted(positions), dtype=np.int64)
            else:
                positions = data._sample(len(usable), max_eval, data.EVAL_SAMPLE_SEED, spec.name)
            table = ds.select(usable[positions]).flatten_indices().data.table
            table = table.append_column(POS, pa.array(positions, type=pa.int64()))
            rel = Path(spec.name) / f"{split}.parquet"
            (out / spec.name).mkdir(exist_ok=True)
            pq.write_table(table.replace_schema_metadata(None), out / rel, compression="zstd")
            files[split] = {"path": str(rel), "rows": len(positions), "usable_rows": int(len(usable)),
                            "source_split": getattr(spec, f"{split}_split"), "sha256": sha256(out / rel)}
        manifest["tasks"][spec.name] = {
            "dataset": spec.dataset, "config": spec.config, "mirror": spec.mirror,
            "train_split": spec.train_split, "test_split": spec.test_split,
            "max_train": max_train, "max_eval": max_eval, "val_size": args.val_size, "seeds": seeds,
            "licence": LICENCES.get(spec.dataset, "see the dataset card"),
            "source": SOURCES.get((spec.mirror, spec.config), "see the data source's documentation")
            if data_dir is not None else "the Hub's splits", "files": files,
        }
        print(f"{spec.name}: train pool {files['train']['rows']} of {files['train']['usable_rows']} rows, "
              f"test {files['test']['rows']}", file=sys.stderr)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    total = sum((out / f["path"]).stat().st_size for t in manifest["tasks"].values() for f in t["files"].values())
    print(f"wrote {out} ({total / 2**20:.1f} MiB)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
