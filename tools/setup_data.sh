#!/usr/bin/env bash
# Install the real data sets the reproductions read: Fashion-MNIST (Debian's package
# dataset-fashion-mnist, idx files in /usr/share/datasets/fashion-mnist/). Idempotent: does
# nothing when the files are there. Needs root and apt-get; elsewhere it says how to get the
# files without root and exits 0 (the data set's tests then skip with their own reason).
set -euo pipefail

DIR=/usr/share/datasets/fashion-mnist
FILES="train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz"

complete() {
    local f
    for f in $FILES; do
        [ -s "$DIR/$f" ] || return 1
    done
}

if complete; then
    echo "setup_data: Fashion-MNIST already installed in $DIR"
    exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "setup_data: not installing Fashion-MNIST (needs root and apt-get). Without root:"
    echo "    apt-get download dataset-fashion-mnist && dpkg -x dataset-fashion-mnist_*.deb DIR"
    echo "  then pass --data-root DIR/usr/share/datasets/fashion-mnist (or set data_root in the config)"
    exit 0
fi

export DEBIAN_FRONTEND=noninteractive
# An image without package lists cannot resolve the name: update once, only then.
if ! apt-cache show dataset-fashion-mnist >/dev/null 2>&1; then
    apt-get update -q
fi
apt-get install -y -q --no-install-recommends dataset-fashion-mnist
if ! complete; then
    echo "setup_data: dataset-fashion-mnist is installed but $DIR lacks one of: $FILES" >&2
    exit 1
fi
echo "setup_data: installed Fashion-MNIST in $DIR"
