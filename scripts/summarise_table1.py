"""Summarise runs/table1/*/metrics.json as a Markdown table: mean and standard deviation per
(data set, labels, iterations), beside the published baselines. Standard library only.

    python3 scripts/summarise_table1.py runs/table1
"""
import glob
import json
import os
import statistics
import sys
from collections import defaultdict

PUBLISHED = [
    ("ring", "GAN (PacGAN paper)", "6.3", "98.2", "0.45"),
    ("ring", "PacGAN4", "7.8", "95.9", "0.07"),
    ("grid", "GAN (PacGAN paper)", "17.3", "94.8", "0.70"),
    ("grid", "PacGAN4", "24.8", "93.6", "0.04"),
]


def spread(values, fmt):
    if len(values) == 1:
        return fmt.format(values[0])
    return (fmt + " ± " + fmt).format(statistics.mean(values), statistics.stdev(values))


def main(root):
    groups = defaultdict(list)
    for path in sorted(glob.glob(os.path.join(root, "*", "metrics.json"))):
        with open(path) as f:
            m = json.load(f)
        groups[(m["dataset"], m["labels"], m["iterations"], m.get("ema_decay"))].append(m)
    print("| data | method | iterations | seeds | modes | high-quality % | reverse KL |")
    print("|---|---|---|---|---|---|---|")
    for data in ("ring", "grid"):
        for (d, labels, iters, ema), runs in sorted(groups.items(), key=lambda g: str(g[0])):
            if d != data:
                continue
            total = runs[0]["total_modes"]
            modes = [r["modes"] for r in runs]
            hq = [100 * r["high_quality_fraction"] for r in runs]
            kl = [r["reverse_kl"] for r in runs]
            seeds = ",".join(str(r["seed"]) for r in runs)
            method = f"{labels} (ours)" if ema is None else f"{labels}, weight average {ema} (ours)"
            print(f"| {data} | {method} | {iters} | {seeds} | "
                  f"{spread(modes, '{:.1f}')} / {total} | {spread(hq, '{:.1f}')} | {spread(kl, '{:.4f}')} |")
        for d, name, modes, hq, kl in PUBLISHED:
            if d == data:
                print(f"| {data} | {name}, published | 100000 | - | {modes} | {hq} | {kl} |")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "runs/table1")
