// Checks the dashboard's token prompt in a real headless Chromium (Debian's /usr/bin/chromium), driven
// by tests/tests/dashboard.rs against a monitor with [monitor.auth] tokens and reads closed:
//   - the page asks for a token before it shows any data;
//   - a wrong token is refused, with the monitor's reason, and the prompt stays;
//   - an owner of other types sees the data, and the monitor's 403 text when filing for --type;
//   - the admin token, entered through "Change token", files a backfill for --type;
//   - the token is in sessionStorage, never in localStorage;
//   - no console error but the browser's own log lines for the expected 401 and 403 answers.
//
// Usage: node tests/browser/dashboard-auth.mjs URL --type TYPE --wrong TOKEN --owner TOKEN --admin TOKEN
// Prints `filed backfill #ID` for the caller to check. Exits 0 when every check passes, 1 when one
// fails (saying which), 2 on bad usage.

import { chromium } from "playwright-core";

function usage(message) {
  console.error(`dashboard-auth.mjs: ${message}`);
  console.error("usage: node tests/browser/dashboard-auth.mjs URL --type TYPE --wrong TOKEN --owner TOKEN --admin TOKEN");
  process.exit(2);
}

const opts = { url: null, type: null, wrong: null, owner: null, admin: null };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  const key = a.startsWith("--") ? a.slice(2) : null;
  if (key === null) {
    if (opts.url !== null) usage(`unexpected argument ${a}`);
    opts.url = a;
  } else if (key in opts && key !== "url") {
    opts[key] = argv[++i] ?? usage(`${a} needs a value`);
  } else {
    usage(`unknown option ${a}`);
  }
}
for (const [k, v] of Object.entries(opts)) if (!v) usage(`no ${k === "url" ? "dashboard URL" : `--${k}`}`);

const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const sel = (testid, attrs = {}) =>
  `[data-testid="${testid}"]` + Object.entries(attrs).map(([k, v]) => `[data-${k}=${JSON.stringify(v)}]`).join("");
const log = (...a) => console.log("[dashboard-auth]", ...a);
const failures = [];
const consoleErrors = [];
let expected = 0;

const browser = await chromium.launch({ executablePath, headless: true });
try {
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  page.on("console", (m) => {
    if (m.type() !== "error") return;
    // Chromium logs every 4xx answer as an error; 401s and 403s from the API are the point here.
    const url = m.location().url || "";
    if (url.includes("/api/") && /status of 40[13]/.test(m.text())) {
      expected++;
      return;
    }
    consoleErrors.push(`console error: ${m.text()} (${url})`);
  });
  page.on("pageerror", (e) => consoleErrors.push(`uncaught exception: ${e.message}`));

  const check = async (what, fn) => {
    try {
      await fn();
      log(`ok: ${what}`);
    } catch (e) {
      failures.push(`${what}: ${e.message.split("\n")[0]}`);
      throw e;
    }
  };
  const useToken = async (token) => {
    await page.fill(sel("token-input"), token);
    await page.click(sel("token-submit"));
  };
  const fileBackfill = async () => {
    await page.fill(sel("backfill-type"), opts.type);
    await page.fill(sel("backfill-from"), "2020-01-01");
    await page.fill(sel("backfill-to"), "2020-01-02");
    const [resp] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith("/api/backfills") && r.request().method() === "POST"),
      page.click(sel("backfill-submit")),
    ]);
    return resp;
  };

  await page.goto(opts.url, { waitUntil: "load" });
  await check("the page asks for a token before showing data", async () => {
    await page.waitForSelector(sel("token-form"), { state: "visible", timeout: 10_000 });
    const pipeline = (await page.textContent(sel("pipeline"))).trim();
    if (pipeline !== "…") throw new Error(`the pipeline shows ${JSON.stringify(pipeline)} without a token`);
  });
  await check("a wrong token is refused with the monitor's reason", async () => {
    await useToken(opts.wrong);
    await page.waitForSelector(sel("token-message", { result: "refused" }) + ":has-text('unknown bearer token')", {
      timeout: 10_000,
    });
    if (!(await page.isVisible(sel("token-form")))) throw new Error("the prompt went away");
    if (await page.evaluate(() => sessionStorage.length)) throw new Error("the refused token was kept");
  });
  await check("an owner of other types sees the data and the monitor's 403 when filing", async () => {
    await useToken(opts.owner);
    await page.waitForFunction(() => document.querySelector('[data-testid="pipeline"]').textContent.trim() !== "…", null, {
      timeout: 10_000,
    });
    const resp = await fileBackfill();
    const body = await resp.json();
    if (resp.status() !== 403) throw new Error(`answered ${resp.status()} ${JSON.stringify(body)}`);
    const msg = page.locator(sel("backfill-form-message", { result: "error" }));
    await msg.waitFor({ timeout: 5_000 });
    const shown = (await msg.textContent()).trim();
    if (shown !== body.error) throw new Error(`the form shows ${JSON.stringify(shown)}, not ${JSON.stringify(body.error)}`);
  });
  await check("the admin token, entered through Change token, files a backfill", async () => {
    await page.click(sel("token-change"));
    await page.waitForSelector(sel("token-form"), { state: "visible", timeout: 5_000 });
    await useToken(opts.admin);
    await page.waitForSelector(sel("token-form"), { state: "hidden", timeout: 5_000 });
    const resp = await fileBackfill();
    const body = await resp.json();
    if (resp.status() !== 201) throw new Error(`answered ${resp.status()} ${JSON.stringify(body)}`);
    const msg = page.locator(sel("backfill-form-message", { result: "ok" }));
    await msg.waitFor({ timeout: 5_000 });
    log(`filed backfill #${body.id}: ${(await msg.textContent()).trim()}`);
  });
  await check("the token is kept in sessionStorage only", async () => {
    const stored = await page.evaluate(() => ({
      session: Object.values(sessionStorage),
      local: Object.keys(localStorage).length,
    }));
    if (stored.local !== 0) throw new Error(`localStorage holds ${stored.local} entries`);
    if (stored.session.length !== 1 || stored.session[0] !== opts.admin) throw new Error("sessionStorage does not hold the admin token");
  });
  // Let the browser's log lines for the refused answers arrive before judging the console.
  await page.waitForTimeout(500);
} catch (e) {
  if (failures.length === 0) failures.push(`the browser run failed: ${e.stack || e}`);
} finally {
  await browser.close();
}

failures.push(...consoleErrors);
if (failures.length) {
  console.error(`dashboard auth checks failed:\n- ${failures.join("\n- ")}`);
  process.exit(1);
}
log(`all dashboard auth checks passed (${expected} expected 401/403 log lines)`);
