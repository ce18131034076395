#!/usr/bin/env bash
# Runs a command against a throwaway Intent Bus: starts `intent-bus serve` on
# a free port (--port 0) with a temporary database and fresh secrets, waits
# for its "listening on http://127.0.0.1:PORT" line, runs the command with
# INTENT_BUS_URL, INTENT_API_KEY and INTENT_ADMIN_TOKEN set, then stops the
# server with SIGTERM. Fails if the command fails, or if the server does not
# exit cleanly or reports a sanitizer error.
#
#   run_with_server.sh SERVER_BINARY [NAME=VALUE ...] -- COMMAND [ARG ...]
#
# NAME=VALUE pairs go into the server's environment, on top of a clean one
# (no BUS_* variable is inherited): BUS_REQUIRE_SIGNATURES=true.
#
# With INTENT_BUS_DATABASE_URL set (a throw-away cluster's superuser URL,
# scripts/pg-cluster.sh), the server runs on a fresh PostgreSQL database of
# that cluster instead of a SQLite file.
set -uo pipefail

usage() {
    echo "usage: $0 SERVER_BINARY [NAME=VALUE ...] -- COMMAND [ARG ...]" >&2
    exit 2
}

(($# >= 3)) || usage
server_binary=$1
shift
server_env=()
while (($#)) && [[ $1 != -- ]]; do
    [[ $1 == *=* ]] || usage
    server_env+=("$1")
    shift
done
(($# >= 2)) || usage
shift # the --

workdir=$(mktemp -d "${TMPDIR:-/tmp}/intentbus-client-test.XXXXXX") || exit 1
log=$workdir/server.log
server_pid=

stop_server() {
    local status=0
    if [[ -n $server_pid ]]; then
        kill -TERM "$server_pid" 2>/dev/null
        wait "$server_pid"
        status=$?
        server_pid=
    fi
    return "$status"
}

cleanup() {
    stop_server
    rm -rf "$workdir"
}
trap cleanup EXIT

random_hex() {
    od -An -N16 -tx1 /dev/urandom | tr -d ' \n'
}

api_key=$(random_hex)
admin_token=$(random_hex)

unset_args=()
while IFS= read -r name; do
    case $name in
    BUS_* | DASHBOARD_PASSWORD) unset_args+=(-u "$name") ;;
    esac
done < <(compgen -e)

database=(--db "$workdir/bus.db")
if [[ -n ${INTENT_BUS_DATABASE_URL:-} ]]; then
    name=bus_$(random_hex)
    psql "$INTENT_BUS_DATABASE_URL" -qAtc "CREATE DATABASE \"$name\"" </dev/null || exit 1
    # The same URL, naming the new database: scheme://authority/NAME?query
    base=${INTENT_BUS_DATABASE_URL%%\?*}
    query=${INTENT_BUS_DATABASE_URL#"$base"}
    authority=${base#*://}
    authority=${authority%%/*}
    database=(--database "${base%%://*}://$authority/$name$query")
fi

env "${unset_args[@]}" BUS_SECRET="$api_key" BUS_ADMIN_SECRET="$admin_token" "${server_env[@]}" \
    "$server_binary" serve --bind 127.0.0.1 --port 0 "${database[@]}" \
    </dev/null >"$log" 2>&1 &
server_pid=$!

url=
for _ in $(seq 1 300); do
    url=$(grep -o -m1 'listening on http://127\.0\.0\.1:[0-9]*' "$log" | sed 's/^listening on //')
    [[ -n $url ]] && break
    if ! kill -0 "$server_pid" 2>/dev/null; then
        wait "$server_pid"
        echo "run_with_server.sh: the server exited with $? during start:" >&2
        cat "$log" >&2
        server_pid=
        exit 1
    fi
    sleep 0.1
done
if [[ -z $url ]]; then
    echo "run_with_server.sh: no 'listening on' line within 30 s:" >&2
    cat "$log" >&2
    exit 1
fi

INTENT_BUS_URL=$url INTENT_API_KEY=$api_key INTENT_ADMIN_TOKEN=$admin_token "$@"
status=$?

stop_server
server_status=$?
if ((server_status != 0)); then
    echo "run_with_server.sh: the server exited with $server_status on SIGTERM:" >&2
    tail -n 100 "$log" >&2
    status=1
fi
if grep -q -E 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$log"; then
    echo "run_with_server.sh: the server reported a sanitizer error:" >&2
    tail -n 200 "$log" >&2
    status=1
fi
exit "$status"
