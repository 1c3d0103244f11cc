"""alisdk.py — the compatibility tests' handle on Alibaba Cloud's official Node clients
(@alicloud/pop-core, @alicloud/openapi-core): installs them (npm ci) when
tests/compat/node_modules lacks them, and runs ali.js with a plan of calls."""

import json
import os
import subprocess
import threading

SDK_DIR = os.path.dirname(os.path.abspath(__file__))
PACKAGES = ["@alicloud/pop-core", "@alicloud/openapi-core", "@darabonba/typescript"]
_install_lock = threading.Lock()


def ensure_installed():
    """npm ci in tests/compat unless the Alibaba clients are there; the lock file pins them."""
    with _install_lock:
        if all(os.path.isdir(os.path.join(SDK_DIR, "node_modules", p)) for p in PACKAGES):
            return
        r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=SDK_DIR,
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            raise RuntimeError("npm ci in tests/compat failed:\n" + r.stdout[-2000:] +
                               r.stderr[-4000:])


class AliClient:
    """One client configuration: sdk "pop" (@alicloud/pop-core, RPC v1, GET by default) or
    "openapi" (@alicloud/openapi-core callApi, ACS3 by default), plus options of ali.js
    (method, signatureAlgorithm, sourceUrls, version, skewSeconds, fixedNonce)."""

    def __init__(self, port, key_id, key_secret, sdk="pop", **options):
        self.plan = {"sdk": sdk, "endpoint": "127.0.0.1:%d" % port, "keyId": key_id,
                     "keySecret": key_secret}
        self.plan.update(options)

    def with_(self, **options):
        c = AliClient.__new__(AliClient)
        c.plan = dict(self.plan, **options)
        return c

    def __repr__(self):
        opts = {k: v for k, v in self.plan.items()
                if k not in ("endpoint", "keyId", "keySecret")}
        return "AliClient(%s)" % opts

    def run(self, calls, parallel=False, timeout=120):
        """Runs [(action, params), ...]; returns (results, elapsed ms in node)."""
        plan = dict(self.plan, parallel=parallel,
                    calls=[{"action": a, "params": p or {}} for a, p in calls])
        r = subprocess.run(["node", os.path.join(SDK_DIR, "ali.js")], input=json.dumps(plan),
                           capture_output=True, text=True, timeout=timeout, cwd=SDK_DIR)
        if r.returncode != 0:
            raise RuntimeError("ali.js failed (%d): %s" % (r.returncode, r.stderr[-3000:]))
        doc = json.loads(r.stdout)
        return doc["results"], doc["elapsedMs"]

    def call(self, action, params=None):
        """One call; the outcome dict of ali.js."""
        return self.run([(action, params)])[0][0]

    def ok(self, action, params=None):
        """One call that must succeed; its response body."""
        r = self.call(action, params)
        assert r["ok"], "%r %s failed: %s" % (self, action, r)
        return r["response"]

    def error(self, action, params=None):
        """One call that must fail with an API error; the outcome (code, data, ...)."""
        r = self.call(action, params)
        assert not r["ok"], "%r %s succeeded: %s" % (self, action, r)
        return r
