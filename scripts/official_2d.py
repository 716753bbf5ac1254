"""Run the paper's official 2D code (github.com/stevliu/self-conditioned-gan, `2d_mix/`) as it is,
to time its training iteration or to train and score it beside ours.

The official modules are imported from a checkout you provide; nothing of them is copied here.
Two shims let them run on a current stack without a GPU: `Tensor.cuda()` returns the tensor
itself on `--device cpu` (its clusterer moves every batch to CUDA), and the Hungarian solver that
scikit-learn removed in 0.23 (`sklearn.utils.linear_assignment_`) is served by scipy's
`linear_sum_assignment`. The loop below follows `2d_mix/train.py`: labels of the real batch from
the clusterer, the Trainer's D step then G step, and a recluster every `--recluster-every`
iterations (also at iteration 0, after its first step); the evaluation is its own
`percent_good_ring` / `percent_good_grid` on 50,000 samples with the generator in eval mode.

    python scripts/official_2d.py --reference-dir ~/self-conditioned-gan --threads 2 time
    python scripts/official_2d.py --reference-dir ~/self-conditioned-gan train --data ring \\
        --iters 25000 --seed 0

Each prints one JSON line. Needs torch, numpy, scipy and scikit-learn.
"""
import argparse
import contextlib
import json
import os
import random
import statistics
import sys
import time
import types

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment


def import_official(reference_dir, device):
    """Puts the checkout's modules on the path, with the two shims, and imports them."""
    root = os.path.abspath(os.path.expanduser(reference_dir))
    if not os.path.isfile(os.path.join(root, "2d_mix", "train.py")):
        sys.exit(f"{root} is not a checkout of stevliu/self-conditioned-gan (no 2d_mix/train.py)")
    shim = types.ModuleType("sklearn.utils.linear_assignment_")
    shim.linear_assignment = lambda cost: np.stack(linear_sum_assignment(cost), axis=1)
    sys.modules["sklearn.utils.linear_assignment_"] = shim
    if device == "cpu":
        torch.Tensor.cuda = lambda self, *args, **kwargs: self
    # The official files find each other through paths relative to 2d_mix/.
    os.chdir(os.path.join(root, "2d_mix"))
    sys.path[:0] = [os.path.join(root, "2d_mix"), root, os.path.join(root, "gan_training", "models")]
    import config
    import evaluation
    import inputs
    from clusterers import clusterer_dict
    from gan_training.train import Trainer
    return types.SimpleNamespace(config=config, evaluation=evaluation, inputs=inputs,
                                 clusterer_dict=clusterer_dict, Trainer=Trainer)


class Run:
    """The objects `2d_mix/train.py` builds, for one data set and seed."""

    def __init__(self, official, args):
        torch.manual_seed(args.seed)
        np.random.seed(args.seed)
        random.seed(args.seed)
        self.device = torch.device(args.device)
        self.official = official
        self.args = args
        get_data = {"ring": official.inputs.get_data_ring, "grid": official.inputs.get_data_grid}[args.data]
        variance = 0.0001 if args.data == "ring" else 0.0025
        self.zdist = torch.distributions.Normal(torch.zeros(2, device=self.device),
                                                torch.ones(2, device=self.device))
        self.z_test = self.zdist.sample((args.eval_samples,))
        cfg = official.config
        self.x_test, self.y_test = cfg.get_test(get_data, args.eval_samples, variance, 0, self.device)
        x_cluster, _ = cfg.get_test(get_data, 10000, variance, 0, self.device)
        self.loader = cfg.get_dataset(get_data, args.batch, 100000, variance, 0)
        self.g, self.d = cfg.get_models("standard", "conditional", args.k, 200, self.device)
        g_opt, d_opt = cfg.get_optimizers(self.g, self.d)
        self.trainer = official.Trainer(self.g, self.d, g_opt, d_opt, gan_type="standard",
                                        reg_type="none", reg_param=0)
        self.clusterer = official.clusterer_dict["selfcondgan"](
            discriminator=self.d, k_value=args.k, x_cluster=x_cluster)
        self.clusterer.recluster(discriminator=self.d)
        self.iteration = 0

    def iterations(self):
        """Endless training iterations, one per yield, in the official order."""
        while True:
            for x_real, y in self.loader:
                z = self.zdist.sample((self.args.batch,))
                x_real, y = x_real.to(self.device), y.to(self.device)
                y = self.clusterer.get_labels(x_real, y)
                self.trainer.discriminator_trainstep(x_real, y, z)
                self.trainer.generator_trainstep(y, z)
                if self.iteration % self.args.recluster_every == 0:
                    self.clusterer.recluster(self.d, x_batch=x_real)
                self.iteration += 1
                yield

    def evaluate(self):
        self.g.eval()
        self.d.eval()
        with torch.no_grad():
            fake = self.g(self.z_test, self.clusterer.get_labels(self.x_test, self.y_test))
        good = {"ring": self.official.evaluation.percent_good_ring,
                "grid": self.official.evaluation.percent_good_grid}[self.args.data]
        fraction, modes, kl = good(fake.cpu().numpy())
        return {"high_quality_fraction": fraction, "modes": modes, "reverse_kl": kl}


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reference-dir", required=True, help="checkout of stevliu/self-conditioned-gan")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--data", choices=["ring", "grid"], default="ring")
    p.add_argument("--k", type=int, default=50)
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--recluster-every", type=int, default=5000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--eval-samples", type=int, default=50000)
    modes = p.add_subparsers(dest="mode", required=True)
    timing = modes.add_parser("time", help="median milliseconds per training iteration")
    timing.add_argument("--warmup", type=int, default=50)
    timing.add_argument("--window", type=int, default=200)
    timing.add_argument("--windows", type=int, default=5)
    training = modes.add_parser("train", help="train, then score 50,000 samples")
    training.add_argument("--iters", type=int, default=25000)
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    stdout = sys.stdout
    # The official code prints progress; keep stdout for the one JSON line.
    with contextlib.redirect_stdout(sys.stderr):
        official = import_official(args.reference_dir, args.device)
        run = Run(official, args)
        steps = run.iterations()
        if args.mode == "time":
            for _ in range(args.warmup):
                next(steps)
            sync(run.device)
            times = []
            for _ in range(args.windows):
                start = time.perf_counter()
                for _ in range(args.window):
                    next(steps)
                sync(run.device)
                times.append(1e3 * (time.perf_counter() - start) / args.window)
            result = {"ms_per_iteration_median": statistics.median(times),
                      "ms_per_iteration_windows": times}
        else:
            start = time.perf_counter()
            for _ in range(args.iters):
                next(steps)
            seconds = time.perf_counter() - start
            result = {"iterations": args.iters, "seconds": seconds, **run.evaluate()}
    result.update({"code": "official", "framework": f"pytorch {torch.__version__}",
                   "threads": args.threads, "device": args.device, "data": args.data,
                   "seed": args.seed})
    print(json.dumps(result), file=stdout)


if __name__ == "__main__":
    main()
