#!/usr/bin/env bash
# run.sh — installs build dependencies, builds ferryd and ferryctl, runs ferryd in the foreground.
# Arguments go to ferryd unchanged (e.g. --listen 127.0.0.1:8480 --data-dir ./var
# --config ferry.conf); without them ferryd uses its embedded defaults.
# Needs only the `run` package set of scripts/deps.sh: the build dir is set up without the
# test programs (-Dtests=disabled, the default). A failing step shows its output and name.
set -euo pipefail
cd "$(dirname "$0")/.."

# quiet WHAT COMMAND...: runs COMMAND with its output kept aside; on failure shows it all.
quiet() {
    local what="$1" log rc=0
    shift
    log="$(mktemp)"
    "$@" >"$log" 2>&1 || rc=$?
    if [ "$rc" -ne 0 ]; then
        cat "$log" >&2
        echo "run.sh: $what failed (exit $rc): $*" >&2
        rm -f "$log"
        exit "$rc"
    fi
    rm -f "$log"
}

bash scripts/deps.sh run || {
    echo "run.sh: the build packages could not be installed (scripts/deps.sh run)" >&2
    exit 1
}
if [ ! -f build/build.ninja ]; then
    quiet "configuring build/" meson setup build --buildtype=debugoptimized
fi
quiet "building ferryd and ferryctl" ninja -C build ferryd ferryctl
# meson puts the binary where its meson.build is: build/ or build/src/
for bin in build/ferryd build/src/ferryd; do
    [ -x "$bin" ] && exec "$bin" "$@"
done
echo "run.sh: ferryd was not built (no build/ferryd or build/src/ferryd)" >&2
exit 1
