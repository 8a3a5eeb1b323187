#!/usr/bin/env bash
# Single-task references of glue-small (SST-2, MRPC, STS-B, RTE; 1,000 train, 500 validation held
# out from train, 500 test; MiniLM, one epoch), seeds 0-2: which of its tasks are learned.
# `python results/tables.py references results/runs/glue-small-protocol` prints the table.
set -euo pipefail
cd "$(dirname "$0")/../.."
python -m benchmark sweep --strategies independent --seeds 0,1,2 --stream glue-small --quiet \
  --output-dir results/runs/glue-small-protocol
