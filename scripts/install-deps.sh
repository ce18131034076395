#!/usr/bin/env bash
# Installs the build and test dependencies of Intent Bus on Debian 12 or
# Ubuntu 22.04+ (apt-get, non-interactive). Skips apt entirely when every
# package is already there, so `make` stays fast after the first run.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libmicrohttpd-dev libsqlite3-dev libjansson-dev nettle-dev libcurl4-openssl-dev
  libcmocka-dev python3 python3-pytest curl openssl
  prometheus             # promtool, which checks /metrics in the tests
  chromium chromium-driver  # the dashboard's browser test
  clang clang-tidy cppcheck  # make fuzz, make lint
)
# libFuzzer's runtime: a package of its own on Debian 12, part of
# libclang-common-14-dev (pulled in by clang) on Ubuntu 22.04.
grep -qx 'ID=debian' /etc/os-release 2>/dev/null && packages+=(libclang-rt-14-dev)

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
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
