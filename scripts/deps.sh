#!/usr/bin/env bash
# deps.sh — installs the Debian 12 packages ferry needs, only those that are missing.
# Usage: scripts/deps.sh run    build dependencies only
#        scripts/deps.sh test   build dependencies plus what the tests use
#        scripts/deps.sh bench  the test set plus the benchmarks' load and trace tools
#        scripts/deps.sh --list SET   prints that set's packages, one a line, and installs nothing
# Idempotent and silent when everything is already installed; a failed install shows apt's output.
set -euo pipefail

list=0
if [ "${1:-}" = --list ]; then
    list=1
    shift
fi
mode="${1:-run}"

build_pkgs=(gcc meson ninja-build pkg-config
            libavformat-dev libavcodec-dev libavutil-dev libswscale-dev
            libmicrohttpd-dev libjansson-dev libcurl4-openssl-dev libssl-dev libsqlite3-dev
            libpq-dev) # the PostgreSQL store (store = postgresql://...; runtime: libpq5)
test_pkgs=(libcmocka-dev nginx libnginx-mod-rtmp ffmpeg python3-pytest curl
           libnginx-mod-stream openssl # RTMPS tests: TLS in front of nginx-rtmp
           clang libclang-rt-14-dev # clang and its runtime: the libFuzzer targets
           # RTSP source tests: a GStreamer RTSP server from Python (tests/lib/rtsp_server.py)
           # with test sources (base), RTP payloaders (good), x264enc (ugly), avenc_aac (libav)
           python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base
           gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly gstreamer1.0-libav
           prometheus # promtool: `promtool check metrics` on /metrics (tests/e2e/test_metrics.py)
           systemd # systemd-analyze: the installed unit's keys and sandbox (test_install.py)
           chromium # the web console test: headless Chromium driven by puppeteer-core (tests/console)
           postgresql) # a throw-away server for the store's PostgreSQL cases (scripts/pg_test.sh)
bench_pkgs=(wrk strace) # the API load (bench/api.py) and system call counts (bench/syscalls.py)

case "$mode" in
    run) wanted=("${build_pkgs[@]}") ;;
    test) wanted=("${build_pkgs[@]}" "${test_pkgs[@]}") ;;
    bench) wanted=("${build_pkgs[@]}" "${test_pkgs[@]}" "${bench_pkgs[@]}") ;;
    *)
        echo "usage: $0 [--list] run|test|bench" >&2
        exit 2
        ;;
esac
if [ "$list" -eq 1 ]; then
    printf '%s\n' "${wanted[@]}"
    exit 0
fi

missing=()
for pkg in "${wanted[@]}"; do
    status="$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)"
    if [ "$status" != "install ok installed" ]; then
        missing+=("$pkg")
    fi
done
# The cloud SDK tests run the official SDKs on Node.js. A machine may already carry node
# and npm from another Debian repository; only when the commands are absent do we ask for
# Debian's own packages.
if [ "$mode" != run ] && ! { command -v node && command -v npm; } >/dev/null 2>&1; then
    missing+=(nodejs npm)
fi

[ "${#missing[@]}" -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}"
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        sudo_cmd=(sudo)
    else
        echo "deps: missing packages and not root: ${missing[*]}" >&2
        exit 1
    fi
fi
# Packages such as nginx start their system service on install; the tests run their own
# private servers, so keep services down while installing (the usual policy-rc.d hook).
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo_cmd[@]}" tee "$policy" >/dev/null
    "${sudo_cmd[@]}" chmod 755 "$policy"
    trap '"${sudo_cmd[@]}" rm -f "$policy"' EXIT
fi
# apt's output is kept aside and shown only when a step fails, with the step's name.
out="$(mktemp)"
quiet() { # quiet WHAT COMMAND...
    local what="$1" rc=0
    shift
    "$@" >"$out" 2>&1 || rc=$?
    if [ "$rc" -ne 0 ]; then
        cat "$out" >&2
        echo "deps: $what failed (exit $rc)" >&2
        rm -f "$out"
        exit "$rc"
    fi
}
quiet "apt-get update" "${sudo_cmd[@]}" apt-get update -qq
quiet "installing ${missing[*]}" "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
rm -f "$out"
echo "deps: done"
