#!/usr/bin/env python3
"""Writes the state-dict fixtures that test the Inception Score's weight reader
(`tests/inception_score.rs`), with PyTorch's own `torch.save`:

- `inception_fc_zip.pth.gz`: what pytorch-fid's `pt_inception-2015-12-05-6726825d.pth` holds
  around the softmax layer, under its names and shapes (`fc.weight` [1008, 2048], `fc.bias`,
  a first convolution and its batch norm with the int64 `num_batches_tracked`), in the ZIP
  container PyTorch writes since 1.6;
- `inception_fc_legacy.pth.gz`: the same in the legacy container of PyTorch 1.5 and earlier,
  which older published weight files use;
- `not_inception.pth.gz`: an `fc.weight` of the wrong shape.

The values follow a seeded pattern, `((i * 7 + j * 3 + seed) % 17 - 8) / 256` over the
flattened `[rows, columns]` view, so the test can recompute every one and the gzipped files stay
small. Needs PyTorch (`pip install torch`); the fixtures are committed, so the tests do not.

    python3 scripts/make_inception_fixtures.py tests/fixtures
"""
import gzip
import io
import pathlib
import sys
from collections import OrderedDict

import torch


def pattern(shape, seed):
    rows = shape[0]
    columns = 1
    for size in shape[1:]:
        columns *= size
    i = torch.arange(rows).unsqueeze(1)
    j = torch.arange(columns).unsqueeze(0)
    values = ((i * 7 + j * 3 + seed) % 17 - 8).to(torch.float32) / 256
    return values.reshape(shape)


def inception_like():
    state = OrderedDict()
    state["Conv2d_1a_3x3.conv.weight"] = pattern((32, 3, 3, 3), 1)
    state["Conv2d_1a_3x3.bn.weight"] = pattern((32,), 2)
    state["Conv2d_1a_3x3.bn.bias"] = pattern((32,), 3)
    state["Conv2d_1a_3x3.bn.running_mean"] = pattern((32,), 4)
    state["Conv2d_1a_3x3.bn.running_var"] = pattern((32,), 5).abs() + 1
    state["Conv2d_1a_3x3.bn.num_batches_tracked"] = torch.tensor(0, dtype=torch.int64)
    state["fc.weight"] = pattern((1008, 2048), 0)
    state["fc.bias"] = pattern((1008,), 6)
    return state


def write(path, state, zip_container):
    buffer = io.BytesIO()
    torch.save(state, buffer, _use_new_zipfile_serialization=zip_container)
    with gzip.open(path, "wb", compresslevel=9) as out:
        out.write(buffer.getvalue())
    print(f"{path}: {path.stat().st_size} bytes gzipped, {len(buffer.getvalue())} raw")


def main():
    out = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures")
    out.mkdir(parents=True, exist_ok=True)
    write(out / "inception_fc_zip.pth.gz", inception_like(), True)
    write(out / "inception_fc_legacy.pth.gz", inception_like(), False)
    write(out / "not_inception.pth.gz", {"fc.weight": pattern((10, 2048), 0)}, True)


if __name__ == "__main__":
    main()
