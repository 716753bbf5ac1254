"""Time scikit-learn's KMeans (k-means++ init, Lloyd, tol 1e-4, 2 threads) on the points our
`kmeans_speed` example wrote with --save-data, or else on the same recipe drawn by NumPy: n points
around k random centres (uniform in [-1, 1]^d, noise std 0.3).

    python scripts/sklearn_kmeans.py --data points.npy --k 100 --n-init 10
"""
import argparse
import json
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "2")

import numpy as np  # noqa: E402
from sklearn.cluster import KMeans  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=25000)
    p.add_argument("--d", type=int, default=2048)
    p.add_argument("--k", type=int, default=100)
    p.add_argument("--n-init", type=int, default=10)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--data", help="float32 .npy of points; overrides --n/--d")
    args = p.parse_args()
    if args.data:
        x = np.load(args.data)
    else:
        rng = np.random.default_rng(1)
        centres = rng.uniform(-1, 1, size=(args.k, args.d)).astype(np.float32)
        noise = rng.standard_normal((args.n, args.d), dtype=np.float32)
        x = centres[np.arange(args.n) % args.k] + 0.3 * noise
    times = []
    with threadpool_limits(limits=2):
        for r in range(args.repeats):
            start = time.perf_counter()
            km = KMeans(n_clusters=args.k, n_init=args.n_init, random_state=r).fit(x)
            times.append(time.perf_counter() - start)
    print(json.dumps({"sklearn_seconds_median": sorted(times)[len(times) // 2], "seconds": times,
                      "n_init": args.n_init, "inertia": float(km.inertia_), "n_iter": int(km.n_iter_)}))


if __name__ == "__main__":
    main()
