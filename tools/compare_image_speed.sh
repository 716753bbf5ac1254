#!/usr/bin/env bash
# Our DCGAN training iteration (batch 64, k = 100, width 64) against PyTorch's, alternating in
# one run so both see the same machine load. PYTHON must have torch. DEPTH=shallow|deep.
# DEVICE=cuda compares on an NVIDIA GPU: ours through wgpu (Vulkan), PyTorch through CUDA.
# Prints each round's medians, peak host memory (RSS; on a GPU the device memory is not in it)
# and the ratio ours / PyTorch (below 1: we are faster). PyTorch runs twice per round: as the
# official code (G forward twice per iteration) and with one G forward per iteration, as ours.
# PHASES=1 instead times labelling, the D step and the G step apart, both sides in the official
# code's order, and prints each part's ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
ROUNDS=${ROUNDS:-2}
DEPTH=${DEPTH:-shallow}
ITERS=${ITERS:-10}
DEVICE=${DEVICE:-cpu}
PHASES=${PHASES:-0}
features=()
if [ "$DEVICE" != cpu ]; then features=(--features wgpu); export BURN_DEVICE=wgpu; fi
cargo build -p selfcond-gan-tools "${features[@]}" --release --bin image_step_speed >/dev/null 2>&1
source scripts/machine.sh
if [ "$PHASES" = 1 ]; then
  for round in $(seq "$ROUNDS"); do
    ours=$(${CARGO_TARGET_DIR:-target}/release/image_step_speed --depth "$DEPTH" --iterations "$ITERS" --phases)
    theirs=$("$PYTHON" scripts/pytorch_dcgan_step.py --depth "$DEPTH" --threads 2 --iterations "$ITERS" --device "$DEVICE" --phases)
    "$PYTHON" - "$round" "$DEPTH" "$ours" "$theirs" <<'PY'
import json, sys
round_, depth, ours, theirs = sys.argv[1:]
ours, theirs = json.loads(ours), json.loads(theirs)
parts = [f"{name} {ours[key]:.0f} ms against {theirs[key]:.0f} ms (ratio {ours[key] / theirs[key]:.2f})"
         for name, key in [("label", "label_ms_median"), ("D step", "d_step_ms_median"),
                           ("G step", "g_step_ms_median")]]
print(f"round {round_} ({depth}): " + "; ".join(parts))
PY
  done
  exit 0
fi
for round in $(seq "$ROUNDS"); do
  ours=$(${CARGO_TARGET_DIR:-target}/release/image_step_speed --depth "$DEPTH" --iterations "$ITERS")
  theirs=$("$PYTHON" scripts/pytorch_dcgan_step.py --depth "$DEPTH" --threads 2 --iterations "$ITERS" --device "$DEVICE")
  theirs_one=$("$PYTHON" scripts/pytorch_dcgan_step.py --depth "$DEPTH" --threads 2 --iterations "$ITERS" --device "$DEVICE" --one-generator-pass)
  "$PYTHON" - "$round" "$DEPTH" "$ours" "$theirs" "$theirs_one" <<'PY'
import json, sys
round_, depth, *runs = sys.argv[1:]
ours, theirs, theirs_one = (json.loads(r) for r in runs)
def show(r):
    return f"{r['ms_per_iteration_median']:.0f} ms ({r['peak_rss_mib']:.0f} MiB peak RSS)"
ms = ours["ms_per_iteration_median"]
print(f"round {round_} ({depth}): burn {show(ours)}; pytorch as the official code {show(theirs)}, "
      f"ratio {ms / theirs['ms_per_iteration_median']:.2f}; pytorch with one G pass "
      f"{show(theirs_one)}, ratio {ms / theirs_one['ms_per_iteration_median']:.2f}")
PY
done
