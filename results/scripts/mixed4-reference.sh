#!/usr/bin/env bash
# The reference sweep on the default stream (mixed4, embedded data: no data folder needed):
# every strategy with settings tuned on validation (a table in results/tuned/mixed4_minilm.toml,
# made by results/scripts/mixed4-tuning.sh) x seeds 0-4, two runs at a time with one thread each,
# seed-major (every strategy at seed 0 first). The avalanche:* wrappers are left out: they are an
# interop check against the native strategies (docs/avalanche.md, untuned), not reference rows.
# STRATEGIES=a,b overrides the list; SWEEP_FLAGS=--dry-run shows what is left and its CPU time.
# Resumable: rerun to continue; complete runs are skipped. Then:
#   python results/tables.py reference results/runs/mixed4
set -euo pipefail
cd "$(dirname "$0")/../.."
tuned=results/tuned/mixed4_minilm.toml
strategies=${STRATEGIES:-$(python -c "import sys, tomllib; print(','.join(tomllib.load(open(sys.argv[1], 'rb'))))" "$tuned")}
python -m benchmark sweep --strategies "$strategies" --seeds "${SEEDS:-0,1,2,3,4}" --jobs "${JOBS:-2}" \
  --tuned "$tuned" --quiet --output-dir results/runs/mixed4 ${SWEEP_FLAGS:-}
