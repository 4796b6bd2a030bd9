#!/usr/bin/env bash
# The test command of the README: sets up .venv when needed (idempotent), then runs the test suite.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash tools/setup_env.sh
exec .venv/bin/python -m pytest tests "$@"
