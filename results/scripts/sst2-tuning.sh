#!/usr/bin/env bash
# Default against tuned settings on SST-2 alone (1,000 train / 500 validation held out from train /
# 500 test examples, MiniLM, one epoch), for four frozen-backbone strategies. `tune` chooses each
# strategy's settings on validation (8 Optuna trials, seed 0); the runs that follow are scored on
# test at the defaults and at the tuned settings, seeds 0-2. Resumable: rerun to continue.
# Needs CMTBENCH_DATA_DIR (or --data-dir) pointing at Hub-shaped mirrors, or the Hub.
set -euo pipefail
cd "$(dirname "$0")/../.."
TUNED=results/tuned/sst2_minilm.toml
for s in head-only bitfit lora adapters; do
  python -m benchmark tune --strategy "$s" --tasks sst2 --trials 8 --quiet \
    --tuning-dir results/tuning --tuned-output "$TUNED"
done
for s in head-only bitfit lora adapters; do
  python -m benchmark sweep --strategies "$s" --tasks sst2 --seeds 0,1,2 --quiet \
    --output-dir results/runs/sst2-default
  python -m benchmark sweep --strategies "$s" --tasks sst2 --seeds 0,1,2 --quiet --tuned "$TUNED" \
    --output-dir results/runs/sst2-tuned
done
python -m benchmark sweep --strategies independent --tasks sst2 --seeds 0,1,2 --quiet \
  --output-dir results/runs/sst2-default
