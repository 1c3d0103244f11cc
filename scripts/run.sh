#!/usr/bin/env bash
# run.sh — installs build dependencies, builds ferryd and runs it in the foreground.
# Arguments go to ferryd unchanged (e.g. --listen 127.0.0.1:8480 --data-dir ./var
# --config ferry.conf); without them ferryd uses its embedded defaults.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh run
if [ ! -f build/build.ninja ]; then
    meson setup build --buildtype=debugoptimized >/dev/null
fi
ninja -C build >/dev/null
# meson puts the binary where its meson.build is: build/ or build/src/
for bin in build/ferryd build/src/ferryd; do
    [ -x "$bin" ] && exec "$bin" "$@"
done
echo "run.sh: ferryd was not built" >&2
exit 1
