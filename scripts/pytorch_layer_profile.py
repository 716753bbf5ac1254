"""Per-layer timing of a DCGAN iteration in PyTorch, the twin of our `layer_profile`
example: every layer of G and D alone at batch-64 shapes, forward and forward + backward
(input gradient included), plus one Adam step of each network. One JSON line per layer.

    python scripts/pytorch_layer_profile.py --width 64 --threads 2 --depth shallow|deep
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def DEEP_LAYERS(w):
    """DCGAN-deep's trunk: 3x3 s1 and 4x4 s2 alternating, as ours."""
    return [((3, w), 3, 1), ((w, w), 4, 2), ((w, 2 * w), 3, 1), ((2 * w, 2 * w), 4, 2),
            ((2 * w, 4 * w), 3, 1), ((4 * w, 4 * w), 4, 2), ((4 * w, 8 * w), 3, 1)]


def median_ms(fn, warmup, repeats):
    times = []
    for i in range(warmup + repeats):
        start = time.perf_counter()
        fn()
        if i >= warmup:
            times.append(1e3 * (time.perf_counter() - start))
    return statistics.median(times)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--depth", choices=["shallow", "deep"], default="shallow")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--k", type=int, default=100)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--repeats", type=int, default=7)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    w, b = a.width, a.batch

    def report(name, layer, shape):
        x = torch.rand(*shape) * 2 - 1

        def forward():
            with torch.no_grad():
                layer(x).sum().item()

        def both():
            xi = x.clone().requires_grad_(True)
            layer(xi).sum().backward()

        print(json.dumps({"layer": name, "forward_ms": round(median_ms(forward, a.warmup, a.repeats), 3),
                          "forward_backward_ms": round(median_ms(both, a.warmup, a.repeats), 3)}))

    side = 4
    for c_in, c_out in [(8 * w, 4 * w), (4 * w, 2 * w), (2 * w, w)]:
        report(f"G conv_transpose {c_in}->{c_out} @{side}", nn.ConvTranspose2d(c_in, c_out, 4, 2, 1),
               (b, c_in, side, side))
        norm = nn.BatchNorm2d(c_out)
        report(f"G batchnorm+relu {c_out} @{2 * side}", lambda y, n=norm: F.relu(n(y)),
               (b, c_out, 2 * side, 2 * side))
        side *= 2
    report(f"G conv3x3 {w}->3 @32", nn.Conv2d(w, 3, 3, 1, 1), (b, w, 32, 32))

    if a.depth == "shallow":
        side = 32
        for c_in, c_out in [(3, w), (w, 2 * w), (2 * w, 4 * w), (4 * w, 8 * w)]:
            report(f"D conv4x4s2 {c_in}->{c_out} @{side}", nn.Conv2d(c_in, c_out, 4, 2, 1),
                   (b, c_in, side, side))
            norm = nn.BatchNorm2d(c_out)
            report(f"D batchnorm+leaky {c_out} @{side // 2}", lambda y, n=norm: F.leaky_relu(n(y), 0.2),
                   (b, c_out, side // 2, side // 2))
            side //= 2
    else:
        side = 32
        for (c_in, c_out), kernel, stride in DEEP_LAYERS(w):
            report(f"D conv{kernel}x{kernel}s{stride} {c_in}->{c_out} @{side}",
                   nn.Conv2d(c_in, c_out, kernel, stride, 1), (b, c_in, side, side))
            side //= stride
            report(f"D leaky {c_out} @{side}", lambda y: F.leaky_relu(y, 0.1), (b, c_out, side, side))

    # Adam steps on networks of the same sizes as ours (G: embedding + projection + convs).
    g = nn.ModuleList([nn.Embedding(a.k, 256), nn.Linear(384, 16 * 8 * w),
                       nn.ConvTranspose2d(8 * w, 4 * w, 4, 2, 1), nn.BatchNorm2d(4 * w),
                       nn.ConvTranspose2d(4 * w, 2 * w, 4, 2, 1), nn.BatchNorm2d(2 * w),
                       nn.ConvTranspose2d(2 * w, w, 4, 2, 1), nn.BatchNorm2d(w), nn.Conv2d(w, 3, 3, 1, 1)])
    if a.depth == "shallow":
        d = nn.ModuleList([nn.Conv2d(3, w, 4, 2, 1), nn.BatchNorm2d(w), nn.Conv2d(w, 2 * w, 4, 2, 1),
                           nn.BatchNorm2d(2 * w), nn.Conv2d(2 * w, 4 * w, 4, 2, 1), nn.BatchNorm2d(4 * w),
                           nn.Conv2d(4 * w, 8 * w, 4, 2, 1), nn.BatchNorm2d(8 * w), nn.Linear(8 * w * 4, a.k)])
    else:
        d = nn.ModuleList([nn.Conv2d(c_in, c_out, kernel, stride, 1)
                           for (c_in, c_out), kernel, stride in DEEP_LAYERS(w)]
                          + [nn.Linear(8 * w * 16, a.k)])
    for name, net in [("G", g), ("D", d)]:
        opt = torch.optim.Adam(net.parameters(), lr=1e-4)
        for param in net.parameters():
            param.grad = torch.ones_like(param)
        params = sum(param.numel() for param in net.parameters())
        ms = median_ms(opt.step, a.warmup, a.repeats)
        print(json.dumps({"layer": f"adam step {name} ({params} params)", "forward_ms": round(ms, 3),
                          "forward_backward_ms": round(ms, 3)}))


if __name__ == "__main__":
    main()
