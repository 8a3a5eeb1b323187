#!/usr/bin/env bash
# text5 (d'Autume et al. 2019: Yelp, AG News, DBpedia, Amazon, Yahoo) over the paper's four
# orders, class-incremental, 2 seeds, caps that fit a CPU (500 train / 200 test per task), at
# the settings tuned on the default stream (results/tuned/mixed4_minilm.toml: tuned on mixed4's
# first two tasks, task-incremental; not re-tuned for text5). Frozen-backbone patches need a task
# id, so adapters runs in the task-incremental version of the stream, in its own folder (not
# comparable with the class-incremental rows). `independent` (single-task fine-tuning, which needs a
# task id too) runs there once per seed: its scores are the single-task references that normalise
# the scores of both folders' runs (a task trained alone has no scenario) and say which tasks are
# learned at these caps (the order does not matter to it; it runs as order 1). Needs the mirrors (CMTBENCH_DATA_DIR) or the Hub.
# Resumable: rerun to continue (SWEEP_FLAGS=--dry-run shows what is left). ORDERS=1 SEEDS=0 runs a
# part first (every strategy on one order: a comparison before the whole grid is done). Then:
#   python results/tables.py orders results/runs/text5-orders results/runs/text5-orders-task-incremental
set -euo pipefail
cd "$(dirname "$0")/../.."
common=(--stream text5 --seeds "${SEEDS:-0,1}" --max-train 500 --max-eval 200
        --tuned results/tuned/mixed4_minilm.toml --jobs "${JOBS:-2}" --quiet ${SWEEP_FLAGS:-})
orders=(--orders "${ORDERS:-1,2,3,4}")
python -m benchmark sweep "${common[@]}" "${orders[@]}" --strategies finetune,replay,coreset-replay,agem,lwf,joint \
  --output-dir results/runs/text5-orders
python -m benchmark sweep "${common[@]}" --orders 1, --strategies independent --scenario task-incremental \
  --output-dir results/runs/text5-orders-task-incremental
python -m benchmark sweep "${common[@]}" "${orders[@]}" --strategies adapters --scenario task-incremental \
  --output-dir results/runs/text5-orders-task-incremental
