/* driver.js — drives ferryd's web console in headless Chromium for tests/e2e/test_console.py:
 * reads one JSON command a line on stdin (open, login, create, edit, wait_row, action,
 * task_page, reveal, remove, storage, screenshot, sign_out, problems), does it as a user would through the page,
 * and writes one JSON answer a line on stdout. */
"use strict";

const readline = require("readline");
const puppeteer = require("puppeteer-core");

const BASE = process.env.CONSOLE_BASE; /* http://127.0.0.1:PORT */
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const WAIT_MS = 20000;

let browser;
let page;
const problems = []; /* page errors, failed requests, CSP violations */

async function start() {
  browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"],
  });
  page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 720 });
  page.on("dialog", (d) => d.accept()); /* Delete asks first: the user says yes */
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error" && !/status of 4\d\d/.test(m.text())) {
      problems.push(`console error: ${m.text()}`);
    }
  });
}

function visible(sel) {
  return page.waitForSelector(`${sel}:not([hidden])`, { timeout: WAIT_MS });
}

async function go(hash) {
  await page.evaluate((h) => { location.hash = h; }, hash);
}

const ops = {
  /* Opens /console (the redirect is followed); the page's own response headers. */
  async open() {
    const resp = await page.goto(`${BASE}/console`, { waitUntil: "networkidle0" });
    const chain = resp.request().redirectChain().map((r) => r.response().status());
    return { status: resp.status(), url: resp.url(), redirects: chain, headers: resp.headers() };
  },

  async login({ token }) {
    await visible("#view-login");
    await page.$eval("#login-token", (i) => { i.value = ""; });
    await page.type("#login-token", token);
    await page.click("#login-form button[type=submit]");
    await page.waitForFunction(() => !document.querySelector("#view-list").hidden ||
      document.querySelector("#login-error").textContent !== "", { timeout: WAIT_MS });
    return {
      signed_in: await page.$eval("#view-list", (v) => !v.hidden),
      error: await page.$eval("#login-error", (e) => e.textContent),
    };
  },

  /* Fills the New task form with fields (strings; source_urls one a line) and submits it. */
  async create({ fields }) {
    await go("#/new");
    await visible("#view-edit");
    for (const [name, value] of Object.entries(fields)) {
      await page.$eval(`#f-${name}`, (i, v) => { i.value = v; }, String(value));
    }
    await page.click("#form-submit");
    await page.waitForFunction(() => location.hash.startsWith("#/task/") ||
      [...document.querySelectorAll(".field-error, #form-error")].some((e) => e.textContent),
    { timeout: WAIT_MS });
    const errors = await page.$$eval(".field-error", (es) => Object.fromEntries(
      es.filter((e) => e.textContent).map((e) => [e.dataset.errorFor, e.textContent])));
    const hash = await page.evaluate(() => location.hash);
    const m = /^#\/task\/(.+)$/.exec(hash);
    return { id: m ? decodeURIComponent(m[1]) : null, errors,
      form_error: await page.$eval("#form-error", (e) => e.textContent) };
  },

  /* Opens the task's Edit form, changes fields and saves; the errors shown, if any. */
  async edit({ id, fields }) {
    await go(`#/edit/${encodeURIComponent(id)}`);
    await visible("#view-edit");
    await page.waitForFunction(() => document.querySelector("#f-destination").value !== "",
      { timeout: WAIT_MS });
    for (const [name, value] of Object.entries(fields)) {
      await page.$eval(`#f-${name}`, (i, v) => { i.value = v; }, String(value));
    }
    await page.click("#form-submit");
    await page.waitForFunction(() => location.hash.startsWith("#/task/") ||
      [...document.querySelectorAll(".field-error, #form-error")].some((e) => e.textContent),
    { timeout: WAIT_MS });
    const errors = await page.$$eval(".field-error", (es) => Object.fromEntries(
      es.filter((e) => e.textContent).map((e) => [e.dataset.errorFor, e.textContent])));
    return { saved: await page.evaluate(() => location.hash.startsWith("#/task/")), errors };
  },

  /* Deletes the task from its page (the confirmation is accepted); back on the list. */
  async remove({ id }) {
    await go(`#/task/${encodeURIComponent(id)}`);
    await visible("#view-task");
    await page.waitForSelector('#view-task [data-action="delete"]:not([disabled])',
      { timeout: WAIT_MS });
    await page.click('#view-task [data-action="delete"]');
    await visible("#view-list");
    await page.waitForFunction((i) => !document.querySelector(`#task-table tr[data-id="${i}"]`),
      { timeout: WAIT_MS }, id);
    return {};
  },

  /* Waits on the task list (polled by the page) until the task's row shows state. */
  async wait_row({ id, state, timeout }) {
    await go("#/");
    await visible("#view-list");
    await page.waitForSelector(`#task-table tr[data-id="${id}"][data-state="${state}"]`,
      { timeout: timeout || WAIT_MS });
    return { cells: await page.$$eval(`#task-table tr[data-id="${id}"] td`,
      (tds) => tds.map((td) => td.textContent)) };
  },

  /* Clicks an action button on the task's page and waits for the state it leads to. */
  async action({ id, action, state }) {
    await go(`#/task/${encodeURIComponent(id)}`);
    await visible("#view-task");
    await page.waitForSelector(`#view-task [data-action="${action}"]:not([disabled])`,
      { timeout: WAIT_MS });
    await page.click(`#view-task [data-action="${action}"]`);
    await page.waitForFunction((s) => document.querySelector("#task-state").textContent === s,
      { timeout: WAIT_MS }, state);
    return { state, error: await page.$eval("#task-error", (e) => e.textContent) };
  },

  /* The task page's tables once history and audit lines are shown. */
  async task_page({ id }) {
    await go(`#/task/${encodeURIComponent(id)}`);
    await visible("#view-task");
    await page.waitForFunction(() =>
      document.querySelectorAll("#history-table tbody tr").length > 0 &&
      document.querySelectorAll("#audit-table tbody tr").length > 0, { timeout: WAIT_MS });
    const rows = (sel) => page.$$eval(`${sel} tbody tr`,
      (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent)));
    return { history: await rows("#history-table"), callbacks: await rows("#callback-table"),
      audit: await rows("#audit-table"),
      fields: await page.$eval("#task-fields", (d) => d.textContent) };
  },

  /* The destination cell of the task's row, masked, then after a click on it. */
  async reveal({ id }) {
    await go("#/");
    const sel = `#task-table tr[data-id="${id}"] td:nth-child(8) .secret`;
    await page.waitForSelector(sel, { timeout: WAIT_MS });
    const before = await page.$eval(sel, (s) => s.textContent);
    await page.$eval(sel, (s) => s.click());
    const after = await page.$eval(sel, (s) => s.textContent);
    await page.$eval(sel, (s) => s.click()); /* masked again for the screenshot */
    return { before, after };
  },

  async storage() {
    const cookies = await page.cookies();
    const st = await page.evaluate(() => ({
      local: Object.fromEntries(Object.entries(localStorage)),
      session: Object.fromEntries(Object.entries(sessionStorage)),
      cookie: document.cookie,
    }));
    return { ...st, cookies };
  },

  /* A picture of the view at hash (after one poll), the top height pixels when given. */
  async screenshot({ path, hash, height }) {
    if (hash) {
      await go(hash);
      await new Promise((r) => setTimeout(r, 2500));
    }
    const clip = height ? { x: 0, y: 0, width: 1280, height } : undefined;
    await page.screenshot({ path, clip });
    return { path };
  },

  async sign_out() {
    await page.click("#sign-out");
    await visible("#view-login");
    return { session: await page.evaluate(() => Object.keys(sessionStorage)) };
  },

  async problems() {
    return { problems };
  },
};

async function main() {
  await start();
  const rl = readline.createInterface({ input: process.stdin });
  for await (const line of rl) {
    if (!line.trim()) {
      continue;
    }
    const cmd = JSON.parse(line);
    let answer;
    try {
      answer = { ok: true, ...(await ops[cmd.op](cmd)) };
    } catch (e) {
      answer = { ok: false, error: String(e && e.stack || e) };
    }
    process.stdout.write(JSON.stringify(answer) + "\n");
  }
  await browser.close();
}

main().catch(async (e) => {
  process.stderr.write(`driver: ${e && e.stack || e}\n`);
  if (browser) {
    await browser.close();
  }
  process.exit(1);
});
