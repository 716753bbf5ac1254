"""Time one training iteration of the paper's image models in PyTorch (the reference framework).

Same work as our `image_step_speed` example: label a batch of 64 real images with a frozen
discriminator snapshot (nearest of k = 100 centres), one D step, one G step, Adam (lr 1e-4,
betas (0, 0.99)). DCGAN-shallow (Stacked-MNIST) or DCGAN-deep (CIFAR-10), width 64.
Prints the median milliseconds per iteration and the peak resident memory.
As in the official code, one draw of latents serves both steps, G runs without a graph in the D
step and D's parameters are frozen in the G step; `--one-generator-pass` runs G once with a graph
and feeds its detached values to the D step, as our trainer does.

`--phases` times labelling, the D step and the G step apart, in the official code's order.

    python scripts/pytorch_dcgan_step.py --depth shallow --threads 2 [--one-generator-pass]
"""
import argparse
import copy
import json
import resource
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Generator(nn.Module):
    def __init__(self, k, width, latent=128, emb=256):
        super().__init__()
        self.width = width
        self.embedding = nn.Embedding(k, emb)
        self.project = nn.Linear(latent + emb, 16 * 8 * width)
        chans = [8 * width, 4 * width, 2 * width, width]
        ups = []
        for a, b in zip(chans, chans[1:]):
            ups += [nn.ConvTranspose2d(a, b, 4, 2, 1), nn.BatchNorm2d(b), nn.ReLU()]
        self.up = nn.Sequential(*ups)
        self.out = nn.Conv2d(width, 3, 3, 1, 1)

    def forward(self, z, c):
        e = F.normalize(self.embedding(c), dim=1)
        x = self.project(torch.cat([z, e], dim=1)).view(z.shape[0], 8 * self.width, 4, 4)
        return torch.tanh(self.out(self.up(x)))


def trunk(depth, width):
    w = width
    if depth == "shallow":
        layers = []
        for a, b in [(3, w), (w, 2 * w), (2 * w, 4 * w), (4 * w, 8 * w)]:
            layers += [nn.Conv2d(a, b, 4, 2, 1), nn.BatchNorm2d(b), nn.LeakyReLU(0.2)]
        return nn.Sequential(*layers), 8 * w * 2 * 2
    spec = [(3, w, 3, 1), (w, w, 4, 2), (w, 2 * w, 3, 1), (2 * w, 2 * w, 4, 2),
            (2 * w, 4 * w, 3, 1), (4 * w, 4 * w, 4, 2), (4 * w, 8 * w, 3, 1)]
    layers = []
    for a, b, kernel, stride in spec:
        layers += [nn.Conv2d(a, b, kernel, stride, 1), nn.LeakyReLU(0.1)]
    return nn.Sequential(*layers), 8 * w * 4 * 4


class Discriminator(nn.Module):
    def __init__(self, k, depth, width):
        super().__init__()
        self.trunk, features = trunk(depth, width)
        self.head = nn.Linear(features, k)

    def features(self, x):
        return self.trunk(x).flatten(1)

    def forward(self, x, c):
        return self.head(self.features(x)).gather(1, c.view(-1, 1)).view(-1)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--depth", choices=["shallow", "deep"], default="shallow")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--k", type=int, default=100)
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--iterations", type=int, default=10)
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--one-generator-pass", action="store_true",
                   help="one forward pass of G per iteration, shared by the D and G steps")
    p.add_argument("--phases", action="store_true",
                   help="time labelling, the D step and the G step apart (official structure)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    dev = torch.device(args.device)

    def sync():
        # CUDA runs asynchronously: wait for the queued work so it lands in the timed region.
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    G = Generator(args.k, args.width).to(dev)
    D = Discriminator(args.k, args.depth, args.width).to(dev)
    opt_g = torch.optim.Adam(G.parameters(), lr=1e-4, betas=(0.0, 0.99))
    opt_d = torch.optim.Adam(D.parameters(), lr=1e-4, betas=(0.0, 0.99))
    data = (torch.rand(2000, 3, 32, 32) * 2 - 1).to(dev)
    snapshot = copy.deepcopy(D).eval()
    with torch.no_grad():
        centres = snapshot.features(data[: args.k])

    def label():
        real = data[torch.randint(0, data.shape[0], (args.batch,), device=dev)]
        with torch.no_grad():
            c = torch.cdist(snapshot.features(real), centres).argmin(dim=1)
        return real, c

    def d_step(real, c, fake_for_d):
        d_loss = F.softplus(-D(real, c)).mean() + F.softplus(D(fake_for_d, c)).mean()
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()

    def g_step(fake, c):
        for p_ in D.parameters():
            p_.requires_grad_(False)
        g_loss = F.softplus(-D(fake, c)).mean()
        for p_ in D.parameters():
            p_.requires_grad_(True)
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()

    def iteration():
        real, c = label()
        z = torch.randn(args.batch, 128, device=dev)
        if args.one_generator_pass:
            fake = G(z, c)
            fake_for_d = fake.detach()
        else:
            with torch.no_grad():
                fake_for_d = G(z, c)
        d_step(real, c, fake_for_d)
        if not args.one_generator_pass:
            fake = G(z, c)
        g_step(fake, c)

    def phases():
        """Milliseconds of labelling, the D step (G without a graph) and the G step."""
        started = time.perf_counter()
        real, c = label()
        sync()
        labelled = time.perf_counter()
        z = torch.randn(args.batch, 128, device=dev)
        with torch.no_grad():
            fake_for_d = G(z, c)
        d_step(real, c, fake_for_d)
        sync()
        d_stepped = time.perf_counter()
        g_step(G(z, c), c)
        sync()
        g_stepped = time.perf_counter()
        return [1e3 * (labelled - started), 1e3 * (d_stepped - labelled),
                1e3 * (g_stepped - d_stepped)]

    if args.phases:
        for _ in range(args.warmup):
            phases()
        label_ms, d_ms, g_ms = zip(*(phases() for _ in range(args.iterations)))
        print(json.dumps({"framework": f"pytorch {torch.__version__}", "depth": args.depth,
                          "label_ms_median": statistics.median(label_ms),
                          "d_step_ms_median": statistics.median(d_ms),
                          "g_step_ms_median": statistics.median(g_ms)}))
        return

    for _ in range(args.warmup):
        iteration()
    sync()
    times = []
    for _ in range(args.iterations):
        start = time.perf_counter()
        iteration()
        sync()
        times.append(1e3 * (time.perf_counter() - start))
    gpu_peak = torch.cuda.max_memory_allocated(dev) / 2**20 if dev.type == "cuda" else None
    print(json.dumps({"framework": f"pytorch {torch.__version__}", "depth": args.depth,
                      "threads": args.threads, "device": str(dev),
                      "one_generator_pass": args.one_generator_pass,
                      "peak_gpu_allocated_mib": gpu_peak,
                      "ms_per_iteration_median": statistics.median(times),
                      "ms_per_iteration": times,
                      "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


if __name__ == "__main__":
    main()
