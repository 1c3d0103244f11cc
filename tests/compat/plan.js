// plan.js — what both SDK drivers (tc.js, ali.js) share: read the plan from stdin, skew the
// client's clock if asked, make the calls (in turn or all at once) and print every outcome.
"use strict";

function skewClock(seconds) {
  if (!seconds) return;
  const RealDate = Date;
  const offset = seconds * 1000;
  class SkewedDate extends RealDate {
    constructor(...args) {
      if (args.length === 0) super(RealDate.now() + offset);
      else super(...args);
    }
    static now() {
      return RealDate.now() + offset;
    }
  }
  global.Date = SkewedDate;
}

// makeCaller(plan) -> (action, params) => Promise; outcome(promise) -> Promise of the
// result object the driver documents. The clock is skewed before the SDK client exists.
async function runPlan(makeCaller, outcome) {
  const plan = JSON.parse(require("fs").readFileSync(0, "utf8"));
  skewClock(plan.skewSeconds || 0);
  const call = makeCaller(plan);
  const one = (c) => outcome(call(c.action, c.params || {}));
  const t0 = process.hrtime.bigint();
  let results;
  if (plan.parallel) {
    results = await Promise.all(plan.calls.map(one));
  } else {
    results = [];
    for (const c of plan.calls) results.push(await one(c));
  }
  const elapsedMs = Number(process.hrtime.bigint() - t0) / 1e6;
  process.stdout.write(JSON.stringify({ results, elapsedMs }) + "\n");
}

function run(makeCaller, outcome) {
  runPlan(makeCaller, outcome).catch((e) => {
    process.stderr.write(String((e && e.stack) || e) + "\n");
    process.exit(1);
  });
}

module.exports = { run };
