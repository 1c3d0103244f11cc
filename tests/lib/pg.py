"""pg.py — the PostgreSQL server of the tests ($FERRY_TEST_PG, started by scripts/test.sh or
scripts/pg_test.sh): psql on it, and a fresh database per test, dropped afterwards; and a
private server of a test's own, which it may stop (pg_ctl stop -m fast) and start again."""

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from urllib.parse import urlsplit, urlunsplit

PG_URL = os.environ.get("FERRY_TEST_PG", "")


def psql_binary():
    found = shutil.which("psql")
    if found:
        return found
    for d in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.access(os.path.join(d, "psql"), os.X_OK):
            return os.path.join(d, "psql")
    return None


def unavailable():
    """Why no test database can be made, or None when it can."""
    if not PG_URL:
        return ("FERRY_TEST_PG is not set: no PostgreSQL to run ferryd on "
                "(scripts/test.sh starts one and sets it)")
    if not psql_binary():
        return "no psql program (Debian's postgresql-client)"
    return None


def psql(url, sql):
    """Runs sql on url with psql; returns its rows as lists of strings."""
    out = subprocess.run([psql_binary(), url, "-v", "ON_ERROR_STOP=1", "-Atc", sql],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, "psql %r: %s" % (sql, out.stderr)
    return [line.split("|") for line in out.stdout.splitlines() if line]


@contextlib.contextmanager
def fresh_database():
    """A new empty database on the server of $FERRY_TEST_PG; yields its URL."""
    name = "ferry_e2e_" + uuid.uuid4().hex[:12]
    psql(PG_URL, "CREATE DATABASE " + name)
    try:
        yield urlunsplit(urlsplit(PG_URL)._replace(path="/" + name))
    finally:
        psql(PG_URL, "DROP DATABASE IF EXISTS %s WITH (FORCE)" % name)


PG_TEST_SH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts",
                          "pg_test.sh")


class PrivateServer:
    """A PostgreSQL server of one test (scripts/pg_test.sh in a directory of its own under
    the system's temporary directory, which the server's user can reach when the tests run
    as root): url, stop() (fast shutdown: every connection ends), resume() (same port)."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="ferry-pg-")
        out = self._run("start")
        self.url = out.strip().rsplit("=", 1)[1]
        self.down = False

    def _run(self, cmd):
        out = subprocess.run(["bash", PG_TEST_SH, cmd, self.dir], capture_output=True,
                             text=True, timeout=60)
        assert out.returncode == 0, "pg_test.sh %s: %s" % (cmd, out.stderr)
        return out.stdout

    def stop(self):
        """Fast shutdown; returns the time it was down."""
        self._run("stop")
        self.down = True
        return time.time()

    def resume(self):
        """Starts it again and waits until it accepts connections; returns the time."""
        self._run("resume")
        self.down = False
        return time.time()

    def close(self):
        self._run("stop")
        shutil.rmtree(self.dir, ignore_errors=True)
