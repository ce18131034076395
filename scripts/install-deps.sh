#!/usr/bin/env bash
# Installs what Intent Bus needs on Debian 12 or Ubuntu 22.04+ (apt-get,
# non-interactive). Skips apt entirely when every package is already there,
# so `make` stays fast after the first run.
#
#   install-deps.sh          what building and running the bus needs
#   install-deps.sh --test   that, plus the test tools (`make test` runs this)
#
# A fresh cloud VM often runs unattended-upgrades on first boot: apt waits for
# the dpkg lock (up to INSTALL_DEPS_LOCK_TIMEOUT seconds) instead of failing.
set -euo pipefail

build_packages=(
  build-essential cmake pkg-config
  node-llhttp libgnutls28-dev  # the HTTP layer (src/net): llhttp's C sources, TLS
  libsqlite3-dev libjansson-dev nettle-dev libcurl4-openssl-dev
  libpq-dev                 # the PostgreSQL backend (serve --database)
  curl openssl
  tzdata                    # the zones of schedules (src/util/zone.c); minimal images lack it
)
test_packages=(
  libcmocka-dev python3 python3-pytest
  prometheus                # promtool, which checks /metrics in the tests
  chromium chromium-driver  # the dashboard's browser test
  postgresql                # the PostgreSQL test cluster (scripts/pg-cluster.sh)
  dpkg-dev file lintian systemd man-db bash-completion zsh adduser
                            # `make deb` and the package's test
  debootstrap systemd-container  # `make systemd-test`
  clang clang-tidy cppcheck # make fuzz, make lint
)

case "${1:-}" in
  "") packages=("${build_packages[@]}") ;;
  --test)
    packages=("${build_packages[@]}" "${test_packages[@]}")
    # libFuzzer's runtime: a package of its own on Debian 12, part of
    # libclang-common-14-dev (pulled in by clang) on Ubuntu 22.04.
    grep -qx 'ID=debian' /etc/os-release 2>/dev/null && packages+=(libclang-rt-14-dev)
    ;;
  *) echo "usage: $0 [--test]" >&2; exit 2 ;;
esac

missing=()
for package in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: run as root or install sudo" >&2; exit 1; }
  sudo="sudo"
fi
echo "install-deps: installing ${missing[*]}" >&2
lock=(-o "DPkg::Lock::Timeout=${INSTALL_DEPS_LOCK_TIMEOUT:-600}")
# Services the test tools bring (the Prometheus server on :9090, a PostgreSQL
# cluster) are not started: the tests run their own on free ports.
policy=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
  policy=/usr/sbin/policy-rc.d
  printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
  $sudo chmod 755 "$policy"
  trap '$sudo rm -f "$policy"' EXIT
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get "${lock[@]}" update -qq
$sudo env DEBIAN_FRONTEND=noninteractive \
  apt-get "${lock[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
