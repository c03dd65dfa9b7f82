#!/usr/bin/env bash
# The main job: sets everything up, starts `airflow standalone` under ./.knit-quickstart (SQLite, LocalExecutor,
# process runner) and runs examples 1 and 2 through it. Airflow keeps running for exploration unless --no-keep;
# `bash scripts/quickstart.sh --stop` stops it. Exit status 1 if an expected Run did not end done.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "${1:-}" = "--stop" ] || bash scripts/setup.sh
exec .venv/bin/python examples/quickstart.py "$@"
