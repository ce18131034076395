#!/usr/bin/env bash
# termux-worker.sh — an Intent Bus worker in bash that needs only curl and
# openssl (e.g. a phone in Termux: `pkg install curl openssl-tool`).
#
# It long-polls POST /claim?goal=$GOAL&wait=$CLAIM_WAIT, runs each job and
# reports it:
#   - with HANDLER set, runs `sh -c "$HANDLER"` with the job's payload (compact
#     JSON) on stdin and in $INTENT_PAYLOAD ($INTENT_ID, $INTENT_GOAL too).
#     Exit 0: fulfil with its stdout as a text result. Non-zero: fail with
#     "exit N: <stderr or stdout>" (the bus retries or dead-letters it).
#   - without HANDLER, the built-in action: `termux-notification` with the
#     payload when that command exists, else print the payload; fulfil with
#     "notified" / the payload.
# Every request is HMAC-signed (docs/SIGNING.md): the exact body bytes are
# written to a file, signed, and sent with --data-binary.
#
# Run:
#   INTENT_BUS_URL=http://127.0.0.1:8080 INTENT_API_KEY=$(cat infrastructure.db.secret) \
#   GOAL=send_notification ./examples/termux-worker.sh
#   HANDLER='tr a-z A-Z' GOAL=shout ./examples/termux-worker.sh      # with a handler
#
# Environment: INTENT_BUS_URL (default http://127.0.0.1:8080), INTENT_API_KEY
# (required), GOAL (required), NAMESPACE (default "default"), HANDLER,
# CLAIM_WAIT (long-poll seconds, 1-60, default 30), WORKER_ID (optional).
#
# Stopping: SIGTERM / SIGINT (Ctrl-C) let the running job finish and be
# reported, then the script exits 0. A signal that arrives while it is waiting
# in a long-poll claim aborts that claim; if the bus had just handed it a job,
# that job is redelivered when its lease (60 s) expires (at-least-once).
#
# JSON without jq: the bus answers compact JSON with a fixed key order, and
# every string in it has its quotes escaped, so a literal `"payload":` or
# `,"claim_attempts":` can only be the bus's own keys (or keys nested in the
# payload) as long as GOAL has no `"` in it. The script cuts the payload out between the first `"payload":` and
# the last `,"claim_attempts":`, and the claim token after the last
# `"claim_token":"` — plain bash pattern removal, no jq needed.
set -u

BUS=${INTENT_BUS_URL:-http://127.0.0.1:8080}
BUS=${BUS%/}
KEY=${INTENT_API_KEY:?set INTENT_API_KEY}
GOAL=${GOAL:?set GOAL}
NAMESPACE=${NAMESPACE:-default}
CLAIM_WAIT=${CLAIM_WAIT:-30}
HANDLER=${HANDLER:-}
WORKER_ID=${WORKER_ID:-}

TMP=$(mktemp -d "${TMPDIR:-/tmp}/intent-worker.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT

log() { printf '[termux-worker] %s\n' "$*" >&2; }

# RFC 3986 encoding of one query key or value (docs/SIGNING.md).
urlencode() {
    local LC_ALL=C text=$1 i c
    for ((i = 0; i < ${#text}; i++)); do
        c=${text:i:1}
        case $c in
        [A-Za-z0-9._~-]) printf '%s' "$c" ;;
        *) printf '%%%02X' "'$c" ;;
        esac
    done
}

# Query keys in sorted order, so the request-target is its own canonical path.
CLAIM_PATH="/claim?goal=$(urlencode "$GOAL")&namespace=$(urlencode "$NAMESPACE")&wait=$(urlencode "$CLAIM_WAIT")"
[ -n "$WORKER_ID" ] && CLAIM_PATH="$CLAIM_PATH&worker_id=$(urlencode "$WORKER_ID")"

# From here on there is no command substitution ($(...) or backquotes): bash
# 5.2 parses a substitution's text again when it expands it, and a signal that
# comes in then has its trap run inside that parse, where the trap's own text
# fails ("trap: line 2: unexpected EOF while looking for matching `)'"): the
# signal is lost and the worker goes on claiming. Commands write their answers
# to files in $TMP and `read` takes them back.
WAITING_PID= # the background command `await` waits for
STOP=0
# shellcheck disable=SC2317  # invoked by trap
on_signal() {
    STOP=1
    # Abort a long-poll claim or a pause in progress; a running job is left
    # to finish. KILL, not TERM: a command forked a moment ago may not have
    # become curl yet, and that bash child would take a TERM as a trap of its
    # own and lose it when it execs curl, which then waits out its long poll.
    if [ -n "$WAITING_PID" ]; then kill -KILL "$WAITING_PID" 2>/dev/null; fi
}
trap on_signal TERM INT

# await PID: waits for a background command (a long-poll claim, a pause), so
# that a signal can interrupt it: bash runs a trap only between commands, and
# `wait` is one that a signal ends. Fails once the worker is stopping.
await() {
    WAITING_PID=$1
    # A signal that came before WAITING_PID was set found nothing to kill.
    [ "$STOP" = 1 ] && kill -KILL "$WAITING_PID" 2>/dev/null
    wait "$WAITING_PID"
    if [ "$STOP" = 1 ]; then
        wait "$WAITING_PID" # the killed command, so that none outlives the worker
        return 1
    fi
    WAITING_PID=
}

# slurp VAR FILE: the file's text into VAR without its trailing newlines (as
# $(cat FILE) would give it); empty when there is no such file.
slurp() {
    local slurped=
    IFS= read -r -d '' slurped 2>/dev/null <"$2"
    while [[ $slurped == *$'\n' ]]; do slurped=${slurped%$'\n'}; done
    printf -v "$1" '%s' "$slurped"
}

# json_string TEXT: sets JSON_STRING to a JSON string literal of the text
# (control bytes other than \n, \r and \t are dropped).
json_string() {
    local LC_ALL=C quoted=$1
    quoted=${quoted//[$'\001'-$'\010'$'\013'$'\014'$'\016'-$'\037']/}
    quoted=${quoted//\\/\\\\}
    quoted=${quoted//\"/\\\"}
    quoted=${quoted//$'\n'/\\n}
    quoted=${quoted//$'\r'/\\r}
    quoted=${quoted//$'\t'/\\t}
    JSON_STRING="\"$quoted\""
}

# sign METHOD CANONICAL_PATH BODY_FILE: sets SIGNED, the curl arguments of a
# signed request (X-Timestamp, X-Nonce, X-Signature) that sends BODY_FILE as is.
sign() {
    local ts nonce sig
    printf -v ts '%(%s)T' -1
    openssl rand -hex 16 >"$TMP/nonce"
    read -r nonce <"$TMP/nonce"
    { printf '%s\n%s\n%s\n%s\n' "$1" "$2" "$ts" "$nonce"; cat "$3"; } |
        openssl dgst -sha256 -hmac "$KEY" -r >"$TMP/signature"
    read -r sig _ <"$TMP/signature" # "<hex> *stdin"
    SIGNED=(-X "$1" "$BUS$2" -H "X-API-KEY: $KEY" -H "X-Timestamp: $ts" -H "X-Nonce: $nonce"
        -H "X-Signature: $sig" -H "Content-Type: application/json" --data-binary @"$3")
}

# request METHOD CANONICAL_PATH BODY_FILE OUT_FILE: a signed request; its
# HTTP status (000 on a connection error) goes to $TMP/request.status.
request() {
    sign "$1" "$2" "$3"
    : >"$4"
    curl -s -o "$4" -w '%{http_code}' --max-time 30 "${SIGNED[@]}" >"$TMP/request.status"
}

# report fulfill|fail ID TOKEN JSON_FIELDS
report() {
    local what=$1 id=$2 token=$3 fields=$4 status='' answer=''
    printf '{"claim_token":"%s",%s}' "$token" "$fields" >"$TMP/report.json"
    request POST "/$what/$id" "$TMP/report.json" "$TMP/report.out"
    slurp status "$TMP/request.status"
    slurp answer "$TMP/report.out"
    case $status in
    200) log "$what $id: $answer" ;;
    404) log "$what $id: lease lost (404), not retried" ;;
    *) log "$what $id: HTTP $status $answer" ;;
    esac
}

: >"$TMP/empty.json"
status='' claim='' result='' error='' # set by slurp
log "worker for goal '$GOAL' (namespace '$NAMESPACE') on $BUS"

while [ "$STOP" = 0 ]; do
    sign POST "$CLAIM_PATH" "$TMP/empty.json"
    : >"$TMP/claim.json"
    # A signal that came while `sign` ran openssl found no claim to abort.
    [ "$STOP" = 1 ] && break
    curl -s -o "$TMP/claim.json" -w '%{http_code}' --max-time $((CLAIM_WAIT + 15)) \
        "${SIGNED[@]}" >"$TMP/claim.status" &
    await $! || break
    slurp status "$TMP/claim.status"
    slurp claim "$TMP/claim.json"
    case $status in
    200) ;;
    204) continue ;;
    400 | 401 | 403) log "claim refused: HTTP $status $claim"; exit 1 ;;
    *) log "claim: HTTP ${status:-000}, retrying in 5 s"; sleep 5 & await $! || break; continue ;;
    esac

    id=${claim#\{\"id\":\"}
    id=${id%%\"*}
    token=${claim##*\"claim_token\":\"}
    token=${token%%\"*}
    payload=${claim#*\"payload\":}
    payload=${payload%,\"claim_attempts\":*}
    log "claimed $id: $payload"

    if [ -n "$HANDLER" ]; then
        printf '%s' "$payload" |
            INTENT_ID=$id INTENT_GOAL=$GOAL INTENT_PAYLOAD=$payload sh -c "$HANDLER" \
                >"$TMP/stdout" 2>"$TMP/stderr"
        rc=$?
    elif command -v termux-notification >/dev/null 2>&1; then
        termux-notification --title "Intent Bus: $GOAL" --content "$payload" >"$TMP/stdout" 2>"$TMP/stderr" &&
            echo notified >"$TMP/stdout"
        rc=$?
    else
        printf '%s\n' "$payload" | tee "$TMP/stdout"  # the built-in action: print it
        rc=0
    fi

    if [ "$rc" = 0 ]; then
        slurp result "$TMP/stdout"
        json_string "${result:0:1500}"
        report fulfill "$id" "$token" "\"result\":$JSON_STRING,\"result_type\":\"text\""
    else
        slurp error "$TMP/stderr"
        [ -n "$error" ] || slurp error "$TMP/stdout"
        json_string "exit $rc: ${error:0:1000}"
        report fail "$id" "$token" "\"error\":$JSON_STRING"
    fi
done
log "stopped"
exit 0
