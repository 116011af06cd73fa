#!/usr/bin/env bash
# One-command, idempotent setup of .venv/ for this repository (called by `make demo` and
# `make test`). Steps: venv -> torch -> mmcv 2.1.0 (built from source once, cached outside the
# repository) -> the rest. A second run with nothing changed finishes in seconds.
#
# Environment knobs:
#   PYTHON=python3.11          interpreter for the venv
#   VENV=.venv                 where the venv lives
#   MMCV_CACHE=~/.cache/incubation-vit/wheels   where the built mmcv wheel is cached
#   MAX_JOBS=2                 parallel compile jobs for mmcv
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3.11}"
VENV="${VENV:-$ROOT/.venv}"
MMCV_VERSION=2.1.0
MMCV_CACHE="${MMCV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/incubation-vit/wheels}"
export MAX_JOBS="${MAX_JOBS:-2}"
STAMP="$VENV/.setup-stamp"
REQS=(requirements/torch.txt requirements/build.txt requirements/runtime.txt requirements/tests.txt)

step=""
say() { printf '[setup] %s\n' "$*"; }
on_error() {
  printf '[setup] FAILED during: %s\n' "$step" >&2
  printf '[setup] Fix the cause above and re-run `make setup` (finished steps are skipped).\n' >&2
  printf '[setup] To start over: rm -rf %s (the cached mmcv wheel in %s is kept).\n' "$VENV" "$MMCV_CACHE" >&2
}
trap on_error ERR

want_stamp="$(cat "${REQS[@]}" "$0" | sha256sum | cut -d' ' -f1)"
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$want_stamp" ]] \
   && "$VENV/bin/python" -c "import mmcv.ops, mmdet, mmseg, timm" 2>/dev/null; then
  say "environment up to date ($VENV)"
  exit 0
fi

step="create the virtual environment"
if [[ ! -x "$VENV/bin/python" ]]; then
  say "creating $VENV with $PYTHON"
  "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip --disable-pip-version-check)

step="install torch and torchvision"
say "installing torch/torchvision (first time: about 1 minute, 5.6 GB)"
"${PIP[@]}" install -q -r requirements/torch.txt

step="install the mmcv build requirements"
"${PIP[@]}" install -q -r requirements/build.txt

torch_version="$("$PY" -c 'import torch; print(torch.__version__.split("+")[0])')"
py_tag="$("$PY" -c 'import sys; print(f"cp{sys.version_info.major}{sys.version_info.minor}")')"
cuda_tag=cpu
if [[ "${FORCE_CUDA:-0}" == 1 ]] || "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
  cuda_tag=cuda
fi
wheel_dir="$MMCV_CACHE/mmcv-$MMCV_VERSION-torch$torch_version-$py_tag-$(uname -m)-$cuda_tag"

step="provide mmcv $MMCV_VERSION"
if "$PY" -c "import mmcv, sys; from mmcv.ops import nms; sys.exit(mmcv.__version__ != '$MMCV_VERSION')" 2>/dev/null; then
  say "mmcv $MMCV_VERSION with compiled ops already installed"
else
  if ! ls "$wheel_dir"/mmcv-*.whl >/dev/null 2>&1; then
    step="build mmcv $MMCV_VERSION from source"
    work="$(mktemp -d)"
    say "building mmcv $MMCV_VERSION against torch $torch_version ($cuda_tag ops): about 12 minutes on 2 cores, once"
    "${PIP[@]}" download -q --no-deps --no-binary :all: "mmcv==$MMCV_VERSION" -d "$work"
    tar -xzf "$work"/mmcv-"$MMCV_VERSION".tar.gz -C "$work"
    src="$work/mmcv-$MMCV_VERSION"
    # torch 2.14 headers require C++20; mmcv 2.1.0 hard-codes C++14/17.
    sed -i -e 's/-std=c++14/-std=c++20/g' -e 's/-std=c++17/-std=c++20/g' "$src/setup.py"
    if grep -Eq -- '-std=c\+\+1[47]' "$src/setup.py" || ! grep -q 'std=c++20' "$src/setup.py"; then
      echo "[setup] the C++20 patch did not apply to $src/setup.py" >&2; false
    fi
    (cd "$src" && MMCV_WITH_OPS=1 "${PIP[@]}" wheel -q --no-build-isolation --no-deps -w "$work/dist" .)
    mkdir -p "$wheel_dir"
    # Copy then rename so that an interrupted copy never leaves a half wheel in the cache.
    whl="$(ls "$work"/dist/mmcv-*.whl)"
    cp "$whl" "$wheel_dir/.$(basename "$whl").part"
    mv "$wheel_dir/.$(basename "$whl").part" "$wheel_dir/$(basename "$whl")"
    rm -rf "$work"
    say "cached $(basename "$whl") in $wheel_dir"
  else
    say "using cached mmcv wheel from $wheel_dir"
  fi
  step="install the mmcv wheel"
  "${PIP[@]}" install -q --no-deps --force-reinstall "$wheel_dir"/mmcv-*.whl
fi

step="install runtime and test requirements"
say "installing the OpenMMLab stack, timm and test tools"
# mmcv's own dependencies (it was installed with --no-deps)
"${PIP[@]}" install -q addict packaging Pillow pyyaml yapf opencv-python
"${PIP[@]}" install -q -r requirements/runtime.txt -r requirements/tests.txt
# openmim pins setuptools down and mmcv's build needs < 70: re-assert the build pins.
"${PIP[@]}" install -q -r requirements/build.txt

step="verify the installation"
"$PY" - <<'PY'
import mmcv, mmdet, mmseg, mmengine, timm, torch
from mmcv.ops import RoIAlign, nms  # noqa: F401  compiled ops present
print(f"[setup] ok: torch {torch.__version__}, mmcv {mmcv.__version__}, mmengine {mmengine.__version__}, "
      f"mmdet {mmdet.__version__}, mmseg {mmseg.__version__}, timm {timm.__version__}")
PY
echo "$want_stamp" > "$STAMP"
