#!/usr/bin/env bash
# The Airflow version matrix: the main suite (scripts/test.sh) runs the Airflow pyproject.toml's .venv resolves
# (3.3); this runs the unit tests and a short end-to-end subset on the newest 3.1.x and 3.2.x, each in its own
# virtualenv (.venv-airflow-3.1, .venv-airflow-3.2), made or refreshed here. Called by .ci/run after the main suite.
#
#   bash scripts/matrix.sh              # pyproject.toml's tested versions (after scripts/setup.sh --for-tests)
#   bash scripts/matrix.sh 3.2.2        # one (any 3.x release)
#
# The subset, per version: the unit tests; the provider's registration and `airflow db migrate` of Knit's catalog
# (SQLite, and PostgreSQL in Airflow's own database); the REST API's auth checks on a real api-server; one Run as a
# pod through the real KubernetesPodOperator; the quickstart's first example through a real `airflow standalone`.
# The versions are pyproject.toml's [tool.knit] airflow-tested, less the main suite's minor version.
set -euo pipefail
cd "$(dirname "$0")/.."

# --install-only: make the virtualenvs and stop (.ci/run does it in the background while the main suite runs);
# --installed: use the virtualenvs as they are
MODE=all
case "${1:-}" in --install-only|--installed) MODE=${1#--}; shift ;; esac
VERSIONS=("$@")
if [ ${#VERSIONS[@]} -eq 0 ]; then  # pyproject.toml's [tool.knit] airflow-tested, but the main suite's minor version
  mapfile -t VERSIONS < <(.venv/bin/python - <<'TESTED'
import tomllib
from importlib.metadata import version
main = version("apache-airflow-core").split(".")[:2]
tested = tomllib.load(open("pyproject.toml", "rb"))["tool"]["knit"]["airflow-tested"]
print("\n".join(v for v in tested if v.split(".")[:2] != main))
TESTED
)
fi
[ ${#VERSIONS[@]} -gt 0 ] || { echo "matrix: no Airflow version to test (pyproject.toml [tool.knit] airflow-tested)" >&2; exit 1; }

venv_of() { echo ".venv-airflow-$(echo "$1" | cut -d. -f1,2)"; }

install() {  # one virtualenv with Airflow $1, the project and its test and examples extras, and knit_dev
  local version=$1 venv
  venv=$(venv_of "$version")
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  local constraints=()  # what that Airflow release does not cap but breaks on (scripts/matrix-constraints-X.Y.txt)
  [ -f "scripts/matrix-constraints-${venv#.venv-airflow-}.txt" ] && constraints=(-c "scripts/matrix-constraints-${venv#.venv-airflow-}.txt")
  "$venv/bin/pip" install -q --disable-pip-version-check "${constraints[@]}" "apache-airflow==$version" \
    -e ".[test,examples]" -e ./dev
  "$venv/bin/python" - "$version" <<'CHECK'
import sys
from importlib.metadata import version
assert version("apache-airflow-core") == sys.argv[1], f"apache-airflow-core {version('apache-airflow-core')}"
CHECK
}

# the installs download in parallel (the network, not the 2 cores, is what they wait on); the Debian packages the
# tests need are scripts/setup.sh --for-tests' (scripts/test.sh has run it)
pids=()
[ "$MODE" = installed ] && VERSIONS_TO_INSTALL=() || VERSIONS_TO_INSTALL=("${VERSIONS[@]}")
for version in "${VERSIONS_TO_INSTALL[@]}"; do
  install "$version" > "/tmp/knit-matrix-install-$version.log" 2>&1 &
  pids+=($!)
done
for i in "${!pids[@]}"; do
  if ! wait "${pids[$i]}"; then
    cat "/tmp/knit-matrix-install-${VERSIONS[$i]}.log" >&2
    echo "matrix: installing Airflow ${VERSIONS[$i]} failed" >&2
    exit 1
  fi
done
if [ "$MODE" = install-only ]; then echo "matrix: Airflow ${VERSIONS[*]} installed"; exit 0; fi

SUBSET=(
  tests/unit
  tests/integration/test_airflow_registration.py
  "tests/integration/test_airflow_db_migrate.py::test_db_migrate_creates_the_catalog_from_nothing[sqlite-own-db]"
  "tests/integration/test_airflow_db_migrate.py::test_db_migrate_upgrades_a_catalog_left_at_an_older_revision[sqlite-airflow-db]"
  "tests/integration/test_airflow_db_migrate.py::test_db_migrate_upgrades_a_catalog_left_at_an_older_revision[postgresql-airflow-db]"
  tests/api/test_standalone_api.py::test_every_route_is_401_without_credentials
  tests/api/test_standalone_api.py::test_a_forged_token_is_refused
  tests/api/test_standalone_api.py::test_the_ui_cookie_authenticates_too
  tests/api/test_standalone_api.py::test_a_viewer_reads_but_gets_403_on_every_write
  tests/kubernetes/test_kpo_e2e.py::test_a_non_zero_exit_fails_the_run_with_the_exit_code
)

for version in "${VERSIONS[@]}"; do
  venv=$(venv_of "$version")
  echo "== Airflow $version ($venv)"
  "$venv/bin/pytest" -q -p no:cacheprovider "${SUBSET[@]}"
  home=$(mktemp -d /tmp/knit-matrix-quickstart.XXXXXX)
  port=$("$venv/bin/python" -c "from knit_dev.standalone import free_port; print(free_port())")
  if ! "$venv/bin/python" examples/quickstart.py --first-only --no-keep --home "$home/home" --port "$port" \
      --timeout 300 > "$home/quickstart.log" 2>&1; then
    tail -n 60 "$home/quickstart.log" >&2
    echo "matrix: Airflow $version: the quickstart's first example failed (log: $home/quickstart.log)" >&2
    exit 1
  fi
  echo "Airflow $version: the quickstart's first example ended done"
  rm -rf "$home"
done
echo "matrix: Airflow ${VERSIONS[*]} passed"
