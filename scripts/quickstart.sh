#!/usr/bin/env bash
# The main job: sets everything up, then runs the catalog tour on the embedded default (a SQLite
# catalog under $KNIT_HOME, default ./.knit-quickstart). Pass --keep to keep the knit home afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export KNIT_HOME="${KNIT_HOME:-$PWD/.knit-quickstart}"
keep=0; [ "${1:-}" = "--keep" ] && keep=1
rm -rf "$KNIT_HOME"
.venv/bin/python examples/catalog_tour.py
[ "$keep" = 1 ] || rm -rf "$KNIT_HOME"
