#!/usr/bin/env bash
# The test command: sets everything up, then runs ruff and the whole pytest suite
# (unit, property, and integration tests on SQLite and on a real PostgreSQL server it starts).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check . >/dev/null
.venv/bin/pytest "$@"
