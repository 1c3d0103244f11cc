#!/usr/bin/env node
// tc.js — drives ferryd with Tencent Cloud's official Node SDKs, unchanged. Reads a plan
// (JSON) on stdin, makes its calls, and prints one JSON document with every outcome.
//
// Plan:
//   {"sdk": "v4" | "intl",            tencentcloud-sdk-nodejs | tencentcloud-sdk-nodejs-intl-en
//    "endpoint": "127.0.0.1:PORT", "secretId": "...", "secretKey": "...",
//    "region": "ap-guangzhou",        optional ("" leaves X-TC-Region / Region out)
//    "signMethod": "...",             optional: TC3-HMAC-SHA256, HmacSHA256, HmacSHA1
//    "reqMethod": "GET" | "POST",     optional
//    "version": "2018-08-01",         optional: another version goes through the SDK's
//                                     generic client
//    "skewSeconds": 0,                optional: the client's clock runs this far off
//    "parallel": false,               optional: send every call at once
//    "calls": [{"action": "...", "params": {...}}, ...]}
// Output: {"results": [{"ok": true, "response": {...}} |
//                      {"ok": false, "code", "message", "requestId", "traceId", "httpCode"}],
//          "elapsedMs": N}
"use strict";

// tencentcloud-sdk-nodejs: promise API, TC3 by default.
function v4Caller(plan) {
  // The SDK's per-product entry points: the same classes as require("tencentcloud-sdk-nodejs"),
  // without loading all 260 products.
  const live = require("tencentcloud-sdk-nodejs/tencentcloud/services/live").live;
  const common = require("tencentcloud-sdk-nodejs/tencentcloud/common");
  const profile = {
    httpProfile: { endpoint: plan.endpoint, protocol: "http://", reqTimeout: 30 },
  };
  if (plan.signMethod) profile.signMethod = plan.signMethod;
  if (plan.reqMethod) profile.httpProfile.reqMethod = plan.reqMethod;
  const options = {
    credential: { secretId: plan.secretId, secretKey: plan.secretKey },
    region: plan.region === undefined ? "ap-guangzhou" : plan.region,
    profile,
  };
  if (plan.version && plan.version !== "2018-08-01") {
    const generic = new common.CommonClient(plan.endpoint, plan.version, options);
    return (action, params) => generic.request(action, params);
  }
  const client = new live.v20180801.Client(options);
  return (action, params) =>
    typeof client[action] === "function"
      ? client[action](params)
      : client.request(action, params);
}

// tencentcloud-sdk-nodejs-intl-en: callback API, HmacSHA256 by default.
function intlCaller(plan) {
  const live = require("tencentcloud-sdk-nodejs-intl-en/tencentcloud/live");
  const { Credential, ClientProfile, HttpProfile, AbstractClient } = require(
    "tencentcloud-sdk-nodejs-intl-en/tencentcloud/common");
  const http = new HttpProfile();
  http.endpoint = plan.endpoint;
  http.protocol = "http://";
  http.reqTimeout = 30;
  if (plan.reqMethod) http.reqMethod = plan.reqMethod;
  const profile = new ClientProfile(plan.signMethod, http);
  const cred = new Credential(plan.secretId, plan.secretKey);
  const region = plan.region === undefined ? "ap-guangzhou" : plan.region;
  const anyModel = () => ({ deserialize(p) { Object.assign(this, p); } });
  let client;
  if (plan.version && plan.version !== "2018-08-01") {
    client = new AbstractClient(plan.endpoint, plan.version, cred, region, profile);
  } else {
    client = new live.v20180801.Client(cred, region, profile);
  }
  return (action, params) =>
    new Promise((resolve, reject) => {
      const done = (err, resp) => (err ? reject(err) : resolve(resp));
      if (typeof client[action] === "function") client[action](params, done);
      else client.request(action, params, anyModel(), done); // e.g. the Status action
    });
}

function outcome(p) {
  return p.then(
    (response) => ({ ok: true, response: JSON.parse(JSON.stringify(response)) }),
    (e) => ({
      ok: false,
      code: e.code === undefined ? null : e.code,
      message: e.message || String(e),
      requestId: e.requestId || null,
      traceId: e.traceId || null,
      httpCode: e.httpCode || null,
      name: (e.constructor && e.constructor.name) || e.name || null,
    })
  );
}

const pickCaller = (plan) => (plan.sdk === "intl" ? intlCaller(plan) : v4Caller(plan));
require("./plan").run(pickCaller, outcome);
