#!/usr/bin/env bash
# Our k-means against scikit-learn's KMeans(n_init=10) on the same points (our example writes
# them as .npy, sklearn reads them), alternating in one run. PYTHON must have scikit-learn and
# threadpoolctl. Prints both times, both inertias and the speed-up.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
N=${N:-25000} D=${D:-2048} K=${K:-100} RESTARTS=${RESTARTS:-10} ROUNDS=${ROUNDS:-2}
cargo build -p selfcond-gan-tools --release --bin kmeans_speed >/dev/null 2>&1
data=$(mktemp --suffix .npy)
trap 'rm -f "$data"' EXIT
source scripts/machine.sh
for round in $(seq "$ROUNDS"); do
  ours=$("${CARGO_TARGET_DIR:-target}"/release/kmeans_speed --n "$N" --d "$D" --k "$K" --restarts "$RESTARTS" --repeats 1 --save-data "$data")
  theirs=$("$PYTHON" scripts/sklearn_kmeans.py --data "$data" --k "$K" --n-init "$RESTARTS" --repeats 1)
  echo "round $round: ours $ours"
  echo "round $round: sklearn $theirs"
  "$PYTHON" -c "import json,sys; o=json.loads(sys.argv[1]); t=json.loads(sys.argv[2]); print(f'round $round: ours {o[\"ours_seconds_median\"]:.2f} s, sklearn {t[\"sklearn_seconds_median\"]:.2f} s, speed-up {t[\"sklearn_seconds_median\"]/o[\"ours_seconds_median\"]:.2f}x, inertia ours/sklearn {o[\"inertia\"]/t[\"inertia\"]:.4f}')" "$ours" "$theirs"
done
