#!/usr/bin/env bash
# Our 2D training iteration against PyTorch's, alternating in one run so both see the same
# machine load. Needs a Python with torch (PYTHON=/path/to/python, default python3).
# Prints each round's medians and the ratio ours / PyTorch (below 1 means we are faster).
# The lean PyTorch step runs twice per round: as the official code (G forward twice per
# iteration) and with one G forward per iteration, as ours.
# DEVICE=cuda compares on an NVIDIA GPU: ours through wgpu (Vulkan), PyTorch through CUDA.
# REFERENCE_DIR=/path/to/self-conditioned-gan also times the paper's official training loop
# (scripts/official_2d.py; its Python also needs scipy and scikit-learn).
# Ours runs on OUR_THREADS rayon threads (default 1, as the 2D examples do: on this model one
# thread is faster than two); PyTorch always gets 2.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
ROUNDS=${ROUNDS:-3}
DEVICE=${DEVICE:-cpu}
REFERENCE_DIR=${REFERENCE_DIR:-}
export OUR_THREADS=${OUR_THREADS:-1}
features=()
if [ "$DEVICE" != cpu ]; then features=(--features wgpu); export BURN_DEVICE=wgpu; fi
estimate=${CARGO_TARGET_DIR:-target}/criterion/train_step_2d/selfcond_k50_batch100/new/estimates.json
median() { "$PYTHON" -c "import json,sys; print(json.load(sys.stdin)['ms_per_iteration_median'])"; }
cargo bench "${features[@]}" --bench train_step --no-run >/dev/null 2>&1
source scripts/machine.sh
for round in $(seq "$ROUNDS"); do
  RAYON_NUM_THREADS=$OUR_THREADS cargo bench "${features[@]}" --bench train_step -- \
    --warm-up-time 2 --measurement-time 10 \
    'train_step_2d/selfcond_k50_batch100' >/dev/null 2>&1
  ours=$("$PYTHON" -c "import json; print(json.load(open('$estimate'))['median']['point_estimate'] / 1e6)")
  theirs=$("$PYTHON" scripts/pytorch_2d_step.py --threads 2 --device "$DEVICE" | median)
  theirs_one=$("$PYTHON" scripts/pytorch_2d_step.py --threads 2 --device "$DEVICE" --one-generator-pass | median)
  official=
  if [ -n "$REFERENCE_DIR" ]; then
    official=$("$PYTHON" scripts/official_2d.py --reference-dir "$REFERENCE_DIR" --device "$DEVICE" --threads 2 \
      time 2>/dev/null | median)
  fi
  "$PYTHON" - "$round" "$ours" "$theirs" "$theirs_one" $official <<'PY'
import os, sys
round_, ours, theirs, theirs_one, *official = sys.argv[1:]
ours, theirs, theirs_one = float(ours), float(theirs), float(theirs_one)
line = (f"round {round_}: burn {ours:.2f} ms ({os.environ['OUR_THREADS']} thread(s)), pytorch {theirs:.2f} ms, ratio {ours / theirs:.3f}; "
        f"pytorch with one G pass {theirs_one:.2f} ms, ratio {ours / theirs_one:.3f}")
if official:
    line += f"; official code {float(official[0]):.2f} ms, ratio {ours / float(official[0]):.3f}"
print(line)
PY
done
