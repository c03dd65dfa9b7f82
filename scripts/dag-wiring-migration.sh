#!/usr/bin/env bash
# Example 4, migrating from direct DAG wiring: sets everything up, starts `airflow standalone` under ./.knit-wiring
# (SQLite, LocalExecutor, process runner), runs the classic pipeline (three DAGs chained by Assets), then the same
# pipeline half-migrated (ingest pushes Knit Data, training and evaluation are Plans, the report is scheduled on a
# KnitAsset) over two batches. See docs/migrating-from-dag-wiring.md. Airflow keeps running for exploration unless
# --no-keep; `bash scripts/dag-wiring-migration.sh --stop` stops it. Exit status 1 if something did not happen.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "${1:-}" = "--stop" ] || bash scripts/setup.sh
exec .venv/bin/python examples/dag-wiring-migration/run_migration.py "$@"
