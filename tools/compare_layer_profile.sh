#!/usr/bin/env bash
# Per-layer profile of a DCGAN iteration (batch 64), ours beside PyTorch's, alternating in one
# run. PYTHON must have torch. DEPTH (shallow|deep), WIDTH (64), ROUNDS (1), REPEATS (7).
# Prints one table per round: forward and forward+backward milliseconds of every layer alone,
# and the ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
ROUNDS=${ROUNDS:-1}
WIDTH=${WIDTH:-64}
REPEATS=${REPEATS:-7}
DEPTH=${DEPTH:-shallow}
cargo build -p selfcond-gan-tools --release --bin layer_profile >/dev/null 2>&1
source scripts/machine.sh
for round in $(seq "$ROUNDS"); do
  ours=$(${CARGO_TARGET_DIR:-target}/release/layer_profile --width "$WIDTH" --depth "$DEPTH" --repeats "$REPEATS")
  theirs=$("$PYTHON" scripts/pytorch_layer_profile.py --width "$WIDTH" --depth "$DEPTH" --threads 2 --repeats "$REPEATS")
  "$PYTHON" - "$ours" "$theirs" <<'PY'
import json, sys
ours = [json.loads(l) for l in sys.argv[1].splitlines()]
theirs = [json.loads(l) for l in sys.argv[2].splitlines()]
print(f"{'layer':38} {'fwd ours':>9} {'fwd torch':>9} {'ratio':>6} {'f+b ours':>9} {'f+b torch':>9} {'ratio':>6}")
total = [0.0, 0.0]
for o, t in zip(ours, theirs):
    total[0] += o["forward_backward_ms"]; total[1] += t["forward_backward_ms"]
    print(f"{o['layer'][:38]:38} {o['forward_ms']:9.1f} {t['forward_ms']:9.1f} {o['forward_ms']/t['forward_ms']:6.2f}"
          f" {o['forward_backward_ms']:9.1f} {t['forward_backward_ms']:9.1f} {o['forward_backward_ms']/t['forward_backward_ms']:6.2f}")
print(f"{'sum of forward+backward':38} {'':9} {'':9} {'':6} {total[0]:9.1f} {total[1]:9.1f} {total[0]/total[1]:6.2f}")
PY
done
