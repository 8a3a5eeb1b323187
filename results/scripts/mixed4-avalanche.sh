#!/usr/bin/env bash
# Avalanche's strategies (avalanche:*) beside their native counterparts on the default stream
# (mixed4, MiniLM, one epoch), seed 0, at small caps that fit a shared CPU: 200 train, 100
# validation (held out from train) and 100 test examples per task. The embedded snapshot holds the
# rows of the default caps only, so the runs read a data folder (CMTBENCH_DATA_DIR, see
# docs/data.md). Every run at lr 1e-4 (finetune's tuned rate on mixed4) and each method's
# defaults otherwise, except native agem with optimizer=adamw: its default is the paper's SGD at
# lr 0.03, and Avalanche's A-GEM steps with cmtbench's AdamW. Untuned: these rows compare the
# implementations at equal settings, they are not reference rows. Needs the avalanche extra
# (docs/avalanche.md). Pairs first (native, then Avalanche's), then the wrappers without a native
# counterpart. Resumable: rerun to continue; complete runs are skipped. Then:
#   python results/tables.py reference results/runs/mixed4-avalanche
set -uo pipefail
cd "$(dirname "$0")/../.."
: "${CMTBENCH_DATA_DIR:?set CMTBENCH_DATA_DIR to a folder of Hub-shaped dataset mirrors (docs/data.md)}"
common=(--stream mixed4 --seeds "${SEEDS:-0}" --max-train 200 --max-eval 100 --val-size 100 --lr 1e-4
        --jobs "${JOBS:-1}" --quiet --output-dir results/runs/mixed4-avalanche)
status=0
sweep() { python -m benchmark sweep "$@" "${common[@]}" || status=1; }  # a failed run: go on, exit 1
sweep --strategies finetune,avalanche:Naive,ewc,avalanche:EWC,lwf,avalanche:LwF,replay,avalanche:Replay
sweep --strategies agem --set optimizer=adamw
sweep --strategies avalanche:AGEM,joint,avalanche:Cumulative,avalanche:SI,avalanche:MAS,avalanche:GEM,avalanche:GDumb
exit $status
