# The checks of run.sh, one function per thing an operator relies on.
# Sourced; run.sh sets $repo and $work and cleans up.

step() { echo "== package-test: $*"; }
fail() {
    echo "package-test: FAILED: $*" >&2
    exit 1
}

unit=/lib/systemd/system/intent-bus.service
defaults=/etc/default/intent-bus
state=/var/lib/intent-bus
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)

check_files() {
    local file
    for file in /usr/bin/intent-bus /usr/bin/intent-bus-client; do
        [[ -x $file ]] || fail "$file is not installed"
    done
    for file in "$unit" "$defaults" /usr/share/man/man1/intent-bus.1.gz \
        /usr/share/man/man1/intent-bus-client.1.gz /usr/share/man/man8/intent-bus-serve.8.gz \
        /usr/share/bash-completion/completions/intent-bus \
        /usr/share/zsh/vendor-completions/_intent-bus \
        /usr/share/doc/intent-bus/copyright /usr/share/doc/libintentbus1/copyright \
        /usr/share/doc/libintentbus-dev/copyright /usr/include/intentbus.h \
        "/usr/lib/$multiarch/libintentbus.so.1" "/usr/lib/$multiarch/libintentbus.so" \
        "/usr/lib/$multiarch/libintentbus.a" "/usr/lib/$multiarch/pkgconfig/intentbus.pc"; do
        [[ -e $file ]] || fail "$file is not installed"
    done
    [[ $(stat -c %a:%U "$defaults") == 600:root ]] ||
        fail "$defaults is $(stat -c %a:%U "$defaults"), not 600:root (it holds secrets)"
    [[ $(dpkg-query -W -f='${Conffiles}' intent-bus) == *"$defaults "* ]] ||
        fail "$defaults is not a conffile"
    [[ $(dpkg-query -W -f='${Version}' intent-bus) == "$(/usr/bin/intent-bus version |
        awk '{print $2}')-"* ]] || fail "the package's version is not the binary's"
    # Secrets go in the defaults file, never in the unit.
    ! grep -Eq '^Environment=.*(SECRET|PASSWORD|TOKEN)' "$unit" || fail "the unit holds a secret"
}

check_user() {
    local entry
    entry=$(getent passwd intent-bus) || fail "no intent-bus user"
    IFS=: read -r _ _ uid gid _ home shell <<<"$entry"
    ((uid < 1000)) || fail "intent-bus is not a system user (uid $uid)"
    [[ $home == "$state" ]] || fail "intent-bus's home is $home"
    [[ $shell == */nologin ]] || fail "intent-bus can log in ($shell)"
    [[ $(getent group intent-bus | cut -d: -f3) == "$gid" ]] || fail "no intent-bus group"
    [[ $(stat -c %U:%G:%a "$state") == intent-bus:intent-bus:750 ]] ||
        fail "$state is $(stat -c %U:%G:%a "$state")"
}

check_unit() {
    systemd-analyze verify "$unit" >"$work/verify.log" 2>&1 ||
        { cat "$work/verify.log" >&2; fail "systemd-analyze verify"; }
    # Offline: systemd is not PID 1 on every CI machine.
    systemd-analyze security --offline=true --no-pager "$unit" >"$work/security.log" 2>&1 ||
        true # it exits non-zero above a threshold; the verdict is read below
    local verdict
    verdict=$(grep -o 'Overall exposure level for intent-bus.service: [0-9.]* [A-Z]*' \
        "$work/security.log") || { cat "$work/security.log" >&2; fail "no security verdict"; }
    echo "   $verdict"
    [[ $verdict == *" OK" || $verdict == *" SAFE" ]] || fail "$verdict (wanted OK or better)"
    local setting
    for setting in User=intent-bus StateDirectory=intent-bus ProtectSystem=strict \
        ProtectHome=yes NoNewPrivileges=yes PrivateTmp=yes Restart=on-failure Type=exec \
        'SystemCallFilter=@system-service' 'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX'; do
        grep -qxF "$setting" "$unit" || fail "the unit lacks $setting"
    done
}

check_man_pages() {
    local page
    for page in /usr/share/man/man1/intent-bus.1.gz /usr/share/man/man8/intent-bus-serve.8.gz; do
        MANWIDTH=80 man --warnings -l "$page" >"$work/page.txt" 2>"$work/man.err" ||
            fail "man -l $page failed"
        [[ ! -s $work/man.err ]] || { cat "$work/man.err" >&2; fail "man warns about $page"; }
        grep -q 'SEE ALSO' "$work/page.txt" || fail "$page does not render"
    done
    # The pages are --help: every setting serve documents is in its page.
    MANWIDTH=200 man -l /usr/share/man/man8/intent-bus-serve.8.gz >"$work/serve.txt"
    local name
    for name in $(/usr/bin/intent-bus serve --help | grep -oE '\b(BUS|DASHBOARD)_[A-Z_]+' | sort -u); do
        grep -q "$name" "$work/serve.txt" || fail "intent-bus-serve(8) lacks $name"
    done
    MANWIDTH=80 man -M /usr/share/man intent-bus-client 2>/dev/null | grep -q 'intent-bus publish' ||
        fail "intent-bus-client(1) does not lead to intent-bus(1)"
}

check_completion() {
    bash -c 'set -e
        source /usr/share/bash-completion/completions/intent-bus
        complete -p intent-bus >/dev/null
        COMP_WORDS=(intent-bus pub); COMP_CWORD=1; _intent_bus
        [[ ${COMPREPLY[*]} == publish ]]
        COMP_WORDS=(intent-bus serve --po); COMP_CWORD=2; _intent_bus
        [[ ${COMPREPLY[*]} == --port ]]' 2>"$work/completion.err" ||
        { cat "$work/completion.err" >&2; fail "bash completion"; }
    [[ ! -s $work/completion.err ]] || { cat "$work/completion.err" >&2; fail "bash completion warns"; }
    if command -v zsh >/dev/null; then
        zsh -n /usr/share/zsh/vendor-completions/_intent-bus || fail "zsh completion does not parse"
    fi
}

check_library() {
    cat >"$1/consumer.c" <<'C'
#include <intentbus.h>
#include <stdio.h>
#include <string.h>
int main(void)
{
    struct ib_options options;
    ib_options_init(&options);
    options.base_url = "http://127.0.0.1:1";
    struct ib_client *client = ib_client_new(&options);
    if (client == NULL || strcmp(ib_strerror(IB_OK), "") == 0)
        return 1;
    ib_client_free(client);
    puts(IB_VERSION);
    return 0;
}
C
    # shellcheck disable=SC2046 # pkg-config's output is meant to be split
    cc -std=c17 -Wall -Werror -o "$1/consumer" "$1/consumer.c" $(pkg-config --cflags --libs intentbus) ||
        fail "cannot build against the installed libintentbus-dev"
    local linked
    linked=$(ldd "$1/consumer")
    [[ $linked == *"lib/$multiarch/libintentbus.so.1 ("* ]] || fail "consumer does not load libintentbus.so.1"
    [[ $("$1/consumer") == "$(pkg-config --modversion intentbus)" ]] || fail "IB_VERSION is not the .pc's"
}

free_port() {
    /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

port_in_use() {
    ! /usr/bin/python3 -c "import socket, sys; s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('127.0.0.1', $1))" 2>/dev/null
}

# Starts ExecStart of the installed unit as its user, in its working
# directory, with its Environment= lines and then /etc/default/intent-bus
# (the order systemd applies them), as systemd would without the sandbox.
# When 8080 is taken on this machine, another loopback port is appended
# (the last --port wins); the default itself is checked first.
start_packaged_server() {
    local environment exec_start
    environment=$(sed -n 's/^Environment=//p' "$unit")
    exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
    [[ $exec_start == '/usr/bin/intent-bus serve $INTENT_BUS_OPTS' ]] || fail "ExecStart is $exec_start"
    local opts
    opts=$(env -i bash -c "set -a; $environment; . $defaults; echo \"\$INTENT_BUS_OPTS\"")
    [[ $opts == "--bind 127.0.0.1 --port 8080" ]] || fail "the default options are '$opts'"
    port=8080
    local extra=""
    if port_in_use 8080; then
        port=$(free_port)
        extra="--port $port"
        echo "   8080 is taken here: serving on 127.0.0.1:$port instead"
    fi
    env -i PATH=/usr/bin:/bin bash -c "set -a; $environment; . $defaults; set +a
        cd $state && exec setpriv --reuid=intent-bus --regid=intent-bus --init-groups \
            --no-new-privs $exec_start $extra" >"$1/server.log" 2>&1 &
    server_pid=$!
    local tries
    for tries in $(seq 100); do
        curl -sf "http://127.0.0.1:$port/health" >/dev/null && break
        kill -0 "$server_pid" 2>/dev/null || { cat "$1/server.log" >&2; fail "the server exited"; }
        sleep 0.1
    done
    curl -sf "http://127.0.0.1:$port/health" >/dev/null || { cat "$1/server.log" >&2; fail "no /health"; }
    grep -q "listening on http://127.0.0.1:$port (database $state/infrastructure.db" "$1/server.log" ||
        { cat "$1/server.log" >&2; fail "not serving its database under $state"; }
    [[ $(stat -c %U:%a "$state/infrastructure.db.secret") == intent-bus:600 ]] ||
        fail "the generated key is not intent-bus's alone"
    [[ $(stat -c %U "/proc/$server_pid") == intent-bus ]] || fail "the server does not run as intent-bus"
}

stop_packaged_server() {
    kill -TERM "$server_pid"
    local status=0
    wait "$server_pid" || status=$?
    server_pid=""
    ((status == 0)) || fail "the server exited with $status on SIGTERM"
}

# The README's "Try it with curl" blocks, verbatim but for the port, run as
# the README says: from the directory holding the database and its key.
# Block 1 is the tour, block 3 a long-poll claim, block 4 a schedule; block 2
# fails "$ID" with "$TOKEN", so a job of its own is claimed for it first
# (block 1's is fulfilled by then).
run_readme_recipes() {
    sed -n '/^## Try it with curl/,/^## /p' "$repo/README.md" |
        awk '/^```sh$/ {n++; inside = 1; next} /^```$/ {inside = 0; next}
             inside {print > (dir "/block" n ".sh")}' dir="$1"
    [[ -s $1/block1.sh && -s $1/block2.sh && -s $1/block3.sh && -s $1/block4.sh &&
        ! -e $1/block5.sh ]] ||
        fail "the README's curl section changed shape (four sh blocks expected)"
    grep -q '^BUS=http://127.0.0.1:8080$' "$1/block1.sh" || fail "the README's BUS= line changed"
    {
        sed "s|^BUS=http://127.0.0.1:8080\$|BUS=http://127.0.0.1:$port|" "$1/block1.sh"
        echo 'echo "== block 3"'
        cat "$1/block3.sh"
        echo 'echo "== block 4"'
        cat "$1/block4.sh"
        echo 'echo "== block 2"'
        grep -E '^(CLAIM|ID|TOKEN)=' "$1/block1.sh" | sed '1i curl -s -X POST $BUS/intent -H "X-API-KEY: $KEY" -d '"'"'{"goal":"send_notification","payload":{}}'"'"
        cat "$1/block2.sh"
    } >"$1/recipes.sh"
    (cd "$state" && bash -e "$1/recipes.sh") >"$1/recipes.out" 2>&1 ||
        { cat "$1/recipes.out" >&2; fail "the README's recipes failed"; }
    if grep -q '"error":{' "$1/recipes.out"; then
        cat "$1/recipes.out" >&2
        fail "a README recipe got an error"
    fi
    grep -q '"result":"done"' "$1/recipes.out" || fail "the tour's job was not fulfilled"
    grep -q '"value":"active"' "$1/recipes.out" || fail "the tour's KV value was not read back"
    sed -n '/^== block 3$/,/^== block 4$/p' "$1/recipes.out" | grep -q '"claim_token"' ||
        fail "the long-poll claim got no job"
    sed -n '/^== block 4$/,/^== block 2$/p' "$1/recipes.out" | grep -q '"next_runs"' ||
        fail "the schedule was not made"
    sed -n '/^== block 2$/,$p' "$1/recipes.out" | tail -1 | grep -q '"status":"open"' ||
        fail "the failed job is not open for a retry"
}

check_packaged_backup() {
    local copy=$state/package-test-backup.db
    env -i PATH=/usr/bin:/bin bash -c "set -a; . $defaults; set +a; cd $state && \
        setpriv --reuid=intent-bus --regid=intent-bus --init-groups intent-bus backup $copy" \
        >"$work/backup.log" 2>&1 || { cat "$work/backup.log" >&2; fail "intent-bus backup"; }
    [[ $(/usr/bin/python3 -c "import sqlite3, sys
print(sqlite3.connect(sys.argv[1]).execute(\"SELECT count(*) FROM intents WHERE goal = 'send_notification'\").fetchone()[0])" "$copy") -ge 2 ]] ||
        fail "the backup lacks the recipes' jobs"
    rm -f "$copy"
}

check_purged() {
    ! getent passwd intent-bus >/dev/null || fail "purge left the intent-bus user"
    ! getent group intent-bus >/dev/null || fail "purge left the intent-bus group"
    [[ ! -e $defaults && ! -e $unit && ! -e /usr/bin/intent-bus ]] || fail "purge left files"
    [[ -s $state/infrastructure.db ]] || fail "purge deleted the data (it must stay unless asked)"
}

# The container's runtime stage installs the libraries by hand: every one the
# package depends on (dpkg-shlibdeps' list) must be there.
check_dockerfile_libraries() {
    local depends package
    depends=$(dpkg-query -W -f='${Depends}' intent-bus)
    for package in $(tr ',' '\n' <<<"$depends" | awk '{print $1}'); do
        [[ $package == adduser || $package == libc6 ]] && continue
        grep -qw -- "$package" "$repo/deploy/Dockerfile" ||
            fail "deploy/Dockerfile's runtime stage lacks $package (the package depends on it)"
    done
}
