#!/usr/bin/env bash
# Builds the locked stack (requirements/lock.txt) into .venv at the repository root. Idempotent: when
# the lock, setup.py and requirements/ are unchanged since the last build and everything imports, it
# returns in seconds; after a change it re-runs the stages, which pip answers from what is installed
# and from its cache (no mmcv rebuild when mmcv 2.1.0 with ops is installed or in pip's wheel cache).
#
# The slow part is mmcv 2.1.0: no prebuilt wheel exists for torch 2.14, so it is compiled from source
# with its ops (about 11 minutes on 2 cores; pip caches the wheel afterwards). Its setup.py forces
# -std=c++17, which torch 2.14's headers reject, so a compiler wrapper appends -std=c++20 (the last
# -std wins) and -g0 (smaller, faster objects).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
venv="$root/.venv"
py="$venv/bin/python"
stamp="$venv/.mmsls-stamp"
lock="requirements/lock.txt"
want="$(cat "$lock" requirements/*.txt setup.py | sha256sum | cut -d' ' -f1)"
imports="import mmcv.ops, mmdet, mmseg, mmpretrain, sklearn, onnx, onnxruntime, mim, mmsls"

if [ -x "$py" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] \
   && [ -e mmsls/.mim/configs ] && [ -e mmsls/.mim/tools ] && [ -e mmsls/.mim/model-index.yml ] \
   && "$py" -c "$imports" 2>/dev/null; then
  echo "[setup] .venv is up to date"
  exit 0
fi

log() { echo "[setup $(date +%H:%M:%S)] $*"; }
version() { grep -iE "^$1==" "$lock" | head -n1 | cut -d= -f3; }

[ -x "$py" ] || { log "creating .venv"; python3 -m venv "$venv"; }
# Every stage is constrained by the lock: a package named here, or pulled in, gets its locked version.
pip_install() { "$py" -m pip install --disable-pip-version-check -q -c "$lock" "$@"; }

log "torch + torchvision (large download on first run)"
pip_install torch torchvision
log "build tools and mmengine"
pip_install setuptools wheel ninja psutil mmengine

mmcv_version="$(version mmcv)"
if ! "$py" -c "import mmcv, mmcv.ops; assert mmcv.__version__ == '$mmcv_version'" 2>/dev/null; then
  log "mmcv $mmcv_version with ops: from pip's wheel cache, or compiled from source (about 11 minutes on 2 cores)"
  wrapper="$venv/bin/cxx-std20"
  printf '#!/bin/sh\nexec c++ "$@" -std=c++20 -g0\n' > "$wrapper"
  chmod +x "$wrapper"
  MMCV_WITH_OPS=1 MAX_JOBS="$(nproc)" CXX="$wrapper" FORCE_CUDA=0 \
    pip_install --no-build-isolation "mmcv==$mmcv_version"
fi

log "mmdet, mmsegmentation, mmpretrain and the rest"
pip_install mmdet mmsegmentation mmpretrain ftfy regex scikit-learn matplotlib pytest onnx onnxruntime \
  click colorama model-index pandas rich tabulate requests
# openmim (the `mim` CLI) without opendatalab; see the lock's header.
pip_install --no-deps openmim
log "mmsls (editable; links configs/ and tools/ into mmsls/.mim for mim)"
pip_install --no-build-isolation --no-deps -e .

"$py" -c "$imports; print('[setup] stack OK: mmcv', mmcv.__version__)"
echo "$want" > "$stamp"
