#!/usr/bin/env bash
# Table 1 of the paper with our code: selfcond and unconditional on ring and grid, several
# seeds at ITERS iterations (k = 50, recluster every 5,000). Results land in runs/table1/.
# BIN=dir with prebuilt ring/grid binaries (default: target/release/examples). EMA=0.999
# samples from a moving average of G's weights (`--ema-decay`; off by default, as in the paper).
set -euo pipefail
cd "$(dirname "$0")/.."
ITERS=${ITERS:-25000}
SEEDS=${SEEDS:-"0 1 2"}
BIN=${BIN:-target/release/examples}
EMA=${EMA:-}
ema=()
suffix=
if [ -n "$EMA" ]; then ema=(--ema-decay "$EMA"); suffix=-ema$EMA; fi
[ -x "$BIN/ring" ] || cargo build --release --example ring --example grid
for seed in $SEEDS; do
  for data in ring grid; do
    for labels in selfcond unconditional; do
      out=runs/table1/$data-$labels$suffix-$ITERS-seed$seed
      [ -f "$out/metrics.json" ] && continue
      "$BIN/$data" --iters "$ITERS" --seed "$seed" --labels "$labels" "${ema[@]}" --out "$out" --quiet
    done
  done
done
python3 scripts/summarise_table1.py runs/table1
