#!/usr/bin/env bash
# Installs the build into a temporary prefix (cmake --install BUILD --prefix
# TMP), then builds tests/client/consumer.c against it the way a user would:
# with `pkg-config --cflags --libs intentbus` (shared) and with the static
# archive plus `pkg-config --static --libs`, and runs both. Run it through
# run_with_server.sh so the consumer has a bus to talk to.
#
#   test_install.sh BUILD_DIR CONSUMER_SOURCE CC [EXTRA_FLAG ...]
#
# EXTRA_FLAGs go to every compile and link (-fsanitize=... when the build
# is instrumented).
set -euo pipefail
(($# >= 3)) || { echo "usage: $0 BUILD_DIR CONSUMER_SOURCE CC [EXTRA_FLAG ...]" >&2; exit 2; }
build=$1 source=$2 cc=$3
shift 3
extra=("$@")

work=$(mktemp -d "${TMPDIR:-/tmp}/intentbus-install-test.XXXXXX")
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix

fail() {
    echo "test_install.sh: $*" >&2
    exit 1
}

cmake --install "$build" --prefix "$prefix" >"$work/install.log" ||
    { cat "$work/install.log" >&2; fail "cmake --install failed"; }

# The two executables land side by side and find each other there.
bindir=$(dirname "$(find "$prefix" -name intent-bus -type f -print -quit)")
[[ -x $bindir/intent-bus-client ]] || fail "intent-bus-client is not installed beside intent-bus"
"$bindir/intent-bus" status --help >/dev/null ||
    fail "the installed intent-bus cannot run a client command"

pc=$(find "$prefix" -name intentbus.pc -print -quit)
[[ -n $pc ]] || fail "no intentbus.pc under $prefix"
export PKG_CONFIG_PATH=$(dirname "$pc")
unset PKG_CONFIG_LIBDIR PKG_CONFIG_SYSROOT_DIR
# The project's one version (src/version.h), as the installed binary states it.
version=$("$bindir/intent-bus" version | awk '{print $2}')
major=${version%%.*}
[[ $(pkg-config --modversion intentbus) == "$version" ]] || fail "pkg-config version is not $version"
libdir=$(pkg-config --variable=libdir intentbus)
includedir=$(pkg-config --variable=includedir intentbus)
[[ $libdir == "$prefix"/* ]] || fail "libdir $libdir is not under the prefix $prefix"
[[ -f $includedir/intentbus.h ]] || fail "no $includedir/intentbus.h"
[[ -f $libdir/libintentbus.a ]] || fail "no $libdir/libintentbus.a"
[[ -f $libdir/libintentbus.so.$version && -L $libdir/libintentbus.so.$major && -L $libdir/libintentbus.so ]] ||
    fail "libintentbus.so, .so.$major and .so.$version are not all installed"
soname=$(objdump -p "$libdir/libintentbus.so.$version" | awk '$1 == "SONAME" {print $2}')
[[ $soname == libintentbus.so.$major ]] || fail "SONAME is '$soname', not libintentbus.so.$major"
echo "installed: $(cd "$prefix" && find . -type f -o -type l | sort | tr '\n' ' ')"

strict=(-std=c17 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -pedantic)
# shellcheck disable=SC2046 # pkg-config output is meant to be split
"$cc" "${strict[@]}" "${extra[@]}" -o "$work/consumer_shared" "$source" \
    $(pkg-config --cflags --libs intentbus) -Wl,-rpath,"$libdir"
# ldd's output is kept first: `ldd | grep -q` under pipefail fails at
# random when grep exits early and ldd dies of SIGPIPE.
linked=$(ldd "$work/consumer_shared")
[[ $linked == *"$libdir/libintentbus.so.$major"* ]] ||
    fail "consumer_shared does not load $libdir/libintentbus.so.$major"
"$work/consumer_shared"

# Static: the archive, then the libraries it needs. `pkg-config --static
# --libs intentbus` would also list what libcurl itself links, which only
# matters with a static libcurl (and needs its -dev packages); libcurl,
# jansson and nettle stay shared here.
static_libs="$libdir/libintentbus.a $(pkg-config --libs libcurl jansson nettle) -pthread"
"$cc" "${strict[@]}" "${extra[@]}" -o "$work/consumer_static" "$source" \
    $(pkg-config --cflags intentbus) $static_libs
if [[ $(ldd "$work/consumer_static") == *libintentbus* ]]; then
    fail "consumer_static still loads libintentbus.so"
fi
"$work/consumer_static"

# The header also compiles as C++ (extern "C", no C++ keywords as names).
if command -v c++ >/dev/null; then
    printf '#include <intentbus.h>\nint main() { return ib_strerror(IB_OK) == nullptr; }\n' \
        >"$work/header.cpp"
    c++ -std=c++17 -Wall -Wextra -Werror -pedantic $(pkg-config --cflags intentbus) \
        -fsyntax-only "$work/header.cpp"
fi
echo "test_install.sh: install, pkg-config, shared and static consumers OK"
