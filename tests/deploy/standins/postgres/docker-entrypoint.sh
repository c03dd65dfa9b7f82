#!/usr/bin/env bash
set -euo pipefail
if [[ ! -s ${PGDATA}/PG_VERSION ]]; then
    password=$(mktemp)
    printf '%s\n' "${POSTGRES_PASSWORD}" > "${password}"
    initdb --username="${POSTGRES_USER}" --pwfile="${password}" --auth-host=scram-sha-256 --auth-local=trust \
        --encoding=UTF8 -D "${PGDATA}" >/dev/null
    rm -f "${password}"
    echo "host all all all scram-sha-256" >> "${PGDATA}/pg_hba.conf"
    pg_ctl -D "${PGDATA}" -o "-c listen_addresses='' -c unix_socket_directories=/var/run/postgresql" -w start >/dev/null
    database=${POSTGRES_DB:-${POSTGRES_USER}}
    if [[ ${database} != postgres ]]; then
        createdb --username="${POSTGRES_USER}" --host=/var/run/postgresql "${database}"
    fi
    pg_ctl -D "${PGDATA}" -m fast -w stop >/dev/null
fi
exec postgres -D "${PGDATA}" -c listen_addresses='*' -c unix_socket_directories=/var/run/postgresql \
    -c max_connections=300
