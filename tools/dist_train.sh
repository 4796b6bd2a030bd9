#!/usr/bin/env bash
# Usage: tools/dist_train.sh CONFIG NUM_PROCESSES [tools/train.py options]
# One process per GPU, or per CPU slot on a machine without GPU (gloo). NNODES, NODE_RANK,
# MASTER_ADDR and PORT work as in OpenMMLab's scripts.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PYTHON:-$( [ -x "$here/../.venv/bin/python" ] && echo "$here/../.venv/bin/python" || echo python)}"
CONFIG=$1
NPROC=$2
shift 2
PYTHONPATH="$here/..:${PYTHONPATH:-}" exec "$python" -m torch.distributed.run \
  --nnodes="${NNODES:-1}" --node_rank="${NODE_RANK:-0}" --master_addr="${MASTER_ADDR:-127.0.0.1}" \
  --nproc_per_node="$NPROC" --master_port="${PORT:-29500}" \
  "$here/train.py" "$CONFIG" --launcher pytorch "$@"
