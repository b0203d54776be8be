#!/usr/bin/env bash
# Before/after A/B of vaekit's own CPU benches, alternating in one session:
# how a change is shown to cost nothing (docs/performance.md, issue 22).
#
#   benches/ab.sh BEFORE_DIR AFTER_DIR [ROUNDS]      (default 3 rounds)
#
# Each DIR holds the bench binaries of one commit, copied from
# target/release/deps/ after `cargo bench --no-run` (train_throughput-*,
# iwae_throughput-*, text_throughput-*, sample_metrics-*). Pairs alternate
# which side runs first. Compare medians of the per-round ratios: single
# runs on a shared machine swing by ±10–25%.
set -euo pipefail
cd "$(dirname "$0")/.."
BEFORE=${1:?BEFORE_DIR}; AFTER=${2:?AFTER_DIR}; ROUNDS=${3:-3}
one() { # label dir bench args...
  local tag=$1 dir=$2 b=$3; shift 3
  local bin
  bin=$(ls "$dir/${b}"-* | grep -v '\.d$' | head -1)
  echo "## $tag $b $*"; "$bin" --bench "$@" 2>&1 | grep -v '^$' | tail -6
}
for r in $(seq 1 "$ROUNDS"); do
  echo "#### round $r"
  for s in "before $BEFORE" "after $AFTER"; do set -- $s; one "$1" "$2" train_throughput --batch 128 --steps 600; done
  for s in "after $AFTER" "before $BEFORE"; do set -- $s; one "$1" "$2" iwae_throughput --path fast --images 20; done
  for s in "before $BEFORE" "after $AFTER"; do set -- $s; one "$1" "$2" text_throughput --batch 32 --steps 200; done
  for s in "after $AFTER" "before $BEFORE"; do set -- $s; one "$1" "$2" sample_metrics --n 10000 --d 64 --rounds 3; done
done
