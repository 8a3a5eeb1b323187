#!/usr/bin/env bash
# Tuned settings for every registered strategy on the default stream (mixed4, MiniLM, CPU budget).
# Protocol (Chaudhry et al. 2019): chosen on the validation splits of the stream's first two tasks
# (sst2 -> agnews, default caps, seed 0); test is never read. Budget: three grid points per
# strategy (tune --grid):
#   - full-backbone strategies: finetune's backbone lr is tuned once and shared (--share-from) by
#     the strategies whose only searched knob it would be (independent, joint, the replays,
#     task-conditioned); ewc, online-ewc, lwf and derpp then tune their own strength at that lr;
#     agem (plain SGD) tunes its own lr;
#   - frozen-backbone patches: each tunes its lr around the SST-2 study's optimum
#     (results/tuned/sst2_minilm.toml), at its default size/rank.
# Memory budgets are held equal across the replay strategies (100 examples per task), not tuned.
# Two lanes run side by side, one thread each. Resumable: rerun to continue.
set -euo pipefail
cd "$(dirname "$0")/../.."
T=results/tuned/mixed4_minilm.toml
mkdir -p results/tuning/mixed4
tune() {
  local s=$1; shift
  python -m benchmark tune --stream mixed4 --tune-tasks 2 --seed 0 --quiet --strategy "$s" \
    --tuning-dir results/tuning/mixed4 --storage "sqlite:///results/tuning/mixed4/$s.db" \
    --tuned-output "$T" "$@"
}
lr_of() { python -c "import tomllib; print(tomllib.load(open('$T', 'rb'))['$1']['lr'])"; }

full_backbone() {
  tune finetune --grid lr=3e-5,1e-4,3e-4
  for s in independent joint replay coreset-replay sparse-replay task-conditioned; do
    tune "$s" --share-from finetune
  done
  local lr; lr=$(lr_of finetune)
  tune ewc --set lr="$lr" --grid ewc_lambda=1e3,1e4,1e5
  tune online-ewc --set lr="$lr" --grid ewc_lambda=1e3,1e4,1e5
  tune lwf --set lr="$lr" --grid lwf_alpha=0.3,1,3
  tune derpp --set lr="$lr" --grid alpha=0.03,0.1,0.3
  tune agem --grid lr=0.01,0.03,0.1
}

patches() {
  tune head-only --grid lr=3e-3,1e-2,3e-2
  tune bitfit --grid lr=1e-3,3e-3,1e-2
  tune lora --grid lr=1e-3,3e-3,1e-2
  tune adapters --grid lr=3e-4,1e-3,3e-3
  tune ia3 --grid lr=3e-3,1e-2,3e-2
  tune ln-tuning --grid lr=1e-3,3e-3,1e-2
  tune scale-bias --grid lr=1e-3,3e-3,1e-2
  tune pals --grid lr=3e-4,1e-3,3e-3
}

case "${1:-both}" in
  full-backbone) full_backbone ;;
  patches) patches ;;
  both)
    export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE
    full_backbone > results/tuning/mixed4/full-backbone.log 2>&1 &
    patches > results/tuning/mixed4/patches.log 2>&1 &
    wait ;;
  *) echo "usage: $0 [full-backbone|patches|both]" >&2; exit 2 ;;
esac
