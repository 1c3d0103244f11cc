#!/usr/bin/env node
// ali.js — drives ferryd with Alibaba Cloud's official Node clients, unchanged. Reads a plan
// (JSON) on stdin, makes its calls, and prints one JSON document with every outcome.
//
// Plan:
//   {"sdk": "pop" | "openapi",       @alicloud/pop-core (RPC v1) | @alicloud/openapi-core
//    "endpoint": "127.0.0.1:PORT", "keyId": "...", "keySecret": "...",
//    "method": "GET" | "POST",       optional; pop-core: GET (its default); openapi-core: as
//                                    the generated live client (POST Create, GET the others)
//    "signatureAlgorithm": "v2",     optional, openapi-core: RPC v1 instead of ACS3
//    "sourceUrls": "json" | "array", how a SourceUrls array is sent: one JSON string (the
//                                    documented way, default) or the client's own array
//                                    encoding (SourceUrls.1..N)
//    "version": "2016-11-01",        optional
//    "skewSeconds": 0,               optional: the client's clock runs this far off
//    "fixedNonce": "...",            optional: every call signs with this nonce (a replay)
//    "parallel": false,              optional: send every call at once
//    "calls": [{"action": "...", "params": {...}}, ...]}
// Output: {"results": [{"ok": true, "response": {...}, "statusCode": N} |
//                      {"ok": false, "code", "message", "requestId", "statusCode", "name",
//                       "data"}], "elapsedMs": N}
"use strict";

const path = require("path");

function encodeParams(plan, params) {
  const out = Object.assign({}, params);
  if (Array.isArray(out.SourceUrls) && plan.sourceUrls !== "array")
    out.SourceUrls = JSON.stringify(out.SourceUrls);
  return out;
}

// @alicloud/pop-core: generic RPC client, HMAC-SHA1 signature v1.
function popCaller(plan) {
  const RPCClient = require("@alicloud/pop-core").RPCClient;
  if (plan.fixedNonce) {
    const popDir = path.dirname(require.resolve("@alicloud/pop-core/package.json"));
    require(require.resolve("kitx", { paths: [popDir] })).makeNonce = () => plan.fixedNonce;
  }
  const client = new RPCClient({
    accessKeyId: plan.keyId,
    accessKeySecret: plan.keySecret,
    endpoint: "http://" + plan.endpoint,
    apiVersion: plan.version || "2016-11-01",
    opts: { timeout: 30000 },
  });
  const method = plan.method || "GET";
  return (action, params) =>
    client.request(action, encodeParams(plan, params), { method, timeout: 30000 })
      .then((response) => ({ response }));
}

// @alicloud/openapi-core: callApi as the generated live20161101 client makes it.
function openapiCaller(plan) {
  const core = require("@alicloud/openapi-core");
  const { RuntimeOptions } = require("@darabonba/typescript");
  const { $OpenApiUtil, OpenApiUtil } = core;
  if (plan.fixedNonce) {
    require("@alicloud/openapi-core/dist/utils").default.getNonce = () => plan.fixedNonce;
  }
  const config = new $OpenApiUtil.Config({
    accessKeyId: plan.keyId,
    accessKeySecret: plan.keySecret,
    endpoint: plan.endpoint,
    protocol: "http",
    regionId: "cn-shanghai",
    readTimeout: 30000,
    connectTimeout: 10000,
  });
  if (plan.signatureAlgorithm) config.signatureAlgorithm = plan.signatureAlgorithm;
  const client = new core.default(config);
  return (action, params) => {
    const p = new $OpenApiUtil.Params({
      action,
      version: plan.version || "2016-11-01",
      protocol: "HTTPS",
      pathname: "/",
      method: plan.method || (action === "CreateLivePullToPush" ? "POST" : "GET"),
      authType: "AK",
      style: "RPC",
      reqBodyType: "formData",
      bodyType: "json",
    });
    const req = new $OpenApiUtil.OpenApiRequest({
      query: OpenApiUtil.query(encodeParams(plan, params)),
    });
    return client.callApi(p, req, new RuntimeOptions({}))
      .then((r) => ({ response: r.body, statusCode: r.statusCode }));
  };
}

function outcome(p) {
  return p.then(
    (r) => ({ ok: true, response: JSON.parse(JSON.stringify(r.response)),
              statusCode: r.statusCode || null }),
    (e) => ({
      ok: false,
      code: e.code === undefined ? null : e.code,
      message: e.message || String(e),
      requestId: e.requestId || (e.data && e.data.RequestId) || null,
      statusCode: e.statusCode || null,
      name: e.name || (e.constructor && e.constructor.name) || null,
      data: e.data === undefined ? null : e.data,
    })
  );
}

const pickCaller = (plan) => (plan.sdk === "openapi" ? openapiCaller(plan) : popCaller(plan));
require("./plan").run(pickCaller, outcome);
