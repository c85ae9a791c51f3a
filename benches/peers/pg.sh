#!/usr/bin/env bash
# A throwaway PostgreSQL + PostGIS cluster on loopback for the peer benchmarks.
#
#   bash benches/peers/pg.sh start DIR PORT   # initdb (once) and start; prints a conninfo
#   bash benches/peers/pg.sh stop DIR
#
# Needs Debian's postgresql and postgresql-15-postgis-3. Runs as the current user; when
# that is root, the cluster runs as the 'postgres' system user. Trust auth on loopback only.
set -euo pipefail
cmd="$1"; dir="$2"; port="${3:-55432}"
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
case "$cmd" in
  start)
    if [ ! -f "$dir/PG_VERSION" ]; then
      mkdir -p "$dir"; [ "$(id -u)" = 0 ] && chown postgres "$dir"
      as_pg "$bin/initdb" -D "$dir" -A trust -U postgres >/dev/null
      cat >> "$dir/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
shared_buffers = 1GB
work_mem = 256MB
maintenance_work_mem = 1GB
max_parallel_workers_per_gather = 2
fsync = off
synchronous_commit = off
full_page_writes = off
CONF
    fi
    as_pg "$bin/pg_ctl" -D "$dir" -l "$dir/log" -w start >/dev/null
    as_pg "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -qc "CREATE EXTENSION IF NOT EXISTS postgis" >/dev/null
    echo "host=127.0.0.1 port=$port user=postgres dbname=postgres"
    ;;
  stop)
    as_pg "$bin/pg_ctl" -D "$dir" -m fast -w stop >/dev/null || true
    ;;
  *) echo "usage: $0 start|stop DIR [PORT]" >&2; exit 2 ;;
esac
