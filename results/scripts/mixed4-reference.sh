#!/usr/bin/env bash
# The reference sweep on the default stream (mixed4, embedded data: no data folder needed):
# every registered strategy x seeds 0-4 at the settings tuned on validation
# (results/tuned/mixed4_minilm.toml, made by results/scripts/mixed4-tuning.sh), two runs at a time
# with one thread each, seed-major (every strategy at seed 0 first). Resumable: rerun to continue;
# complete runs are skipped. Then:
#   python -m benchmark leaderboard results/runs/mixed4 --output /tmp/mixed4.csv --format markdown
set -euo pipefail
cd "$(dirname "$0")/../.."
strategies=$(python -m benchmark list | awk '/^strategies:/{f=1;next} /^[a-z]/{f=0} f{print $1}' | paste -sd, -)
python -m benchmark sweep --strategies "$strategies" --seeds "${SEEDS:-0,1,2,3,4}" --jobs "${JOBS:-2}" \
  --tuned results/tuned/mixed4_minilm.toml --quiet --output-dir results/runs/mixed4
