#!/bin/sh
# The speed yardstick of issue 16 (docs/BENCHMARKS.md): nginx serving a tiny
# file and the bus's full job cycle (bench/full_cycle.lua), both driven by wrk
# on this machine, interleaved, ROUNDS times.
#
#   bench/yardstick.sh [ROUNDS] [BUS_BINARY ...]
#
# Each round runs wrk against nginx, then against each bus binary given
# (default build/intent-bus) on a fresh database in DB_DIR (default a new
# directory under /tmp, i.e. on disk); an argument BINARY:DIR puts that run's
# database in DIR instead (e.g. build/intent-bus:/dev/shm for tmpfs). Environment:
# SECONDS_EACH (default 10), CONNECTIONS (40), THREADS (2), BUS_ENV (extra
# NAME=value words for the bus, e.g. "BUS_SYNC=full BUS_LOG_LEVEL=off").
# The bus logs to /dev/null (its default level, info, unless BUS_ENV says).
# Each round prints nginx's requests/s and CPU per request (its workers' user +
# system time), then per bus: jobs/s, jobs/s against nginx's requests/s ÷ 3,
# and the server's CPU per job.
# Needs wrk and nginx (apt-get install -y wrk nginx-light); nginx runs from a
# config in a temporary directory on 127.0.0.1:18480, never as the service.
set -eu

ROUNDS=${1:-3}
[ $# -gt 0 ] && shift
[ $# -eq 0 ] && set -- build/intent-bus
SECONDS_EACH=${SECONDS_EACH:-10}
CONNECTIONS=${CONNECTIONS:-40}
THREADS=${THREADS:-2}
BUS_ENV=${BUS_ENV:-}
SCRIPT_DIR=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d /tmp/yardstick-XXXXXX)
DB_DIR=${DB_DIR:-$WORK}
NGINX_PORT=18480
BUS_PORT=18481

mkdir -p "$WORK/www" "$WORK/logs"
printf 'ok' >"$WORK/www/tiny.txt"
cat >"$WORK/nginx.conf" <<EOF
worker_processes 2;
pid $WORK/nginx.pid;
error_log $WORK/logs/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $WORK/body;
  proxy_temp_path $WORK/proxy;
  fastcgi_temp_path $WORK/fastcgi;
  uwsgi_temp_path $WORK/uwsgi;
  scgi_temp_path $WORK/scgi;
  server { listen 127.0.0.1:$NGINX_PORT; root $WORK/www; }
}
EOF
nginx -c "$WORK/nginx.conf" -p "$WORK"
trap 'kill "$(cat "$WORK/nginx.pid")" 2>/dev/null; rm -rf "$WORK"' EXIT

wait_for_bus() {
    i=0
    until curl -fs "http://127.0.0.1:$BUS_PORT/health" >/dev/null 2>&1; do
        i=$((i + 1)); [ $i -lt 100 ] || { echo "bus did not start" >&2; exit 1; }
        sleep 0.1
    done
}

# CPU ticks (user + system) of nginx's workers so far: what a request costs
# nginx is the floor a bus request sits on (the same loopback TCP and wrk).
nginx_ticks() {
    total=0
    for worker in $(pgrep -P "$(cat "$WORK/nginx.pid")"); do
        total=$((total + $(awk '{print $14 + $15}' "/proc/$worker/stat")))
    done
    echo "$total"
}

round=1
while [ $round -le "$ROUNDS" ]; do
    nginx_before=$(nginx_ticks)
    rps=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${SECONDS_EACH}s" \
        "http://127.0.0.1:$NGINX_PORT/tiny.txt" | awk '/^Requests\/sec/ {print $2}')
    nginx_us=$(awk -v t=$(($(nginx_ticks) - nginx_before)) -v r="$rps" -v s="$SECONDS_EACH" \
        -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.1f", t / hz * 1e6 / (r * s) }')
    echo "round $round nginx requests/s $rps nginx-cpu-us/request $nginx_us"
    for arg in "$@"; do
        bus=${arg%%:*}
        dir=$DB_DIR
        [ "$bus" != "$arg" ] && dir=${arg#*:}
        db="$dir/yardstick-$$-$round.db"
        rm -f "$db" "$db-wal" "$db-shm"
        # shellcheck disable=SC2086
        env BUS_SECRET=secret $BUS_ENV "$bus" serve --bind 127.0.0.1 --port $BUS_PORT \
            --db "$db" >/dev/null 2>&1 &
        pid=$!
        wait_for_bus
        ticks_before=$(awk '{print $14 + $15}' "/proc/$pid/stat")
        line=$(BUS_KEY=secret wrk -t"$THREADS" -c"$CONNECTIONS" -d"${SECONDS_EACH}s" \
            -s "$SCRIPT_DIR/full_cycle.lua" "http://127.0.0.1:$BUS_PORT" | grep '^full cycles')
        ticks_after=$(awk '{print $14 + $15}' "/proc/$pid/stat")
        kill "$pid"; wait "$pid" || true
        rm -f "$db" "$db-wal" "$db-shm"
        jobs=$(echo "$line" | awk '{print $3}')
        jps=$(echo "$line" | awk '{print $9}')
        cpu_us=$(awk -v t=$((ticks_after - ticks_before)) -v j="$jobs" -v hz="$(getconf CLK_TCK)" \
            'BEGIN { printf "%.0f", t / hz * 1e6 / j }')
        ratio=$(awk -v j="$jps" -v r="$rps" 'BEGIN { printf "%.3f", j / (r / 3) }')
        echo "round $round $arg jobs/s $jps ratio-to-nginx/3 $ratio server-cpu-us/job $cpu_us ($line)"
    done
    round=$((round + 1))
done
