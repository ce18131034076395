#!/usr/bin/env bash
# Generates the man pages from the programs' own --help, verbatim, so a page
# cannot say what --help does not (nor drift from it):
#   intent-bus.1          `intent-bus --help`, then every client command's --help
#   intent-bus-serve.8    `intent-bus serve --help`, then `intent-bus backup --help`
#   intent-bus-client.1   a link to intent-bus.1 (the partner executable)
# plus the hand-written FILES and SEE ALSO sections in packaging/man/.
#
#   make-man.sh BIN_DIR OUT_DIR
set -euo pipefail
(($# == 2)) || { echo "usage: $0 BIN_DIR OUT_DIR" >&2; exit 2; }
bin=$(cd "$1" && pwd)/intent-bus
out=$2
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"

version=$("$bin" version | awk '{print $2}')
# The release's date from CHANGELOG.md, unless SOURCE_DATE_EPOCH says otherwise
# (reproducible builds): the page does not change with the day it is built.
if [[ -n ${SOURCE_DATE_EPOCH:-} ]]; then
    date=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%d)
else
    date=$(sed -n 's/^## [0-9.]* — \([0-9-]*\)$/\1/p' "$here/../CHANGELOG.md" | head -1)
fi

# Text as roff shows it verbatim: backslashes, minus signs and lines that
# would read as requests escaped.
roff_verbatim() {
    sed -e 's/\\/\\e/g' -e 's/-/\\-/g' -e 's/^\./\\\&./' -e "s/^'/\\\\\&'/"
}

# .SH TITLE, then "intent-bus ARGS --help" in a no-fill block.
help_section() {
    local title=$1
    shift
    printf '.SH %s\n.nf\n' "$title"
    "$bin" "$@" --help | roff_verbatim
    printf '.fi\n'
}

help_subsection() {
    printf '.SS %s\n.nf\n' "$*"
    "$bin" "$@" --help | roff_verbatim
    printf '.fi\n'
}

header() { # NAME SECTION TITLE-LINE SUMMARY
    printf '.TH %s %s "%s" "intent-bus %s" "%s"\n' "$(tr a-z A-Z <<<"$1" | sed 's/-/\\-/g')" \
        "$2" "$date" "$version" "$3"
    printf '.SH NAME\n%s \\- %s\n' "${1//-/\\-}" "$4"
}

{
    header intent-bus 1 "User Commands" "publish, claim and run jobs on an Intent Bus"
    printf '.SH SYNOPSIS\n.B intent\\-bus\n.I command\n[\\fIoptions\\fR]\n'
    help_section DESCRIPTION
    printf '.SH COMMANDS\n'
    for command in publish listen result status claim fulfill fail extend set get admin bench; do
        help_subsection "$command"
    done
    cat "$here/man/intent-bus.1.in"
} >"$out/intent-bus.1"

{
    header intent-bus-serve 8 "System Administration" "the Intent Bus server"
    printf '.SH SYNOPSIS\n.B intent\\-bus serve\n[\\fIoptions\\fR]\n.br\n'
    printf '.B intent\\-bus backup\n[\\fB\\-\\-db\\fR \\fIPATH\\fR] \\fIFILE\\fR\n'
    help_section DESCRIPTION serve
    help_section BACKUP backup
    cat "$here/man/intent-bus-serve.8.in"
} >"$out/intent-bus-serve.8"

printf '.so man1/intent-bus.1\n' >"$out/intent-bus-client.1"
