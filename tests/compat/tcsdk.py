"""tcsdk.py — the compatibility tests' handle on Tencent Cloud's official Node SDKs:
installs them when tests/compat/node_modules lacks them, and runs tc.js with a plan."""

from sdkclient import SdkClient, ensure_packages

PACKAGES = ["tencentcloud-sdk-nodejs", "tencentcloud-sdk-nodejs-intl-en"]


def ensure_installed():
    ensure_packages(PACKAGES)


class TcClient(SdkClient):
    """One SDK client configuration: sdk "v4" (tencentcloud-sdk-nodejs, TC3 by default) or
    "intl" (tencentcloud-sdk-nodejs-intl-en, HmacSHA256 by default), plus options of tc.js
    (signMethod, reqMethod, region, version, skewSeconds)."""

    SCRIPT = "tc.js"
    SECRET_KEYS = ("endpoint", "secretId", "secretKey")

    def __init__(self, port, secret_id, secret_key, sdk="v4", **options):
        super().__init__(dict({"sdk": sdk, "endpoint": "127.0.0.1:%d" % port,
                               "secretId": secret_id, "secretKey": secret_key}, **options))
