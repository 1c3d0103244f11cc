#!/usr/bin/env bash
# test.sh — the whole test run: dependencies, a check that scripts/run.sh needs only the run
# packages, a normal build with unit, end-to-end and cloud SDK compatibility tests, then an
# AddressSanitizer/UBSan build with the same tests again, then the libFuzzer targets built
# with clang and run briefly from their seed corpora.
# Exits non-zero if any step fails; every step runs even after an earlier failure
# (unless the build it needs failed) so one run shows every problem.
set -uo pipefail
cd "$(dirname "$0")/.."

PYTHON=/usr/bin/python3 # Debian's python3 carries python3-pytest; a pyenv one may not
LOGDIR="$(mktemp -d "${TMPDIR:-/tmp}/ferry-test.XXXXXX")"
PGDIR="" # the PostgreSQL test server's directory, once started
trap 'if [ -n "$PGDIR" ]; then bash scripts/pg_test.sh stop "$PGDIR"; rm -rf "$PGDIR"; fi
      rm -rf "$LOGDIR"' EXIT

failed_steps=()
tests_passed=0
tests_failed=0

step() { printf '\n=== %s ===\n' "$*"; }

# Adds the counts of a meson test log ("Ok: N" / "Fail: N" / "Timeout: N" lines).
count_meson() {
    local ok fail
    ok="$(sed -n 's/^Ok:[[:space:]]*\([0-9]\+\).*/\1/p' "$1" | tail -n1)"
    fail="$(sed -n 's/^\(Fail\|Timeout\|Unexpected Pass\):[[:space:]]*\([0-9]\+\).*/\2/p' "$1" |
        awk '{s += $1} END {print s + 0}')"
    tests_passed=$((tests_passed + ${ok:-0}))
    tests_failed=$((tests_failed + ${fail:-0}))
}

# Adds the counts of pytest's closing line ("== 3 failed, 20 passed in 80s ==").
count_pytest() {
    local line p f e
    line="$(grep -E '^=+ .*(passed|failed|error|no tests ran).* in [0-9.]+s' "$1" | tail -n1)"
    p="$(grep -oE '[0-9]+ passed' <<<"$line" | grep -oE '[0-9]+')"
    f="$(grep -oE '[0-9]+ failed' <<<"$line" | grep -oE '[0-9]+')"
    e="$(grep -oE '[0-9]+ errors?' <<<"$line" | grep -oE '[0-9]+')"
    tests_passed=$((tests_passed + ${p:-0}))
    tests_failed=$((tests_failed + ${f:-0} + ${e:-0}))
}

# build DIR [meson setup options...]: configures DIR with the test programs enabled (an
# existing DIR is reconfigured, so a dir made by run.sh or an older checkout gets the
# options too), then builds it.
build() {
    local dir="$1"
    shift
    step "build $dir"
    if [ -f "$dir/build.ninja" ]; then
        meson setup --reconfigure "$dir" -Dtests=enabled "$@" || return 1
    else
        meson setup "$dir" -Dtests=enabled "$@" || return 1
    fi
    ninja -C "$dir"
}

# run_packages: proves that scripts/run.sh needs only the `run` package set. A scratch dir
# set up as run.sh does it (tests disabled) must not look up cmocka; every pkg-config
# dependency meson looks up there must come from a package of `scripts/deps.sh --list run`;
# and ferryd and ferryctl must build in it. Counts as one test.
run_packages() {
    local dir="$LOGDIR/run-build" log="$LOGDIR/run-build.log" problems=() name pc pkg
    step "scripts/run.sh needs only the run packages"
    local mlog="$dir/meson-logs/meson-log.txt" run_set
    run_set="$(bash scripts/deps.sh --list run)"
    if ! meson setup "$dir" --buildtype=debugoptimized >"$log" 2>&1; then
        cat "$log"
        problems+=("meson setup failed with the tests disabled")
    elif grep -qi cmocka "$mlog"; then
        grep -i cmocka "$mlog"
        problems+=("meson looked up cmocka with the tests disabled")
    fi
    local names
    names="$(sed -n "s/^Determining dependency '\([^']*\)' with pkg-config.*/\1/p" \
        "$mlog" 2>/dev/null | sort -u)"
    [ -n "$names" ] || problems+=("no pkg-config lookup found in $mlog")
    for name in $names; do
        pc="$(pkg-config --variable=pcfiledir "$name" 2>/dev/null)/$name.pc"
        pkg="$(dpkg -S "$pc" 2>/dev/null | head -n1 | cut -d: -f1)"
        if [ -z "$pkg" ] || ! grep -qx "$pkg" <<<"$run_set"; then
            problems+=("dependency $name comes from ${pkg:-no package} ($pc), not from the run set")
        else
            echo "dependency $name: package $pkg (run set)"
        fi
    done
    if [ -f "$dir/build.ninja" ] && ! ninja -C "$dir" ferryd ferryctl >>"$log" 2>&1; then
        tail -n 30 "$log"
        problems+=("ferryd or ferryctl does not build in a dir without the tests")
    fi
    if [ "${#problems[@]}" -eq 0 ]; then
        echo "ok: configured and built ferryd and ferryctl with the run package set only"
        tests_passed=$((tests_passed + 1))
        return 0
    fi
    printf 'FAIL: %s\n' "${problems[@]}"
    tests_failed=$((tests_failed + 1))
    return 1
}

# unit DIR: the cmocka suite.
unit() {
    local dir="$1" log="$LOGDIR/unit-$1.log"
    step "unit tests ($dir)"
    meson test -C "$dir" --suite unit --print-errorlogs --num-processes 2 2>&1 | tee "$log"
    local rc=${PIPESTATUS[0]}
    count_meson "$log"
    return "$rc"
}

# e2e FERRYD [long]: the pytest suites against that binary: end to end (tests/e2e) and
# through the official cloud SDKs (tests/compat), in one run that shares tests/conftest.py;
# "long" adds the slow real-time cases (FERRY_LONG). Exit 5 (nothing ran) is a failure too.
e2e() {
    local bin="$1" log="$LOGDIR/e2e-${1//\//_}.log"
    step "end-to-end and SDK compatibility tests (FERRYD=$bin)"
    FERRY_LONG="${2:+1}" FERRYD="$bin" \
        "$PYTHON" -m pytest tests/e2e tests/compat -v -ra -p no:cacheprovider 2>&1 | tee "$log"
    local rc=${PIPESTATUS[0]}
    count_pytest "$log"
    if [ "$rc" -eq 5 ]; then
        echo "e2e: no tests ran"
    fi
    return "$rc"
}

# fuzz DIR NAME: runs tests/fuzz/fuzz_NAME for FUZZ_SECONDS from the seeds in
# tests/fuzz/corpus_NAME (new inputs go to a scratch corpus, so the seeds stay as they are).
# A crash, leak, sanitizer report or slow input fails it and leaves the input in DIR.
FUZZ_SECONDS="${FUZZ_SECONDS:-30}"
fuzz() {
    local dir="$1" name="$2" log="$LOGDIR/fuzz-$2.log" work="$LOGDIR/corpus-$2"
    step "fuzz_$name (${FUZZ_SECONDS}s)"
    mkdir -p "$work"
    "$dir/tests/fuzz/fuzz_$name" -max_total_time="$FUZZ_SECONDS" -rss_limit_mb=2048 -timeout=10 \
        -print_final_stats=1 -artifact_prefix="$dir/" "$work" "tests/fuzz/corpus_$name" \
        >"$log" 2>&1
    local rc=$?
    tail -n 25 "$log"
    if [ "$rc" -eq 0 ]; then
        tests_passed=$((tests_passed + 1))
    else
        tests_failed=$((tests_failed + 1))
        echo "fuzz_$name failed (exit $rc); the input that failed is in $dir/"
    fi
    return "$rc"
}

# ferryd_in DIR: the binary in a build dir (meson puts it in DIR/ or DIR/src/).
ferryd_in() {
    if [ -x "$1/ferryd" ]; then echo "$1/ferryd"; else echo "$1/src/ferryd"; fi
}

record() { # record NAME RC
    if [ "$2" -ne 0 ]; then
        failed_steps+=("$1 (exit $2)")
    fi
}

# layers: scripts/layers.py, one check: no include in src/ points up a layer or sideways,
# only interface headers cross parts, no include cycle (the rules: docs/ARCHITECTURE.md).
# --self-test first proves on temporary trees that each rule fails on a bad include.
layers() {
    step "include layers"
    "$PYTHON" scripts/layers.py --self-test --quiet
    local rc=$?
    if [ "$rc" -eq 0 ]; then
        tests_passed=$((tests_passed + 1))
    else
        tests_failed=$((tests_failed + 1))
    fi
    return "$rc"
}

step "dependencies"
bash scripts/deps.sh test || {
    echo "dependencies could not be installed" >&2
    exit 1
}

# start_postgres: a throw-away PostgreSQL (scripts/pg_test.sh: loopback only, a free port, its own
# directory, stopped at exit) whose URL, in FERRY_TEST_PG, runs the store's unit cases on
# PostgreSQL too and ferryd on it in tests/e2e/test_pg_store.py and test_cluster.py (three
# nodes sharing it). Not starting is a failure:
# those tests would only skip. The directory is its own, not under LOGDIR: run as root, the
# server runs as the postgres user, which must reach it.
start_postgres() {
    local env
    step "PostgreSQL for the store tests"
    PGDIR="$(mktemp -d "${TMPDIR:-/tmp}/ferry-pg.XXXXXX")" || return 1
    env="$(bash scripts/pg_test.sh start "$PGDIR")" || return 1
    eval "$env"
    echo "FERRY_TEST_PG=$FERRY_TEST_PG"
}
start_postgres
record "PostgreSQL test server" $?

# The include layers of the sources: no build needed.
layers
record "include layers" $?
run_packages
record "run package set" $?

# Normal build: what users run.
if build build --buildtype=debugoptimized; then
    unit build
    record "unit tests" $?
    e2e "$(ferryd_in build)" long
    record "e2e and compat tests" $?
else
    record "build" 1
fi

# Sanitizer build: the same tests with ASan and UBSan; any report fails the run.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
if build build-asan -Db_sanitize=address,undefined -Db_lundef=false --buildtype=debug; then
    unit build-asan
    record "unit tests (asan)" $?
    e2e "$(ferryd_in build-asan)"
    record "e2e and compat tests (asan)" $?
else
    record "build (asan)" 1
fi

# Fuzzing: clang with libFuzzer, ASan and UBSan over the project's own sources; only the
# fuzz targets are built there.
step "build build-fuzz (clang, libFuzzer)"
if { [ -f build-fuzz/build.ninja ] ||
    CC=clang meson setup build-fuzz -Dfuzz=true -Db_sanitize=address,undefined \
        -Db_lundef=false --buildtype=debugoptimized; } &&
    ninja -C build-fuzz tests/fuzz/fuzz_tc tests/fuzz/fuzz_ali tests/fuzz/fuzz_rtmp; then
    fuzz build-fuzz tc
    record "fuzz_tc" $?
    fuzz build-fuzz ali
    record "fuzz_ali" $?
    fuzz build-fuzz rtmp
    record "fuzz_rtmp" $?
else
    record "build (fuzz)" 1
fi

echo
if [ "${#failed_steps[@]}" -ne 0 ]; then
    printf 'FAILED: %s\n' "${failed_steps[@]}"
fi
echo "total: $tests_passed passed, $tests_failed failed"
[ "${#failed_steps[@]}" -eq 0 ]
