#!/usr/bin/env bash
# Our k-means against scikit-learn's KMeans(n_init=10) on the same synthetic recipe,
# alternating in one run. PYTHON must have scikit-learn and threadpoolctl.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
N=${N:-25000} D=${D:-2048} K=${K:-100} RESTARTS=${RESTARTS:-10} ROUNDS=${ROUNDS:-2}
cargo build --release --example kmeans_speed >/dev/null 2>&1
for round in $(seq "$ROUNDS"); do
  ours=$(target/release/examples/kmeans_speed --n "$N" --d "$D" --k "$K" --restarts "$RESTARTS" --repeats 1)
  theirs=$("$PYTHON" scripts/sklearn_kmeans.py --n "$N" --d "$D" --k "$K" --n-init "$RESTARTS" --repeats 1)
  echo "round $round: ours $ours"
  echo "round $round: sklearn $theirs"
  "$PYTHON" -c "import json,sys; o=json.loads(sys.argv[1]); t=json.loads(sys.argv[2]); print(f'round $round: ours {o[\"ours_seconds_median\"]:.2f} s, sklearn {t[\"sklearn_seconds_median\"]:.2f} s, speed-up {t[\"sklearn_seconds_median\"]/o[\"ours_seconds_median\"]:.2f}x')" "$ours" "$theirs"
done
