#!/usr/bin/env bash
# vaekit's CPU benches and their PyTorch references, alternating, in one
# session: the measurements behind docs/performance.md.
#
#   benches/side_by_side.sh [ROUNDS] [PYTHON]     (defaults: 3, python3)
#
# PYTHON needs torch (`pip install torch`, CPU). Each round runs, in order:
# training at batch 128 and 1024, IWAE k = 5000 with the standard normal
# prior, a 10-component GMM, a 10-component VampPrior and a Gaussian decoder
# — vaekit, then PyTorch, for each — and then the same training and IWAE
# pairs restricted to AVX2: vaekit built without its `avx512` feature
# (`cargo bench --no-default-features`), PyTorch with
# ATEN_CPU_CAPABILITY=avx2, MKL_ENABLE_INSTRUCTIONS=AVX2 and
# ONEDNN_MAX_CPU_ISA=AVX2. On a machine without AVX-512 the two halves are
# the same code. Compare medians of the per-round ratios: single runs on a
# shared machine swing by ±15%.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
PY=${2:-python3}
TORCH_REF=../shared/bench/torch_vae_ref.py
[ -f "$TORCH_REF" ] || { echo "missing $TORCH_REF (the shared PyTorch reference)" >&2; exit 1; }

# Build both variants first so that no round waits for a build.
cargo bench --bench train_throughput --bench iwae_throughput --no-run -q
cargo bench --no-default-features --bench train_throughput --bench iwae_throughput --no-run -q

vk() { cargo bench -q "$@" 2>/dev/null | grep '^vaekit'; }
avx2_env=(env ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2 ONEDNN_MAX_CPU_ISA=AVX2)

for r in $(seq 1 "$ROUNDS"); do
  echo "## round $r"
  for b in "128 600" "1024 80"; do
    set -- $b
    vk --bench train_throughput -- --batch "$1" --steps "$2"
    $PY "$TORCH_REF" train --batch "$1" --steps "$2"
  done
  vk --bench iwae_throughput -- --path fast --images 20
  $PY "$TORCH_REF" iwae --images 20
  for p in "--prior gmm" "--prior vamp" "--prior vae --likelihood gaussian"; do
    # shellcheck disable=SC2086
    vk --bench iwae_throughput -- --path fast --images 20 $p
    # shellcheck disable=SC2086
    $PY benches/torch_mixture_ref.py --images 20 $p
  done
  echo "## round $r, AVX2 only"
  for b in "128 600" "1024 80"; do
    set -- $b
    vk --no-default-features --bench train_throughput -- --batch "$1" --steps "$2"
    "${avx2_env[@]}" $PY "$TORCH_REF" train --batch "$1" --steps "$2"
  done
  vk --no-default-features --bench iwae_throughput -- --path fast --images 20
  "${avx2_env[@]}" $PY "$TORCH_REF" iwae --images 20
done
