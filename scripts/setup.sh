#!/usr/bin/env bash
# Installs what the project needs on a fresh Debian machine: system packages, then a virtualenv (.venv)
# with the project and its test, examples, s3 and openlineage extras. Idempotent; sourced by scripts/test.sh and scripts/quickstart.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

missing=()
ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || missing+=(postgresql)
command -v dot >/dev/null 2>&1 || missing+=(graphviz)
command -v bwrap >/dev/null 2>&1 || missing+=(bubblewrap)
if [ "${1:-}" = "--for-tests" ]; then
  # the test suite: a real Docker daemon and a Debian rootfs (docker runner), headless Chromium (browser tests)
  [ -x /usr/sbin/dockerd ] || [ -x /usr/bin/dockerd ] || missing+=(docker.io)
  command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
  command -v docker-compose >/dev/null 2>&1 || docker compose version >/dev/null 2>&1 || missing+=(docker-compose)
fi
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  echo "installing Debian packages: ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -e ".[test,examples,s3,openlineage]" -e ./dev 2>&1 | grep -v -i "^warning: location" >&2 || true
.venv/bin/python -c "import knit_provider, airflow" >/dev/null
