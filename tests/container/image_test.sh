#!/usr/bin/env bash
# Builds deploy/Dockerfile with podman and runs the image where podman
# cannot start containers (a CI machine whose cgroups crun refuses): the
# image's filesystem is mounted and its entrypoint run in a chroot, as the
# image's user, with its environment and a scratch directory as the volume.
# It checks what a container would: the bus serves on 0.0.0.0 with its
# database on the volume, the healthcheck, a publish, a backup, and SIGTERM
# draining to exit 0. Not part of `make test`: it needs debian:12-slim
# from a registry (or a stand-in tagged so, e.g. `debootstrap --variant=
# minbase bookworm DIR` then `tar -C DIR -c . | podman import -
# docker.io/library/debian:12-slim`) and minutes of building. Run as root.
#
#   tests/container/image_test.sh
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
image=localhost/intent-bus:image-test
port=${PORT:-18877}

fail() {
    echo "image_test: FAILED: $*" >&2
    exit 1
}

podman build --isolation=chroot --format docker --ulimit nofile=1024:1024 \
    --ulimit nproc=1024:1024 -f "$repo/deploy/Dockerfile" -t "$image" "$repo" >/dev/null

config() { podman image inspect "$image" --format "$1"; }
[[ $(config '{{.Config.User}}') == intent-bus ]] || fail "the image does not run as intent-bus"
[[ $(config '{{.Config.Healthcheck.Test}}') == *healthcheck* ]] || fail "no HEALTHCHECK"
[[ $(config '{{.Config.Volumes}}') == *"/var/lib/intent-bus"* ]] || fail "no volume"

root=$(podman image mount "$image")
volume=$(mktemp -d)
server=""
cleanup() {
    [[ -n $server ]] && kill "$server" 2>/dev/null
    wait 2>/dev/null || true
    podman image unmount "$image" >/dev/null || true
    rm -rf "$volume"
}
trap cleanup EXIT
user=$(awk -F: '$1 == "intent-bus" {print $3 ":" $4}' "$root/etc/passwd")
[[ -n $user ]] || fail "no intent-bus user in the image"
chown "$user" "$volume"
chmod 750 "$volume"
mapfile -t environment < <(config '{{range .Config.Env}}{{println .}}{{end}}' | grep .)

# The entrypoint in the image, as the image's user, in a mount namespace of
# its own (the volume and /proc mounted into the image's filesystem). It
# replaces the shell it runs in: call it in a subshell.
in_image() {
    exec unshare -m bash -c 'set -e
        mount --bind "$1" "$2/var/lib/intent-bus"
        mount -t proc proc "$2/proc"
        root=$2 user=$3
        shift 3
        exec chroot --userspec="$user" "$root" "$@"' _ "$volume" "$root" "$user" \
        env -i "${environment[@]}" INTENT_BUS_PORT="$port" /usr/local/bin/intent-bus-entrypoint "$@"
}

(in_image healthcheck) && fail "healthy before it started"
(in_image) >"$volume.log" 2>&1 &
server=$!
for _ in $(seq 100); do
    (in_image healthcheck) && break
    sleep 0.1
done
(in_image healthcheck) || { cat "$volume.log" >&2; fail "never healthy"; }
grep -q "listening on http://0.0.0.0:$port (database /var/lib/intent-bus/infrastructure.db" "$volume.log" ||
    fail "not on 0.0.0.0 with its database on the volume"
key=$(cat "$volume/infrastructure.db.secret")
curl -sf -X POST "http://127.0.0.1:$port/intent" -H "X-API-KEY: $key" \
    -d '{"goal":"image_test","payload":{}}' | grep -q '"status":"published"' || fail "publish"
(in_image backup /var/lib/intent-bus/backup.db) >/dev/null 2>&1 || fail "backup"
[[ $(stat -c %u:%g "$volume/backup.db") == "$user" ]] || fail "the backup is not the user's"
kill -TERM "$server"
status=0
wait "$server" || status=$?
server=""
((status == 0)) || fail "SIGTERM: exit $status"
rm -f "$volume.log"
echo "image_test: the image builds, serves, checks its health, backs up and drains"
