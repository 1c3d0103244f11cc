"""sdkclient.py — what the compatibility tests' handles on the official Node SDKs share:
npm ci in tests/compat when packages are missing, and running a driver script (tc.js,
ali.js) with a JSON plan of calls whose outcomes come back as JSON."""

import json
import os
import subprocess
import threading

SDK_DIR = os.path.dirname(os.path.abspath(__file__))
_install_lock = threading.Lock()


def ensure_packages(packages):
    """npm ci in tests/compat unless every package is in node_modules; the lock file pins
    the versions."""
    with _install_lock:
        if all(os.path.isdir(os.path.join(SDK_DIR, "node_modules", p)) for p in packages):
            return
        r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=SDK_DIR,
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            raise RuntimeError("npm ci in tests/compat failed:\n" + r.stdout[-2000:] +
                               r.stderr[-4000:])


class SdkClient:
    """One client configuration (a plan for the driver SCRIPT). Subclasses name the
    script and which plan keys are secrets (left out of repr)."""

    SCRIPT = None
    SECRET_KEYS = ()

    def __init__(self, plan):
        self.plan = plan

    def with_(self, **options):
        c = self.__class__.__new__(self.__class__)
        c.plan = dict(self.plan, **options)
        return c

    def __repr__(self):
        opts = {k: v for k, v in self.plan.items() if k not in self.SECRET_KEYS}
        return "%s(%s)" % (self.__class__.__name__, opts)

    def run(self, calls, parallel=False, timeout=120):
        """Runs [(action, params), ...]; returns (results, elapsed ms in node)."""
        plan = dict(self.plan, parallel=parallel,
                    calls=[{"action": a, "params": p or {}} for a, p in calls])
        r = subprocess.run(["node", os.path.join(SDK_DIR, self.SCRIPT)], input=json.dumps(plan),
                           capture_output=True, text=True, timeout=timeout, cwd=SDK_DIR)
        if r.returncode != 0:
            raise RuntimeError("%s failed (%d): %s" % (self.SCRIPT, r.returncode,
                                                       r.stderr[-3000:]))
        doc = json.loads(r.stdout)
        return doc["results"], doc["elapsedMs"]

    def call(self, action, params=None):
        """One call; the outcome dict of the driver."""
        return self.run([(action, params)])[0][0]

    def ok(self, action, params=None):
        """One call that must succeed; its response body."""
        r = self.call(action, params)
        assert r["ok"], "%r %s failed: %s" % (self, action, r)
        return r["response"]

    def error(self, action, params=None):
        """One call that must fail with an API error; the outcome (code, message, ...)."""
        r = self.call(action, params)
        assert not r["ok"], "%r %s succeeded: %s" % (self, action, r)
        return r
