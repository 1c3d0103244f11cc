"""test_install.py — `meson install` as an operator runs it: ferryd, ferryctl, the systemd
unit, the example config and the docs land under the prefix; the unit names the installed
paths, has no unknown key and a sandbox systemd rates OK; the installed ferryd starts the
way the unit starts it (--config, --data-dir) with the example config, and stops cleanly."""

import os
import re
import shutil
import signal
import subprocess

import pytest

from harness import default_binary, free_port, stop_process, wait_until

PREFIX = "/usr/local"


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """The install tree (DESTDIR) of the build the tests run."""
    build = os.path.dirname(default_binary())
    if not os.path.isdir(os.path.join(build, "meson-private")):
        pytest.skip("ferryd does not come from a meson build dir: %s" % build)
    dest = str(tmp_path_factory.mktemp("destdir"))
    r = subprocess.run(["meson", "install", "-C", build, "--destdir", dest, "--no-rebuild"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    return dest


def under(root, path):
    return os.path.join(root, path.lstrip("/"))


def unit_text(root):
    return open(under(root, PREFIX + "/lib/systemd/system/ferryd.service")).read()


def test_files_land_under_the_prefix(root):
    for prog in ("ferryd", "ferryctl"):
        path = under(root, PREFIX + "/bin/" + prog)
        assert os.access(path, os.X_OK), path
        r = subprocess.run([path, "--help"], capture_output=True, text=True, timeout=10)
        assert r.returncode == 0 and "usage:" in r.stdout + r.stderr, r
    assert os.path.isfile(under(root, PREFIX + "/etc/ferry/ferry.conf.example"))
    for doc in ("api.md", "ferryctl.md", "security.md"):
        assert os.path.isfile(under(root, PREFIX + "/share/doc/ferry/" + doc)), doc


def test_the_unit_names_the_installed_paths(root):
    text = unit_text(root)
    exec_start = re.search(r"^ExecStart=(\S+) (.*)$", text, re.M)
    assert exec_start and exec_start.group(1) == PREFIX + "/bin/ferryd", text
    assert "--config ${CREDENTIALS_DIRECTORY}/ferry.conf" in exec_start.group(2)
    assert "--data-dir ${STATE_DIRECTORY}" in exec_start.group(2)
    assert re.search(r"^LoadCredential=ferry.conf:%s/etc/ferry/ferry.conf$" % PREFIX, text, re.M)
    for key in ("DynamicUser=yes", "StateDirectory=ferry", "ProtectSystem=strict",
                "NoNewPrivileges=yes", "KillSignal=SIGTERM"):
        assert re.search("^%s$" % re.escape(key), text, re.M), key
    assert "@" not in re.sub(r"SystemCallFilter=.*", "", text), "a placeholder was left"


def test_systemd_reads_every_key_and_rates_the_sandbox_ok(root):
    tool = shutil.which("systemd-analyze")
    assert tool, "systemd-analyze is missing (scripts/deps.sh test installs systemd)"
    unit = under(root, PREFIX + "/lib/systemd/system/ferryd.service")
    r = subprocess.run([tool, "security", "--offline=yes", "--no-pager", unit],
                       capture_output=True, text=True, timeout=60)
    out = r.stdout + r.stderr
    assert "Unknown key" not in out and "Invalid" not in out, out
    m = re.search(r"Overall exposure level for ferryd.service: ([0-9.]+) (\w+)", out)
    assert m, out
    assert float(m.group(1)) <= 2.0 and m.group(2) == "OK", m.group(0)


def test_installed_ferryd_runs_as_the_unit_starts_it(root, tmp_path):
    conf = tmp_path / "ferry.conf"
    port = free_port()
    text = open(under(root, PREFIX + "/etc/ferry/ferry.conf.example")).read()
    conf.write_text(re.sub(r"^listen = .*$", "listen = 127.0.0.1:%d" % port, text, flags=re.M))
    os.chmod(conf, 0o600)
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    proc = subprocess.Popen([under(root, PREFIX + "/bin/ferryd"), "--config", str(conf),
                             "--data-dir", str(state)], stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: subprocess.run(["curl", "-sf", "http://127.0.0.1:%d/healthz" % port],
                                          capture_output=True).returncode == 0, 15,
                   what="installed ferryd healthy")
        assert os.path.exists(state / "ferry.db")
    finally:
        rc = stop_process(proc, signal.SIGTERM, 10)
    log = proc.stderr.read()
    assert rc == 0, log
    assert all(line.startswith("ts=") for line in log.splitlines() if line), log
