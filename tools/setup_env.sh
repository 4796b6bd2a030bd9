#!/usr/bin/env bash
# Builds the working stack into .venv at the repository root. Idempotent: when every pinned package
# is already installed and importable it returns in seconds.
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
want="$(cat requirements.txt setup.py | sha256sum | cut -d' ' -f1)"

if [ -x "$py" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] \
   && "$py" -c "import mmcv.ops, mmdet, mmseg, mmpretrain, sklearn, mmsls" 2>/dev/null; then
  echo "[setup] .venv is up to date"
  exit 0
fi

log() { echo "[setup $(date +%H:%M:%S)] $*"; }
pin() { grep -E "^$1([=<>]|$)" requirements.txt | head -n1; }

[ -x "$py" ] || { log "creating .venv"; python3 -m venv "$venv"; }
pip_install() { "$py" -m pip install --disable-pip-version-check -q "$@"; }

log "torch + torchvision (large download on first run)"
pip_install "$(pin torch)" "$(pin torchvision)"
log "build tools and mmengine"
pip_install "$(pin setuptools)" "$(pin wheel)" "$(pin ninja)" "$(pin psutil)" "$(pin mmengine)"

if ! "$py" -c "import mmcv, mmcv.ops; assert mmcv.__version__ == '2.1.0'" 2>/dev/null; then
  log "mmcv 2.1.0 with ops: compiling from source (about 11 minutes on 2 cores the first time)"
  wrapper="$venv/bin/cxx-std20"
  printf '#!/bin/sh\nexec c++ "$@" -std=c++20 -g0\n' > "$wrapper"
  chmod +x "$wrapper"
  MMCV_WITH_OPS=1 MAX_JOBS="$(nproc)" CXX="$wrapper" FORCE_CUDA=0 \
    pip_install --no-build-isolation "$(pin mmcv)"
fi

log "mmdet, mmsegmentation, mmpretrain and the rest"
pip_install "$(pin mmdet)" "$(pin mmsegmentation)" "$(pin mmpretrain)" \
  "$(pin ftfy)" "$(pin regex)" "$(pin scikit-learn)" "$(pin matplotlib)" "$(pin pytest)"
log "mmsls (editable)"
pip_install --no-build-isolation --no-deps -e .

"$py" -c "import mmcv.ops, mmdet, mmseg, mmpretrain, sklearn, mmsls; print('[setup] stack OK: mmcv', mmcv.__version__)"
echo "$want" > "$stamp"
