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
# A grid whose best point is at its edge grows by one point beyond that edge (x or / sqrt(10)),
# once, so that no choice is an edge of the range searched unless the extended grid says so.
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
# grid STRATEGY KEY V1,V2,V3 [tune flags]: the grid, then one more point past an edge it chose
grid() {
  local s=$1 key=$2 values=$3; shift 3
  tune "$s" --grid "$key=$values" "$@"
  local grown
  grown=$(python - "$T" "$s" "$key" "$values" <<'PY'
import sys, tomllib
path, s, key, values = sys.argv[1:]
points = [float(v) for v in values.split(",")]
best = float(tomllib.load(open(path, "rb"))[s][key])
grown = ([points[0] / 10 ** 0.5] if best == points[0] else []) + points + \
        ([points[-1] * 10 ** 0.5] if best == points[-1] else [])
print(",".join(f"{v:.3g}" for v in grown) if len(grown) > len(points) else "")
PY
)
  if [ -n "$grown" ]; then tune "$s" --grid "$key=$grown" "$@"; fi
}

full_backbone() {
  grid finetune lr 3e-5,1e-4,3e-4
  for s in independent joint replay coreset-replay sparse-replay task-conditioned; do
    tune "$s" --share-from finetune
  done
  local lr; lr=$(lr_of finetune)
  grid ewc ewc_lambda 1e3,1e4,1e5 --set lr="$lr"
  grid online-ewc ewc_lambda 1e3,1e4,1e5 --set lr="$lr"
  grid lwf lwf_alpha 0.3,1,3 --set lr="$lr"
  grid derpp alpha 0.03,0.1,0.3 --set lr="$lr"
  grid agem lr 0.01,0.03,0.1
}

patches() {
  grid head-only lr 3e-3,1e-2,3e-2
  grid bitfit lr 1e-3,3e-3,1e-2
  grid lora lr 1e-3,3e-3,1e-2
  grid adapters lr 3e-4,1e-3,3e-3
  grid ia3 lr 3e-3,1e-2,3e-2
  grid ln-tuning lr 1e-3,3e-3,1e-2
  grid scale-bias lr 1e-3,3e-3,1e-2
  grid pals lr 3e-4,1e-3,3e-3
}

# Strategies registered after the first tuning, each on the same budget (three grid points, grown
# once past an edge): progressive-prompts and o-lora tune their lr (a frozen backbone, as the
# patches), o-lora at the released λ1; mbpa trains its backbone at finetune's lr and tunes the lr
# of its local adaptation, with adapt=heads: the paper's adaptation of every weight costs L x K
# forward/backward passes per test example (hours per evaluation on a CPU, docs/strategies.md).
later() {
  grid progressive-prompts lr 3e-3,1e-2,3e-2
  grid o-lora lr 1e-3,3e-3,1e-2
  grid mbpa adapt_lr 1e-3,1e-2,1e-1 --set lr="$(lr_of finetune)" adapt=heads
}

case "${1:-both}" in
  full-backbone) full_backbone ;;
  patches) patches ;;
  later) later ;;
  both)
    export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE
    full_backbone > results/tuning/mixed4/full-backbone.log 2>&1 &
    patches > results/tuning/mixed4/patches.log 2>&1 &
    wait ;;
  *) echo "usage: $0 [full-backbone|patches|both|later]" >&2; exit 2 ;;
esac
