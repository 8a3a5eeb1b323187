#!/usr/bin/env bash
# The reference sweep on the default stream (mixed4, embedded data: no data folder needed):
# every registered strategy x seeds 0-4, with `independent` first so that every other run finds
# its single-task reference in the folder (normalised scores, not-learned flags). Resumable: rerun
# to continue; complete runs are skipped. Then:
#   python -m benchmark leaderboard results/runs/mixed4 --output /tmp/mixed4.csv --format markdown
set -euo pipefail
cd "$(dirname "$0")/../.."
python -m benchmark sweep --strategies independent --seeds 0,1,2,3,4 --quiet --output-dir results/runs/mixed4
strategies=$(python -m benchmark list | awk '/^strategies:/{f=1;next} /^[a-z]/{f=0} f{print $1}' | grep -v '^independent$' | paste -sd, -)
python -m benchmark sweep --strategies "$strategies" --seeds 0,1,2,3,4 --quiet --output-dir results/runs/mixed4
