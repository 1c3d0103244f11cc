"""tcsdk.py — the compatibility tests' handle on Tencent Cloud's official Node SDKs:
installs them (npm ci) when tests/compat/node_modules is missing, and runs tc.js with a
plan of calls."""

import json
import os
import subprocess
import threading

SDK_DIR = os.path.dirname(os.path.abspath(__file__))
_install_lock = threading.Lock()


def ensure_installed():
    """npm ci in tests/compat unless node_modules is there; the lock file pins the versions."""
    with _install_lock:
        if os.path.isdir(os.path.join(SDK_DIR, "node_modules", "tencentcloud-sdk-nodejs")) and \
                os.path.isdir(os.path.join(SDK_DIR, "node_modules",
                                           "tencentcloud-sdk-nodejs-intl-en")):
            return
        r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=SDK_DIR,
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            raise RuntimeError("npm ci in tests/compat failed:\n" + r.stdout[-2000:] +
                               r.stderr[-4000:])


class TcClient:
    """One SDK client configuration: sdk "v4" (tencentcloud-sdk-nodejs, TC3 by default) or
    "intl" (tencentcloud-sdk-nodejs-intl-en, HmacSHA256 by default), plus options of tc.js
    (signMethod, reqMethod, region, version, skewSeconds)."""

    def __init__(self, port, secret_id, secret_key, sdk="v4", **options):
        self.plan = {"sdk": sdk, "endpoint": "127.0.0.1:%d" % port, "secretId": secret_id,
                     "secretKey": secret_key}
        self.plan.update(options)

    def with_(self, **options):
        c = TcClient.__new__(TcClient)
        c.plan = dict(self.plan, **options)
        return c

    def run(self, calls, parallel=False, timeout=120):
        """Runs [(action, params), ...]; returns (results, elapsed ms in node)."""
        plan = dict(self.plan, parallel=parallel,
                    calls=[{"action": a, "params": p or {}} for a, p in calls])
        r = subprocess.run(["node", os.path.join(SDK_DIR, "tc.js")], input=json.dumps(plan),
                           capture_output=True, text=True, timeout=timeout, cwd=SDK_DIR)
        if r.returncode != 0:
            raise RuntimeError("tc.js failed (%d): %s" % (r.returncode, r.stderr[-3000:]))
        doc = json.loads(r.stdout)
        return doc["results"], doc["elapsedMs"]

    def call(self, action, params=None):
        """One call; the outcome dict of tc.js."""
        return self.run([(action, params)])[0][0]

    def ok(self, action, params=None):
        """One call that must succeed; its Response."""
        r = self.call(action, params)
        assert r["ok"], "%s %s failed: %s" % (self.plan["sdk"], action, r)
        return r["response"]

    def error(self, action, params=None):
        """One call that must fail with an API error; the outcome (code, message, ...)."""
        r = self.call(action, params)
        assert not r["ok"], "%s %s succeeded: %s" % (self.plan["sdk"], action, r)
        return r
