#!/usr/bin/env bash
# Our DCGAN training iteration (batch 64, k = 100, width 64) against PyTorch's, alternating in
# one run so both see the same machine load. PYTHON must have torch. DEPTH=shallow|deep.
# DEVICE=cuda compares on an NVIDIA GPU: ours through wgpu (Vulkan), PyTorch through CUDA.
# Prints each round's medians, peak host memory (RSS; on a GPU the device memory is not in it)
# and the ratio ours / PyTorch (below 1: we are faster).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
ROUNDS=${ROUNDS:-2}
DEPTH=${DEPTH:-shallow}
ITERS=${ITERS:-10}
DEVICE=${DEVICE:-cpu}
features=()
if [ "$DEVICE" != cpu ]; then features=(--features wgpu); export BURN_DEVICE=wgpu; fi
cargo build "${features[@]}" --release --example image_step_speed >/dev/null 2>&1
for round in $(seq "$ROUNDS"); do
  ours=$(${CARGO_TARGET_DIR:-target}/release/examples/image_step_speed --depth "$DEPTH" --iterations "$ITERS")
  theirs=$("$PYTHON" scripts/pytorch_dcgan_step.py --depth "$DEPTH" --threads 2 --iterations "$ITERS" --device "$DEVICE")
  "$PYTHON" -c "import json,sys; o=json.loads(sys.argv[1]); t=json.loads(sys.argv[2]); print(f'round $round ($DEPTH): burn {o[\"ms_per_iteration_median\"]:.0f} ms ({o[\"peak_rss_mib\"]:.0f} MiB peak RSS), pytorch {t[\"ms_per_iteration_median\"]:.0f} ms ({t[\"peak_rss_mib\"]:.0f} MiB peak RSS), ratio {o[\"ms_per_iteration_median\"]/t[\"ms_per_iteration_median\"]:.2f}')" "$ours" "$theirs"
done
