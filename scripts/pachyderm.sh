#!/usr/bin/env bash
# The Pachyderm beginner tutorial (example 3): sets everything up, starts `airflow standalone` under
# ./.knit-pachyderm (SQLite, LocalExecutor, process runner), applies the seven Plans, pushes the raw videos and
# images and lets the chain run; pulls the collage's index.html and renders the plan graph and lineage SVGs.
# Airflow keeps running for exploration unless --no-keep; `bash scripts/pachyderm.sh --stop` stops it.
# Exit status 1 if an expected Run did not end done.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "${1:-}" = "--stop" ] || bash scripts/setup.sh
exec .venv/bin/python examples/pachyderm-beginner/run_tutorial.py "$@"
