#!/usr/bin/env python3
"""Cross-checks the crate's KID, precision / recall, density / coverage and Inception Score
against the reference Python implementations on the same numbers.

References: KID from torch-fidelity (its `kernel_mmd`, the unbiased MMD^2 with the cubic
polynomial kernel, on the whole sets so that no random subset is involved), the `prdc`
package (`compute_prdc`, k = 3 for precision / recall, k = 5 for density / coverage), and
torch-fidelity's `isc_features_to_metric` on seeded logits (10 splits, its default shuffle with
seed 2020). KID runs torch-fidelity's numpy code, loaded with a stand-in `torch` module; the
Inception Score needs PyTorch itself and is skipped when it is not installed.

    python3 -m venv /tmp/metrics && /tmp/metrics/bin/pip install prdc torch
    /tmp/metrics/bin/pip install --no-deps torch-fidelity==0.4.0
    /tmp/metrics/bin/python scripts/check_feature_metrics.py --tool target/release/feature_metrics

Prints one line per metric: ours, the reference, the absolute difference.
"""
import argparse
import importlib.util
import json
import pathlib
import subprocess
import sys
import tempfile
import types

import numpy as np
from prdc import compute_prdc


def torch_fidelity_modules():
    """torch-fidelity's `metric_kid` and, with PyTorch installed, `metric_isc` (else None),
    loaded without its feature-extractor imports."""
    try:
        import torch  # noqa: F401
        have_torch = True
    except ImportError:
        have_torch = False
    spec = importlib.util.find_spec("torch_fidelity")
    package_dir = pathlib.Path(spec.submodule_search_locations[0])
    torch_stub = types.ModuleType("torch")
    torch_stub.is_tensor = lambda _: False
    sys.modules.setdefault("torch", torch_stub)
    tqdm_stub = types.ModuleType("tqdm")
    tqdm_stub.tqdm = lambda iterable, **_: iterable
    sys.modules.setdefault("tqdm", tqdm_stub)
    package = types.ModuleType("torch_fidelity")
    package.__path__ = [str(package_dir)]
    sys.modules["torch_fidelity"] = package
    utils = types.ModuleType("torch_fidelity.utils")
    for name in ("create_feature_extractor", "extract_featuresdict_from_input_id_cached",
                 "resolve_feature_extractor", "resolve_feature_layer_for_metric"):
        setattr(utils, name, None)
    sys.modules["torch_fidelity.utils"] = utils

    def load(name):
        module_spec = importlib.util.spec_from_file_location(
            f"torch_fidelity.{name}", package_dir / f"{name}.py")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[f"torch_fidelity.{name}"] = module
        module_spec.loader.exec_module(module)
        return module

    for name in ("defaults", "deprecations", "helpers"):
        load(name)
    return load("metric_kid"), load("metric_isc") if have_torch else None


def features(rng, n, dim, shift, scale):
    # Non-negative like Inception's pool features (they follow a ReLU and an average).
    return np.abs(shift + scale * rng.standard_normal((n, dim))).astype(np.float32)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tool", required=True, help="the feature_metrics binary")
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--is-samples", type=int, default=5000)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    real = features(rng, args.n, args.dim, 1.0, 1.0)
    fake = features(rng, args.n, args.dim, 1.1, 1.1)
    with tempfile.TemporaryDirectory() as work:
        real_path, fake_path = pathlib.Path(work, "real.npy"), pathlib.Path(work, "fake.npy")
        np.save(real_path, real)
        np.save(fake_path, fake)
        # Peaked, uneven class probabilities over the Inception's 1008 classes.
        logits = (4.0 * rng.standard_normal((args.is_samples, 1008))).astype(np.float32)
        logits_path = pathlib.Path(work, "logits.npy")
        np.save(logits_path, logits)
        # One KID subset of the whole set: a permutation, which the estimate ignores.
        out = subprocess.run(
            [args.tool, "--real", real_path, "--fake", fake_path, "--kid-subsets", "1",
             "--kid-subset-size", str(args.n), "--is-logits", logits_path],
            check=True, capture_output=True, text=True).stdout
    ours = json.loads(out)
    ours.update(ours.pop("inception_score"))

    metric_kid, metric_isc = torch_fidelity_modules()
    kernel_mmd = metric_kid.kernel_mmd
    reference = {"kid_mean": float(kernel_mmd(
        real.astype(np.float64), fake.astype(np.float64), kid_kernel="poly",
        kid_kernel_poly_degree=3, kid_kernel_poly_gamma=None, kid_kernel_poly_coef0=1))}
    pr = compute_prdc(real, fake, nearest_k=3)
    dc = compute_prdc(real, fake, nearest_k=5)
    reference.update(precision=pr["precision"], recall=pr["recall"],
                     density=dc["density"], coverage=dc["coverage"])
    if metric_isc is not None:
        import torch
        isc = metric_isc.isc_features_to_metric(torch.from_numpy(logits), splits=10,
                                                shuffle=True, rng_seed=2020)
        reference.update(is_mean=isc["inception_score_mean"], is_std=isc["inception_score_std"])
    else:
        print("Inception Score not checked: PyTorch is not installed")
    print(f"{args.n} x {args.n} features of {args.dim} dims, {args.is_samples} x 1008 logits, "
          f"seed {args.seed}")
    for key, value in reference.items():
        print(f"{key:9s} ours {ours[key]:.9g}  reference {value:.9g}  |diff| {abs(ours[key] - value):.3g}")


if __name__ == "__main__":
    main()
