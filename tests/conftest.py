"""conftest.py — fixtures shared by the end-to-end suite (tests/e2e) and the cloud SDK
compatibility suite (tests/compat): a private nginx-rtmp, ffmpeg publishers, ffprobe
viewers and a ferryd with two accounts, all on 127.0.0.1 with ports picked at run time.
ferryd comes from $FERRYD (default build/ferryd); its stderr is checked for sanitizer
reports when each test ends. The process wrappers live in tests/lib/harness.py.
With FERRY_E2E_STORE=postgresql every ferryd runs on a fresh database of $FERRY_TEST_PG's
server instead of the embedded store (the whole suite on the PostgreSQL backend)."""

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))

from harness import Api, Ferryd, NginxRtmp, Publisher, Viewer, tail  # noqa: E402
import pg  # noqa: E402

ALICE_TOKEN = "alice-e2e-token-0123456789"
BOB_TOKEN = "bob-e2e-token-9876543210"
# Tencent Cloud API 3.0 key pairs (SecretId, SecretKey) of the same accounts.
ALICE_TC = ("AKIDalice0e2e0000000000000000000000", "alice-tc-secret-key-0123456789")
BOB_TC = ("AKIDbob00e2e0000000000000000000000", "bob-tc-secret-key-9876543210")
# Alibaba Cloud key pairs (AccessKeyId, AccessKeySecret). alice may send 200 requests per
# second to each action so that batches of calls never throttle; bob has the default 10.
# alice is the installation's operator too (she may drain a node); bob is only a tenant.
ALICE_ALI = ("LTAIalice0e2e00000000", "alice-ali-secret-0123456789")
BOB_ALI = ("LTAIbob00e2e000000000", "bob-ali-secret-9876543210")
ACCOUNTS = {
    "alice": {"token": ALICE_TOKEN, "tc_secret_id": ALICE_TC[0], "tc_secret_key": ALICE_TC[1],
              "tc_app_id": "1250000001", "ali_access_key_id": ALICE_ALI[0],
              "ali_access_key_secret": ALICE_ALI[1], "ali_qps": 200, "operator": "true"},
    "bob": {"token": BOB_TOKEN, "tc_secret_id": BOB_TC[0], "tc_secret_key": BOB_TC[1],
            "tc_app_id": "1250000002", "ali_access_key_id": BOB_ALI[0],
            "ali_access_key_secret": BOB_ALI[1]},
}

# Limits that keep the tests short: a source silent for 3 s counts as failed (1 s when a
# backup or pad can take over, which is then tried every second), and retries may come
# every second.
FERRYD_SETTINGS = {
    "retry_interval_min": 1,
    "stall_timeout": 3,
    "failover_timeout": 1,
    "main_recheck_interval": 1,
    "connect_timeout": 5,
}

_metrics = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def pytest_terminal_summary(terminalreporter):
    if _metrics:
        terminalreporter.section("ferry measurements")
        for test, name, value in _metrics:
            terminalreporter.write_line("%-48s %-28s %s" % (test, name, value))


@pytest.fixture
def metric(request):
    """metric(name, value): a measurement shown in the run's summary."""
    def record(name, value):
        if isinstance(value, float):
            value = "%.3f" % value
        _metrics.append((request.node.name, name, value))
    return record


@pytest.fixture
def nginx(tmp_path):
    server = NginxRtmp(str(tmp_path / "nginx")).start()
    yield server
    server.stop()


@pytest.fixture
def publisher(nginx, tmp_path):
    """publisher(name): starts an ffmpeg pushing a test stream to src/<name>."""
    started = []

    def make(name="cam"):
        p = Publisher(nginx.url("src", name), str(tmp_path / ("publisher-%s.log" % name)))
        started.append(p.start())
        return p

    yield make
    for p in started:
        p.kill()


@pytest.fixture
def viewer(nginx, tmp_path):
    """viewer(app, name): a long-running ffprobe playing app/name."""
    started = []

    def make(app="dst", name="out"):
        v = Viewer(nginx.url(app, name), str(tmp_path / ("viewer-%s-%s.log" % (app, name))))
        started.append(v.start())
        return v

    yield make
    for v in started:
        v.stop()


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "ferryd_settings(**keys): config keys the ferryd fixture adds to or "
        "changes in FERRYD_SETTINGS for this test")


@pytest.fixture
def suite_store():
    """The store every ferryd of the suite uses: {} (the embedded one), or with
    FERRY_E2E_STORE=postgresql {"store": URL} of a fresh database."""
    if os.environ.get("FERRY_E2E_STORE", "sqlite") != "postgresql":
        yield {}
        return
    why = pg.unavailable()
    if why:
        pytest.fail("FERRY_E2E_STORE=postgresql: " + why, pytrace=False)
    with pg.fresh_database() as url:
        yield {"store": url}



@pytest.fixture
def pg_url():
    """A fresh database on the server of $FERRY_TEST_PG, dropped afterwards; the test is
    skipped, saying why, when no server is there (scripts/test.sh always starts one)."""
    why = pg.unavailable()
    if why:
        pytest.skip(why)
    with pg.fresh_database() as url:
        yield url

@pytest.fixture
def ferryd_settings(request, suite_store):
    """The config the ferryd fixture starts with: FERRYD_SETTINGS, changed by the test's
    ferryd_settings marker (e.g. a longer stall_timeout or a small file cache)."""
    mark = request.node.get_closest_marker("ferryd_settings")
    return dict(FERRYD_SETTINGS, **suite_store, **(mark.kwargs if mark else {}))


@pytest.fixture
def ferryd(tmp_path, request, ferryd_settings):
    d = Ferryd(str(tmp_path / "ferryd"), ACCOUNTS, ferryd_settings)
    d.start()
    yield d
    problems = []
    if d.running():
        rc, took = d.terminate()
        if rc != 0:
            problems.append("ferryd did not exit 0 on SIGTERM at teardown (exit %s after "
                            "%.1fs)" % (rc, took))
    problems += ["sanitizer report in ferryd stderr:\n" + r for r in d.sanitizer_reports()]
    failed = getattr(request.node, "rep_call", None)
    if problems or (failed is not None and failed.failed):
        for p in d.stderr_paths:
            print("---- %s (last lines)\n%s" % (os.path.basename(p), tail(p, 80)))
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture
def api(ferryd):
    """The native API as alice."""
    return Api(ferryd.port, ALICE_TOKEN)


@pytest.fixture
def bob(ferryd):
    """The native API as bob."""
    return Api(ferryd.port, BOB_TOKEN)

