#!/usr/bin/env bash
# A throw-away PostgreSQL cluster for the tests: initdb + pg_ctl in DIR,
# listening on a unix socket in DIR only (no TCP port to collide with), no
# system service involved.
#
#   scripts/pg-cluster.sh start DIR   create (first time) and start; prints the URL
#   scripts/pg-cluster.sh stop DIR    stop it (fast shutdown); DIR stays
#   scripts/pg-cluster.sh url DIR     print the URL again
#
# The URL (postgresql:///postgres?host=DIR&user=postgres) names the
# cluster's superuser and its postgres database; tests create a database per
# server from it. PostgreSQL refuses to run as root: as root, the cluster
# runs as the user $PG_CLUSTER_USER (default intentbus-pg, created if
# missing), which then owns DIR; DIR's parents must let it through.
# PG_BIN overrides where initdb and pg_ctl are (default: the newest
# /usr/lib/postgresql/*/bin).
set -euo pipefail

usage() { echo "usage: $0 start|stop|url DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
command=$1
dir=$(realpath -m -- "$2")
data="$dir/data"
url="postgresql:///postgres?host=$dir&user=postgres"

if [ -z "${PG_BIN:-}" ]; then
  PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
fi
[ -x "${PG_BIN:-}/pg_ctl" ] || { echo "pg-cluster: no PostgreSQL server found (apt-get install postgresql)" >&2; exit 1; }

# Runs a command as the cluster's user: this one, or the dedicated one as root.
as_cluster_user() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u "${PG_CLUSTER_USER:-intentbus-pg}" -- "$@" </dev/null
  else
    "$@" </dev/null
  fi
}

ensure_user() {
  [ "$(id -u)" -eq 0 ] || return 0
  local user=${PG_CLUSTER_USER:-intentbus-pg}
  id -u "$user" >/dev/null 2>&1 ||
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$user"
  mkdir -p "$dir"
  chown "$user:" "$dir"
  as_cluster_user test -w "$dir" ||
    { echo "pg-cluster: $user cannot write to $dir (a parent directory closed to it?)" >&2; exit 1; }
}

start() {
  ensure_user
  mkdir -p "$dir"
  if [ ! -f "$data/PG_VERSION" ]; then
    as_cluster_user "$PG_BIN/initdb" --pgdata="$data" --username=postgres --auth=trust \
      --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
      { cat "$dir/initdb.log" >&2; exit 1; }
  fi
  # fsync off: a test cluster need not survive a power cut, and every
  # commit's sync would dominate the suite's time. synchronous_commit stays
  # on: a killed server still keeps what it acknowledged.
  as_cluster_user "$PG_BIN/pg_ctl" start --pgdata="$data" --wait --timeout=60 \
    --log="$dir/postgres.log" \
    -o "-c listen_addresses='' -c unix_socket_directories='$dir' -c max_connections=400 -c fsync=off -c full_page_writes=off" \
    >/dev/null || { tail -n 20 "$dir/postgres.log" >&2; exit 1; }
  echo "$url"
}

stop() {
  [ -f "$data/postmaster.pid" ] || return 0
  as_cluster_user "$PG_BIN/pg_ctl" stop --pgdata="$data" --mode=fast --wait >/dev/null
}

case "$command" in
  start) start ;;
  stop) stop ;;
  url) echo "$url" ;;
  *) usage ;;
esac
