"""Time one training iteration of the paper's 2D model in PyTorch (the reference framework).

Same work as our `train_step_2d/selfcond_k50_batch100` bench: label a batch of 100 real points
with a frozen discriminator snapshot (nearest of k = 50 centres), one D step, one G step, Adam
(lr 1e-4, betas (0.8, 0.999)). Prints the median milliseconds per iteration over windows.
One draw of latents serves both steps, as in the official code. By default G runs twice on it,
as the official code does (without a graph in the D step); `--one-generator-pass` runs it once
with a graph and feeds its detached values to the D step, as our trainer does.

    python scripts/pytorch_2d_step.py --threads 2 [--one-generator-pass]
"""
import argparse
import copy
import json
import math
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Maxout(nn.Module):
    def __init__(self, d_in, units, pieces):
        super().__init__()
        self.units, self.pieces = units, pieces
        self.linear = nn.Linear(d_in, units * pieces)

    def forward(self, x):
        return self.linear(x).view(x.shape[0], self.units, self.pieces).max(dim=2).values


class Generator(nn.Module):
    def __init__(self, k, latent=2, emb=32, width=400, depth=4):
        super().__init__()
        self.embedding = nn.Embedding(k, emb)
        layers, d = [], latent + emb
        for _ in range(depth):
            layers += [nn.Linear(d, width), nn.BatchNorm1d(width), nn.ReLU()]
            d = width
        layers.append(nn.Linear(d, 2))
        self.net = nn.Sequential(*layers)

    def forward(self, z, c):
        e = F.normalize(self.embedding(c), dim=1)
        return self.net(torch.cat([z, e], dim=1))


class Discriminator(nn.Module):
    def __init__(self, k, units=200, pieces=5, depth=3):
        super().__init__()
        layers, d = [], 2
        for _ in range(depth):
            layers.append(Maxout(d, units, pieces))
            d = units
        self.trunk = nn.Sequential(*layers)
        self.head = nn.Linear(d, k)

    def features(self, x):
        return self.trunk(x)

    def forward(self, x, c):
        return self.head(self.trunk(x)).gather(1, c.view(-1, 1)).view(-1)


def ring(n, generator):
    modes = torch.randint(0, 8, (n,), generator=generator)
    angle = 2 * math.pi * modes.float() / 8
    means = torch.stack([2 * torch.cos(angle), 2 * torch.sin(angle)], dim=1)
    return means + 0.01 * torch.randn(n, 2, generator=generator)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--k", type=int, default=50)
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--warmup", type=int, default=50)
    p.add_argument("--window", type=int, default=200)
    p.add_argument("--windows", type=int, default=5)
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--one-generator-pass", action="store_true",
                   help="one forward pass of G per iteration, shared by the D and G steps")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    dev = torch.device(args.device)
    gen = torch.Generator(device=dev).manual_seed(0)

    def sync():
        # CUDA runs asynchronously: wait for the queued work so it lands in the timed window.
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    G, D = Generator(args.k).to(dev), Discriminator(args.k).to(dev)
    opt_g = torch.optim.Adam(G.parameters(), lr=1e-4, betas=(0.8, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=1e-4, betas=(0.8, 0.999))
    data = ring(100_000, torch.Generator().manual_seed(0)).to(dev)
    snapshot = copy.deepcopy(D).eval()
    with torch.no_grad():
        centres = snapshot.features(data[: args.k * 20])[:: 20].clone()

    def iteration():
        real = data[torch.randint(0, data.shape[0], (args.batch,), generator=gen, device=dev)]
        with torch.no_grad():
            c = torch.cdist(snapshot.features(real), centres).argmin(dim=1)
        z = torch.randn(args.batch, 2, device=dev)
        if args.one_generator_pass:
            fake = G(z, c)
            fake_for_d = fake.detach()
        else:
            with torch.no_grad():
                fake_for_d = G(z, c)
        d_loss = F.softplus(-D(real, c)).mean() + F.softplus(D(fake_for_d, c)).mean()
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        if not args.one_generator_pass:
            fake = G(z, c)
        for p_ in D.parameters():
            p_.requires_grad_(False)
        g_loss = F.softplus(-D(fake, c)).mean()
        for p_ in D.parameters():
            p_.requires_grad_(True)
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()

    for _ in range(args.warmup):
        iteration()
    sync()
    times = []
    for _ in range(args.windows):
        start = time.perf_counter()
        for _ in range(args.window):
            iteration()
        sync()
        times.append(1e3 * (time.perf_counter() - start) / args.window)
    print(json.dumps({"framework": f"pytorch {torch.__version__}", "threads": args.threads,
                      "one_generator_pass": args.one_generator_pass,
                      "device": str(dev),
                      "ms_per_iteration_median": statistics.median(times),
                      "ms_per_iteration_windows": times}))


if __name__ == "__main__":
    main()
