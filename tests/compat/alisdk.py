"""alisdk.py — the compatibility tests' handle on Alibaba Cloud's official Node clients
(@alicloud/pop-core, @alicloud/openapi-core): installs them when tests/compat/node_modules
lacks them, and runs ali.js with a plan."""

from sdkclient import SdkClient, ensure_packages

PACKAGES = ["@alicloud/pop-core", "@alicloud/openapi-core", "@darabonba/typescript"]


def ensure_installed():
    ensure_packages(PACKAGES)


class AliClient(SdkClient):
    """One client configuration: sdk "pop" (@alicloud/pop-core, RPC v1, GET by default) or
    "openapi" (@alicloud/openapi-core callApi, ACS3 by default), plus options of ali.js
    (method, signatureAlgorithm, sourceUrls, version, skewSeconds, fixedNonce)."""

    SCRIPT = "ali.js"
    SECRET_KEYS = ("endpoint", "keyId", "keySecret")

    def __init__(self, port, key_id, key_secret, sdk="pop", **options):
        super().__init__(dict({"sdk": sdk, "endpoint": "127.0.0.1:%d" % port,
                               "keyId": key_id, "keySecret": key_secret}, **options))
