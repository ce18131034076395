#!/bin/bash
# The container's entrypoint (deploy/Dockerfile).
#   serve [FLAG...]   the bus on 0.0.0.0:$INTENT_BUS_PORT (default 8080) inside the
#                     container, database $BUS_DB_PATH on the volume; FLAGs are
#                     appended to `intent-bus serve` (a later --port wins)
#   healthcheck       exit 0 when GET /health answers {"ok":true,...} (HEALTHCHECK)
#   anything else     `intent-bus ARGS`: backup, version, the client commands
# serve and the commands replace this shell (exec), so SIGTERM from
# `docker stop` reaches the bus, which drains and exits 0.
set -euo pipefail
port=${INTENT_BUS_PORT:-8080}

health() {
    # bash's /dev/tcp: the runtime image needs no curl for its health check.
    { exec 3<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null || return 1
    printf 'GET /health HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3
    local reply
    reply=$(timeout 5 cat <&3) || return 1
    exec 3<&-
    [[ $reply == "HTTP/1."?" 200 "* && $reply == *'"ok":true'* ]]
}

case ${1:-serve} in
serve)
    shift || true
    exec intent-bus serve --bind 0.0.0.0 --port "$port" "$@"
    ;;
healthcheck)
    health
    ;;
*)
    exec intent-bus "$@"
    ;;
esac
