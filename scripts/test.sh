#!/usr/bin/env bash
# The test command: sets everything up, then runs ruff and the whole pytest suite
# (unit, property and integration tests on SQLite and a real PostgreSQL, real bubblewrap and dockerd, and
# end-to-end tests against a real airflow standalone).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --for-tests
.venv/bin/ruff check .
.venv/bin/ruff format --check . >/dev/null
.venv/bin/pytest --durations=40 "$@"
