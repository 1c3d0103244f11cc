#!/usr/bin/env bash
# build_ferryd.sh — builds ferryd from a clean tree of a commit (default HEAD) into
# build/bench/ferry-<commit>/, so a benchmark measures exactly that commit even while the
# work tree changes. Prints the binary's path; use it as FERRYD=... for the bench scripts.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
rev="$(git -C "$repo" rev-parse --short "${1:-HEAD}")"
out="$repo/build/bench/ferry-$rev"
if [ ! -x "$out/build/ferryd" ]; then
    rm -rf "$out"
    mkdir -p "$out/src"
    git -C "$repo" archive "$rev" | tar -x -C "$out/src"
    meson setup "$out/build" "$out/src" >/dev/null
    ninja -C "$out/build" ferryd >/dev/null
    [ -x "$out/build/ferryd" ] || cp "$out/build/src/ferryd" "$out/build/ferryd"
    echo "$rev" >"$out/build/FERRY_COMMIT"
fi
echo "$out/build/ferryd"
