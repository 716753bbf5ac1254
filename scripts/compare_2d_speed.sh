#!/usr/bin/env bash
# Our 2D training iteration against PyTorch's, alternating in one run so both see the same
# machine load. Needs a Python with torch (PYTHON=/path/to/python, default python3).
# Prints each round's medians and the ratio ours / PyTorch (below 1 means we are faster).
# DEVICE=cuda compares on an NVIDIA GPU: ours through wgpu (Vulkan), PyTorch through CUDA.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
ROUNDS=${ROUNDS:-3}
DEVICE=${DEVICE:-cpu}
features=()
if [ "$DEVICE" != cpu ]; then features=(--features wgpu); export BURN_DEVICE=wgpu; fi
estimate=${CARGO_TARGET_DIR:-target}/criterion/train_step_2d/selfcond_k50_batch100/new/estimates.json
cargo bench "${features[@]}" --bench train_step --no-run >/dev/null 2>&1
for round in $(seq "$ROUNDS"); do
  cargo bench "${features[@]}" --bench train_step -- --warm-up-time 2 --measurement-time 10 \
    'train_step_2d/selfcond_k50_batch100' >/dev/null 2>&1
  ours=$("$PYTHON" -c "import json; print(json.load(open('$estimate'))['median']['point_estimate'] / 1e6)")
  theirs=$("$PYTHON" scripts/pytorch_2d_step.py --threads 2 --device "$DEVICE" | "$PYTHON" -c "import json,sys; print(json.load(sys.stdin)['ms_per_iteration_median'])")
  "$PYTHON" -c "print(f'round $round: burn {float($ours):.2f} ms, pytorch {float($theirs):.2f} ms, ratio {float($ours)/float($theirs):.3f}')"
done
