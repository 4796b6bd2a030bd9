#!/usr/bin/env bash
# The main command of the README: sets up .venv when needed (idempotent), then runs the SLS demo on
# scikit-learn's bundled digits (no downloads) and writes work_dirs/demo/report.md.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash tools/setup_env.sh
exec .venv/bin/python tools/demo.py "$@"
