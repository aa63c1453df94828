#!/bin/sh
# First start on an empty data volume: initdb with POSTGRES_USER / POSTGRES_PASSWORD (scram-sha-256 over TCP, trust
# on the container's own unix socket), then the init scripts (/docker-entrypoint-initdb.d/*.sql) on a server that
# listens on no TCP port, then the real server. Later starts: the real server on the existing data.
set -eu
: "${PGDATA:=/var/lib/postgresql/data}"
: "${POSTGRES_USER:=dreamprm}"
say() { echo "postgres-entrypoint: $*" >&2; }

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ -z "${POSTGRES_PASSWORD:-}" ]; then
    say "POSTGRES_PASSWORD is empty: set it (make stack-up passes POSTGRES_PASSWORD, default dreamprm)"; exit 1
  fi
  if [ -n "$(ls -A "$PGDATA" 2>/dev/null)" ]; then
    say "$PGDATA is not empty but holds no database cluster; remove the volume (make stack-down STACK_VOLUMES=remove)"
    exit 1
  fi
  say "initialising a new cluster in $PGDATA"
  pw="$(mktemp)"
  printf '%s' "$POSTGRES_PASSWORD" > "$pw"
  initdb -D "$PGDATA" -U "$POSTGRES_USER" --pwfile="$pw" --auth-local=trust --auth-host=scram-sha-256 \
    --encoding=UTF8 --no-locale >/dev/null
  rm -f "$pw"
  echo "listen_addresses = '*'" >> "$PGDATA/postgresql.conf"
  echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
  pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
  for f in /docker-entrypoint-initdb.d/*.sql; do
    [ -e "$f" ] || continue
    say "running $f"
    psql -v ON_ERROR_STOP=1 -q -U "$POSTGRES_USER" -d postgres -f "$f"
  done
  pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
  touch "$PGDATA/.dreamprm-initialised"
  say "cluster ready"
elif [ ! -e "$PGDATA/.dreamprm-initialised" ]; then
  say "the cluster in $PGDATA was left half-initialised by an interrupted first start; remove the volume" \
      "(make stack-down STACK_VOLUMES=remove) and start again"
  exit 1
fi
exec postgres -D "$PGDATA" "$@"
