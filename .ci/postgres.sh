#!/usr/bin/env bash
# Installs (if missing) and starts Debian's PostgreSQL, and creates the test role and database the store
# tests use. Idempotent; runs as root (or with sudo). Everything but the final `export …` line goes to
# stderr, so a caller can do:  eval "$(bash .ci/postgres.sh)"
set -euo pipefail
SUDO=$( [ "$(id -u)" = 0 ] || echo sudo )
export DEBIAN_FRONTEND=noninteractive
ROLE=streamscore PASSWORD=streamscore DB=streamscore_test

if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
    echo "postgres.sh: installing postgresql" >&2
    $SUDO apt-get update -qq >&2
    $SUDO apt-get install -y -qq postgresql >/dev/null
fi

VERSION=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$VERSION" ] || [ ! -d "/etc/postgresql/$VERSION/main" ]; then
    VERSION=${VERSION:-$(ls /usr/lib/postgresql | sort -V | tail -n 1)}
    echo "postgres.sh: creating cluster $VERSION/main" >&2
    $SUDO pg_createcluster "$VERSION" main >&2
fi

if ! pg_lsclusters -h | awk -v v="$VERSION" '$1 == v && $2 == "main" && $4 == "online" { found = 1 } END { exit !found }'; then
    echo "postgres.sh: starting cluster $VERSION/main" >&2
    $SUDO pg_ctlcluster "$VERSION" main start >&2
fi
PORT=$(pg_lsclusters -h | awk -v v="$VERSION" '$1 == v && $2 == "main" { print $3 }')

for _ in $(seq 1 60); do
    pg_isready -q -h 127.0.0.1 -p "$PORT" && break
    sleep 0.5
done
pg_isready -h 127.0.0.1 -p "$PORT" >&2

as_postgres() { $SUDO runuser -u postgres -- psql -p "$PORT" -v ON_ERROR_STOP=1 -qtA "$@"; }
if [ "$(as_postgres -c "SELECT 1 FROM pg_roles WHERE rolname = '$ROLE'")" != 1 ]; then
    as_postgres -c "CREATE ROLE $ROLE LOGIN CREATEDB PASSWORD '$PASSWORD'" >&2
else
    # CREATEDB: the scale-out tests give each run a database of its own.
    as_postgres -c "ALTER ROLE $ROLE LOGIN CREATEDB PASSWORD '$PASSWORD'" >&2
fi
if [ "$(as_postgres -c "SELECT 1 FROM pg_database WHERE datname = '$DB'")" != 1 ]; then
    as_postgres -c "CREATE DATABASE $DB OWNER $ROLE" >&2
fi

# The store tests make one schema per store (sstest_*); drop those of earlier runs, one per transaction.
as_postgres -d "$DB" -c "SELECT format('DROP SCHEMA %I CASCADE;', nspname) FROM pg_namespace WHERE nspname LIKE 'sstest\\_%'" \
    | as_postgres -d "$DB" -c "SET client_min_messages = warning" -f - >&2

echo "export STREAMSCORE_TEST_POSTGRES_URL=postgres://$ROLE:$PASSWORD@127.0.0.1:$PORT/$DB"
