#!/usr/bin/env bash
# pg_test.sh — a throw-away PostgreSQL for the tests: initdb and pg_ctl into a directory,
# listening only on 127.0.0.1 on a free port, trust authentication, one database "ferry".
# Usage: eval "$(scripts/pg_test.sh start DIR)"   prints export FERRY_TEST_PG=postgresql://...
#        scripts/pg_test.sh stop DIR              stops it (DIR can then be removed)
#        scripts/pg_test.sh resume DIR            starts a stopped one again, same port
# Needs Debian's postgresql package (the server's programs are not on PATH: they are looked
# up under /usr/lib/postgresql/*/bin). The server refuses to run as root: under root it runs
# as the package's `postgres` user, so DIR must be reachable by that user (a directory of
# its own under /tmp is). Exits non-zero, saying why, when it cannot start one.
set -euo pipefail

cmd="${1:-}"
dir="${2:-}"
if [ -z "$cmd" ] || [ -z "$dir" ]; then
    echo "usage: $0 start|stop DIR" >&2
    exit 2
fi

bindir() {
    local d
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r) \
        "$(dirname "$(command -v pg_ctl 2>/dev/null || echo /nonexistent/pg_ctl)")"; do
        if [ -x "$d/pg_ctl" ] && [ -x "$d/initdb" ] && [ -x "$d/createdb" ]; then
            echo "$d"
            return 0
        fi
    done
    echo "pg_test: no PostgreSQL server programs (initdb, pg_ctl): install postgresql" >&2
    return 1
}

free_port() {
    /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# as_owner COMMAND...: runs a server program as the server's owner.
as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# run_server BIN PORT: starts the server of $dir/data on PORT and waits until it is ready.
# Loopback TCP only; the socket directory is private too. fsync stays on: the tests check
# what an acknowledged write survives.
run_server() {
    as_owner "$1/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
        -o "-c listen_addresses=127.0.0.1 -p $2 -k $dir -c max_connections=200" \
        start >"$dir/pg_ctl.log" 2>&1 || {
        cat "$dir/pg_ctl.log" "$dir/server.log" >&2
        return 1
    }
}

resume() {
    dir="$(cd "$dir" && pwd)"
    run_server "$(bindir)" "$(cat "$dir/port")"
}

start() {
    local bin port user
    bin="$(bindir)"
    mkdir -p "$dir"
    dir="$(cd "$dir" && pwd)"
    user="$(id -un)"
    if [ "$(id -u)" -eq 0 ]; then
        user=postgres
        chown postgres: "$dir"
        if ! runuser -u postgres -- test -w "$dir"; then
            echo "pg_test: the postgres user cannot write $dir (a parent is closed to it)" >&2
            return 1
        fi
    fi
    as_owner "$bin/initdb" -D "$dir/data" -U "$user" --auth=trust -E UTF8 --locale=C.UTF-8 \
        >"$dir/initdb.log" 2>&1 || {
        cat "$dir/initdb.log" >&2
        return 1
    }
    port="$(free_port)"
    echo "$port" >"$dir/port"
    run_server "$bin" "$port" || return 1
    "$bin/createdb" -h 127.0.0.1 -p "$port" -U "$user" ferry || {
        cat "$dir/server.log" >&2
        stop
        return 1
    }
    echo "export FERRY_TEST_PG=postgresql://$user@127.0.0.1:$port/ferry"
}

stop() {
    local bin
    bin="$(bindir)"
    [ -d "$dir/data" ] || return 0
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
}

case "$cmd" in
    start) start ;;
    stop) stop ;;
    resume) resume ;;
    *)
        echo "usage: $0 start|stop|resume DIR" >&2
        exit 2
        ;;
esac
