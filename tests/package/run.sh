#!/usr/bin/env bash
# The Debian packages as an operator gets them: installed with dpkg -i on
# this machine, their files, user and unit checked, the installed server
# started as the package's user with the package's defaults, the README's
# curl recipes and a backup run against it, then purged (the user goes, the
# data stays). `make package-test` runs it after `make deb`.
#
#   run.sh DEB_DIR
#
# It needs root (or sudo without a password) and refuses to touch a machine
# where intent-bus is already installed: it would replace and purge it.
set -euo pipefail
(($# == 1)) || { echo "usage: $0 DEB_DIR" >&2; exit 2; }
debs=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)

if [[ $(id -u) -ne 0 ]]; then
    if sudo -n true 2>/dev/null; then
        exec sudo -n "$0" "$@"
    fi
    echo "package-test: SKIPPED: installing packages needs root or sudo without a password" >&2
    exit 0
fi
for package in intent-bus libintentbus1 libintentbus-dev; do
    if [[ $(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true) == *" installed" ]]; then
        echo "package-test: SKIPPED: $package is installed here; the test would replace and purge it" >&2
        exit 0
    fi
done

# shellcheck source=tests/package/checks.sh
source "$here/checks.sh"

server_pid=""
data_existed=no
[[ -e /var/lib/intent-bus ]] && data_existed=yes
cleanup() {
    [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    dpkg --purge intent-bus libintentbus-dev libintentbus1 >/dev/null 2>&1 || true
    [[ $data_existed == no ]] && rm -rf /var/lib/intent-bus
    rm -rf "$work"
}
work=$(mktemp -d "${TMPDIR:-/tmp}/intent-bus-package-test.XXXXXX")
chmod 755 "$work"
trap cleanup EXIT

step "lintian (each override in packaging/debian/lintian/ says why)"
lintian --fail-on error,warning --tag-display-limit 0 "$debs"/*.deb >"$work/lintian.log" 2>&1 ||
    { grep -v 'running with root privileges' "$work/lintian.log" >&2; fail "lintian"; }

step "install with dpkg -i"
dpkg -i "$debs"/intent-bus_*.deb "$debs"/libintentbus1_*.deb "$debs"/libintentbus-dev_*.deb \
    >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log" >&2; fail "dpkg -i failed"; }

step "files"
check_files
check_dockerfile_libraries
step "user and state directory"
check_user present
step "systemd unit"
check_unit
step "man pages and completion"
check_man_pages
check_completion
step "the library through pkg-config"
check_library "$work"

step "the installed server as intent-bus, with the package's defaults"
start_packaged_server "$work"
step "the README's curl recipes"
run_readme_recipes "$work"
step "intent-bus backup as the package's user"
check_packaged_backup
stop_packaged_server

step "purge"
dpkg --purge intent-bus libintentbus-dev libintentbus1 >"$work/purge.log" 2>&1 ||
    { cat "$work/purge.log" >&2; fail "dpkg --purge failed"; }
check_purged
echo "package-test: all checks passed"
