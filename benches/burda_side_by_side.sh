#!/usr/bin/env bash
# Burda et al. (2016)'s MNIST models at batch 20, vaekit and its PyTorch
# twin alternating, in one session: the figures of docs/performance.md's
# "Batch 20" section.
#
#   benches/burda_side_by_side.sh [ROUNDS] [PYTHON]     (defaults: 3, python3)
#
# PYTHON needs torch (`pip install torch`, CPU). Each round runs, for one and
# two stochastic layers and k = 1, 5, 50: vaekit's bench, then the twin
# (docs/python/burda_ref.py bench) with the same model, objective and batch.
# Compare medians of the per-round ratios: the machine is shared and noisy.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
PY=${2:-python3}
cargo bench --bench burda_throughput --no-run -q
for r in $(seq 1 "$ROUNDS"); do
  echo "## round $r"
  for layers in 1 2; do
    for k in 1 5 50; do
      steps=$(( k == 50 ? 200 : (k == 5 ? 1000 : 2000) ))
      cargo bench -q --bench burda_throughput -- --layers "$layers" --k "$k" --steps "$steps" 2>/dev/null | grep '^vaekit'
      obj=$([ "$k" = 1 ] && echo vae || echo iwae)
      $PY docs/python/burda_ref.py bench --layers "$layers" --objective "$obj" --k "$k" --init glorot --steps "$steps" | grep '^torch train'
    done
  done
done
