#!/usr/bin/env bash
# The package under a real systemd: where systemd is not PID 1 (a CI VM, a
# container), a minimal Debian 12 boots in systemd-nspawn with its own
# network namespace, and inside it the operator's steps run: dpkg -i,
# `systemctl enable --now intent-bus`, the bus on 127.0.0.1:8080 inside the
# unit's sandbox (seccomp filter included), a job published, claimed and
# fulfilled, a backup as the package's user, `systemctl stop` draining to a
# clean exit, `systemd-analyze security` on the live unit, and purge (the
# user goes, the data stays). `make systemd-test` runs it; it is not part of
# `make test`: the first run debootstraps the root filesystem (minutes, from
# the Debian mirror), kept in $INTENT_BUS_NSPAWN_ROOT for the next runs.
#
#   systemd_test.sh DEB_DIR       (as root; debootstrap and systemd-container come
#                                 from scripts/install-deps.sh --test)
set -euo pipefail
(($# == 1)) || { echo "usage: $0 DEB_DIR" >&2; exit 2; }
debs=$(cd "$1" && pwd)
base=${INTENT_BUS_NSPAWN_ROOT:-/var/tmp/intent-bus-nspawn-root}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
machine=intent-bus-test-$$

fail() {
    echo "systemd-test: FAILED: $*" >&2
    exit 1
}
[[ $(id -u) -eq 0 ]] || fail "run as root"

if [[ ! -x $base/lib/systemd/systemd ]]; then
    echo "== systemd-test: debootstrap a minimal Debian 12 into $base"
    rm -rf "$base"
    debootstrap --variant=minbase \
        --include=systemd,systemd-sysv,dbus,curl,adduser,libgnutls30,libsqlite3-0,libjansson4,libnettle8,libcurl4 \
        bookworm "$base" "$mirror" >/dev/null
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/intent-bus-systemd-test.XXXXXX")
nspawn=""
cleanup() {
    if [[ -n $nspawn ]] && kill -0 "$nspawn" 2>/dev/null; then
        inside systemctl poweroff >/dev/null 2>&1 || kill "$nspawn"
        wait "$nspawn" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

echo "== systemd-test: boot it (ephemeral copy, private network)"
systemd-nspawn --quiet --boot --ephemeral --register=no --keep-unit --private-network \
    --machine="$machine" --directory="$base" --bind-ro="$debs:/debs" \
    >"$work/console.log" 2>&1 </dev/null &
nspawn=$!
init=""
inside() { nsenter --target "$init" --all env PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"; }
for _ in $(seq 300); do
    init=$(pgrep -P "$nspawn" -x systemd || true)
    [[ -n $init ]] && inside systemctl is-system-running >/dev/null 2>&1 && break
    [[ -n $init ]] && [[ $(inside systemctl is-system-running 2>/dev/null) == degraded ]] && break
    kill -0 "$nspawn" 2>/dev/null || { cat "$work/console.log" >&2; fail "nspawn exited"; }
    sleep 0.2
done
[[ -n $init ]] || { cat "$work/console.log" >&2; fail "systemd did not come up"; }

echo "== systemd-test: the operator's steps, inside"
inside bash -s <<'STEPS' || fail "the steps inside failed (output above)"
set -euo pipefail
step() { echo "   $*"; }
die() { echo "inside: $*" >&2; journalctl -u intent-bus --no-pager >&2 || true; exit 1; }

step "dpkg -i; systemctl enable --now intent-bus"
dpkg -i /debs/intent-bus_*.deb >/dev/null
systemctl enable --now intent-bus 2>/dev/null
for _ in $(seq 100); do curl -sf http://127.0.0.1:8080/health >/dev/null && break; sleep 0.1; done
curl -sf http://127.0.0.1:8080/health | grep -q '"ok":true' || die "no /health on 127.0.0.1:8080"
[[ $(systemctl show intent-bus -p User --value) == intent-bus ]] || die "not the intent-bus user"
[[ $(stat -c %U "/proc/$(systemctl show intent-bus -p MainPID --value)") == intent-bus ]] ||
    die "the main process does not run as intent-bus"

step "a job through the sandboxed bus"
B=http://127.0.0.1:8080
KEY=$(cat /var/lib/intent-bus/infrastructure.db.secret)
curl -sf -X POST $B/intent -H "X-API-KEY: $KEY" -d '{"goal":"g","payload":{"n":1}}' >/dev/null
CLAIM=$(curl -sf -X POST "$B/claim?goal=g&wait=5" -H "X-API-KEY: $KEY")
ID=$(echo "$CLAIM" | sed -E 's/.*"id":"([0-9a-f]+)".*/\1/')
TOKEN=$(echo "$CLAIM" | sed -E 's/.*"claim_token":"([0-9a-f]+)".*/\1/')
curl -sf -X POST $B/fulfill/$ID -H "X-API-KEY: $KEY" -d "{\"claim_token\":\"$TOKEN\",\"result\":\"ok\"}" |
    grep -q '"status":"fulfilled"' || die "fulfil"
curl -sf -X POST $B/set/k -H "X-API-KEY: $KEY" -d '{"value":"v"}' >/dev/null || die "KV"

step "backup as intent-bus, live"
runuser -u intent-bus -- intent-bus backup --db /var/lib/intent-bus/infrastructure.db \
    /var/lib/intent-bus/backup.db 2>/dev/null || die "backup"

step "systemd-analyze security on the live unit"
verdict=$(systemd-analyze security intent-bus --no-pager 2>&1 | grep -o 'Overall exposure level.*: [0-9.]* [A-Z]*')
echo "   $verdict"
[[ $verdict == *" OK" || $verdict == *" SAFE" ]] || die "$verdict"

step "systemctl stop drains to a clean exit"
(curl -s -m 20 -X POST "$B/claim?goal=none&wait=15" -H "X-API-KEY: $KEY" -o /dev/null \
    -w '%{http_code}' >/tmp/parked) &
sleep 0.5
systemctl stop intent-bus
wait
[[ $(cat /tmp/parked) == 204 ]] || die "the parked long-poll got $(cat /tmp/parked), not 204"
[[ $(systemctl show intent-bus -p Result --value) == success ]] || die "stop: not a success"
[[ $(systemctl show intent-bus -p ExecMainStatus --value) == 0 ]] || die "stop: exit status"
! journalctl -u intent-bus --no-pager | grep -qiE 'SIGSYS|Bad system call|Operation not permitted' ||
    die "the sandbox refused something"

step "restart on failure"
systemctl start intent-bus
pid=$(systemctl show intent-bus -p MainPID --value)
kill -KILL "$pid"
for _ in $(seq 100); do
    new=$(systemctl show intent-bus -p MainPID --value)
    [[ $new != 0 && $new != "$pid" ]] && curl -sf $B/health >/dev/null && break
    sleep 0.1
done
[[ $new != 0 && $new != "$pid" ]] || die "not restarted after SIGKILL"
curl -sf $B/result/$ID -H "X-API-KEY: $KEY" | grep -q '"result":"ok"' || die "lost the job across the restart"

step "purge: the user goes, the data stays"
dpkg --purge intent-bus >/dev/null 2>&1
! getent passwd intent-bus >/dev/null || die "user left"
! getent group intent-bus >/dev/null || die "group left"
[[ -s /var/lib/intent-bus/infrastructure.db && -s /var/lib/intent-bus/backup.db ]] || die "data lost"
[[ ! -e /lib/systemd/system/intent-bus.service ]] || die "unit left"
STEPS
echo "systemd-test: all checks passed"
