#!/usr/bin/env bash
# Builds a second virtual environment with an older supported stack and runs the core tests there.
# Not part of CI (CI keeps the locked stack of .venv); run by hand after changing mmsls/compat.py or
# the lower bounds in requirements/. docs/getting_started.md records the measured matrix.
#
#   bash tools/check_compat.sh                  # build (first time: downloads + mmcv compile), test
#   bash tools/check_compat.sh --build-only     # only build the environment
#   COMPAT_TORCH=2.4.1 COMPAT_TORCHVISION=0.19.1 COMPAT_STACK=core \
#     COMPAT_VENV=.venv-compat-2.4 bash tools/check_compat.sh
#
# torch, torchvision and numpy come from the COMPAT_* variables (default: torch 2.1.2 + numpy 1.26,
# the oldest stack we support); the OpenMMLab libraries keep the versions of requirements/lock.txt;
# the rest is whatever pip resolves under those constraints. COMPAT_STACK=core leaves out mmcv and
# the task libraries (no mmcv compile) and runs the tests that need neither: the guards, the lazy
# imports, the criteria. Downloads come from pip's cache after
# the first run. mmcv is compiled with its ops against this venv's torch into a wheel kept in the
# venv (never in pip's shared cache, where the other venv's mmcv, built against another torch,
# would be picked up instead).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
torch_v="${COMPAT_TORCH:-2.1.2}"
torchvision_v="${COMPAT_TORCHVISION:-0.16.2}"
numpy_v="${COMPAT_NUMPY:-1.26.4}"
venv="${COMPAT_VENV:-$root/.venv-compat}"
stack="${COMPAT_STACK:-full}"
py="$venv/bin/python"
lock="$root/requirements/lock.txt"
stamp="$venv/.compat-stamp"
want="$(printf '%s\n' "$torch_v" "$torchvision_v" "$numpy_v" "$stack" | cat - "$lock" \
  | sha256sum | cut -d' ' -f1)"

log() { echo "[compat $(date +%H:%M:%S)] $*"; }
pin() { grep -E "^$1([=<>]|$)" "$lock" | head -n1; }

if ! { [ -x "$py" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; }; then
  [ -x "$py" ] || { log "creating $venv"; python3 -m venv "$venv"; }
  constraints="$venv/constraints.txt"
  printf 'torch==%s\ntorchvision==%s\nnumpy==%s\n' "$torch_v" "$torchvision_v" "$numpy_v" \
    > "$constraints"
  pip_install() { "$py" -m pip install --disable-pip-version-check -q -c "$constraints" "$@"; }
  log "torch $torch_v + torchvision $torchvision_v + numpy $numpy_v"
  pip_install "torch==$torch_v" "torchvision==$torchvision_v" "numpy==$numpy_v"
  log "build tools and mmengine"
  pip_install "$(pin setuptools)" "$(pin wheel)" "$(pin ninja)" "$(pin psutil)" "$(pin mmengine)"
  mmcv_pin="$(pin mmcv)"
  if [ "$stack" = core ]; then
    pip_install scikit-learn matplotlib pytest
  elif ! "$py" -c "import mmcv, mmcv.ops; assert mmcv.__version__ == '${mmcv_pin#mmcv==}'" 2>/dev/null; then
    wheels="$venv/mmcv-wheel"
    if ! ls "$wheels"/mmcv-*.whl >/dev/null 2>&1; then
      log "$mmcv_pin with ops: compiling against torch $torch_v (several minutes on 2 cores)"
      MMCV_WITH_OPS=1 MAX_JOBS="$(nproc)" FORCE_CUDA=0 "$py" -m pip wheel --no-cache-dir \
        --no-build-isolation --no-deps -q -w "$wheels" "$mmcv_pin"
    fi
    pip_install --no-deps --no-index --find-links "$wheels" "$mmcv_pin"
  fi
  if [ "$stack" != core ]; then
    log "mmdet, mmsegmentation, mmpretrain and the rest"
    pip_install "$(pin mmdet)" "$(pin mmsegmentation)" "$(pin mmpretrain)" \
      ftfy regex scikit-learn matplotlib pytest
    "$py" -c "import mmcv.ops, mmdet, mmseg, mmpretrain, sklearn, torch, numpy"
  fi
  echo "$want" > "$stamp"
fi

# mmsls itself, as a user installs it into this environment (no constraints): it must change
# neither torch nor mmcv.
extra='[det]'
[ "$stack" = core ] && extra=''
before="$("$py" -m pip freeze 2>/dev/null | grep -iE '^(torch|torchvision|numpy|mmcv|mmengine)==')"
"$py" -m pip install --disable-pip-version-check -q --no-build-isolation -e ".$extra"
after="$("$py" -m pip freeze 2>/dev/null | grep -iE '^(torch|torchvision|numpy|mmcv|mmengine)==')"
if [ "$before" != "$after" ]; then
  echo "[compat] pip install -e .$extra changed the stack:"; diff <(echo "$before") <(echo "$after")
  exit 1
fi

"$py" -c "import importlib.metadata as m
print('[compat]', ' | '.join(f'{n} {m.version(n)}' for n in ('torch', 'torchvision', 'numpy',
      'mmengine', 'mmcv', 'mmdet', 'mmsegmentation', 'mmpretrain', 'scikit-learn', 'mmsls')
      if n in {d.metadata['Name'].lower() for d in m.distributions()}))"
[ "${1:-}" = "--build-only" ] && exit 0

if [ "$stack" = core ]; then
  exec "$py" -m pytest tests/test_packaging/test_compat.py tests/test_packaging/test_requirements.py \
    tests/test_packaging/test_lazy_imports.py::test_import_and_torch_backend_without_task_libraries_or_sklearn \
    tests/test_criteria/test_selection.py tests/test_criteria/test_tsne_torch.py "$@"
fi

# The core subset: the guards (safe loading, numpy, the hook API), the lazy imports with SLS on a
# detection-only stack, the criterion backends, adapters and pruning on every family, train then
# test from the checkpoint in every scope. (Tests that call torch.load(weights_only=True) on a
# Runner checkpoint themselves need torch >= 2.6's allow-list and are left out.)
exec "$py" -m pytest tests/test_packaging tests/test_criteria/test_selection.py \
  tests/test_criteria/test_tsne_torch.py tests/test_adapters/test_adapted_backbone.py \
  tests/test_families \
  "tests/test_tools/test_train_test.py::test_train_then_test_from_checkpoint" "$@"
