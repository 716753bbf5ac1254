#!/usr/bin/env python3
"""Cross-checks the crate's KID, precision / recall and density / coverage against the
reference Python implementations on the same features.

References: KID from torch-fidelity (its `kernel_mmd`, the unbiased MMD^2 with the cubic
polynomial kernel, on the whole sets so that no random subset is involved) and the `prdc`
package (`compute_prdc`, k = 3 for precision / recall, k = 5 for density / coverage).
torch-fidelity imports torch at module level; only its numpy code runs here, so the script
loads `metric_kid.py` from the installed package with a stand-in `torch` module and needs no
PyTorch.

    python3 -m venv /tmp/metrics && /tmp/metrics/bin/pip install prdc
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


def torch_fidelity_kernel_mmd():
    """torch-fidelity's `kernel_mmd`, loaded without importing torch."""
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
    return load("metric_kid").kernel_mmd


def features(rng, n, dim, shift, scale):
    # Non-negative like Inception's pool features (they follow a ReLU and an average).
    return np.abs(shift + scale * rng.standard_normal((n, dim))).astype(np.float32)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tool", required=True, help="the feature_metrics binary")
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    real = features(rng, args.n, args.dim, 1.0, 1.0)
    fake = features(rng, args.n, args.dim, 1.1, 1.1)
    with tempfile.TemporaryDirectory() as work:
        real_path, fake_path = pathlib.Path(work, "real.npy"), pathlib.Path(work, "fake.npy")
        np.save(real_path, real)
        np.save(fake_path, fake)
        # One KID subset of the whole set: a permutation, which the estimate ignores.
        out = subprocess.run(
            [args.tool, "--real", real_path, "--fake", fake_path, "--kid-subsets", "1",
             "--kid-subset-size", str(args.n)],
            check=True, capture_output=True, text=True).stdout
    ours = json.loads(out)

    kernel_mmd = torch_fidelity_kernel_mmd()
    reference = {"kid_mean": float(kernel_mmd(
        real.astype(np.float64), fake.astype(np.float64), kid_kernel="poly",
        kid_kernel_poly_degree=3, kid_kernel_poly_gamma=None, kid_kernel_poly_coef0=1))}
    pr = compute_prdc(real, fake, nearest_k=3)
    dc = compute_prdc(real, fake, nearest_k=5)
    reference.update(precision=pr["precision"], recall=pr["recall"],
                     density=dc["density"], coverage=dc["coverage"])
    print(f"{args.n} x {args.n} features of {args.dim} dims, seed {args.seed}")
    for key, value in reference.items():
        print(f"{key:9s} ours {ours[key]:.9g}  reference {value:.9g}  |diff| {abs(ours[key] - value):.3g}")


if __name__ == "__main__":
    main()
