// Checks the monitor's dashboard in a real headless Chromium (Debian's /usr/bin/chromium), driven by
// tests/tests/dashboard.rs against a monitor that is repairing withheld events:
//   - the REP chart of --type draws at least one point, with its axes labelled;
//   - gap rows were shown while gaps were open, or an auto backfill is shown done with a full bar;
//   - the overall REP score shown reaches 100;
//   - the REP history shows an hour of --type that dropped below 100 and was repaired to 100, with
//     its drop and repair as recorded points, and the chart marks that hour's lowest score;
//   - at a 375 px wide window nothing overflows the page sideways, and the backfill table shows
//     every cell of its rows (state and progress included) within the window;
//   - a backfill request with `from` after `to` shows the API's own error text;
//   - no console error and no uncaught exception (the browser's own log line for that one
//     expected 4xx answer excepted).
//
// Usage: node tests/browser/dashboard.mjs URL --type TYPE [--timeout SECS] [--screenshot FILE]
// CHROMIUM overrides the browser path. Exits 0 when every check passes, 1 when one fails (saying
// which), 2 on bad usage.

import { chromium } from "playwright-core";

function usage(message) {
  console.error(`dashboard.mjs: ${message}`);
  console.error("usage: node tests/browser/dashboard.mjs URL --type TYPE [--timeout SECS] [--screenshot FILE]");
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { url: null, type: null, timeout: 150, screenshot: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => argv[++i] ?? usage(`${a} needs a value`);
    if (a === "--type") opts.type = value();
    else if (a === "--timeout") opts.timeout = Number(value());
    else if (a === "--screenshot") opts.screenshot = value();
    else if (a.startsWith("--")) usage(`unknown option ${a}`);
    else if (opts.url === null) opts.url = a;
    else usage(`unexpected argument ${a}`);
  }
  if (!opts.url) usage("no dashboard URL");
  if (!opts.type) usage("no --type");
  if (!(opts.timeout > 0)) usage("--timeout must be a positive number of seconds");
  return opts;
}

const opts = parseArgs(process.argv.slice(2));
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const sel = (testid, attrs = {}) =>
  `[data-testid="${testid}"]` + Object.entries(attrs).map(([k, v]) => `[data-${k}=${JSON.stringify(v)}]`).join("");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (...a) => console.log("[dashboard]", ...a);

const failures = [];
const consoleErrors = [];
let expectFormError = false;
let formErrorLogs = 0;

const browser = await chromium.launch({ executablePath, headless: true });
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  page.on("console", (m) => {
    if (m.type() !== "error") return;
    // Chromium logs every 4xx answer as an error; the form's rejected request is meant to get one.
    const url = m.location().url || "";
    if (expectFormError && url.endsWith("/api/backfills") && /status of 4\d\d/.test(m.text())) {
      formErrorLogs++;
      return;
    }
    consoleErrors.push(`console error: ${m.text()} (${url})`);
  });
  page.on("pageerror", (e) => consoleErrors.push(`uncaught exception: ${e.message}`));
  page.on("requestfailed", (r) => consoleErrors.push(`request failed: ${r.url()}: ${r.failure()?.errorText}`));

  await page.goto(opts.url, { waitUntil: "load" });
  await page.waitForSelector(sel("backfills-body") + " tr", { timeout: 20_000 });

  // Watch the page until the repair shows, noting what it showed on the way.
  const seen = { gapRows: 0, gapStatuses: new Set(), autoDone: null, rep: null, points: 0, history: null, lows: 0 };
  const deadline = Date.now() + opts.timeout * 1000;
  for (;;) {
    const s = await page.evaluate(
      ({ chartSel, pointSel, type }) => {
        const q = (s) => document.querySelector(`[data-testid="${s}"]`);
        const gapRows = [...document.querySelectorAll('[data-testid="gap-row"]')];
        const auto = [...document.querySelectorAll('[data-testid="backfill-row"][data-origin="auto"]')];
        const full = auto
          .filter((r) => r.dataset.state === "done")
          .map((r) => {
            const bar = r.querySelector('[data-testid="backfill-progress"]');
            const now = Number(bar.getAttribute("aria-valuenow"));
            const max = Number(bar.getAttribute("aria-valuemax"));
            return { id: r.dataset.id, now, max, width: bar.firstElementChild.style.width };
          })
          .filter((b) => b.max > 0 && b.now === b.max && b.width === "100.0%");
        const chart = document.querySelector(chartSel);
        const repaired = [...document.querySelectorAll('[data-testid="history-row"][data-repaired="true"]')]
          .filter((r) => r.dataset.type === type)
          .map((r) => ({
            hour: r.dataset.hour, lowest: Number(r.dataset.lowest), current: Number(r.dataset.current),
            points: [...r.querySelectorAll('[data-testid="history-point"]')].map((p) => Number(p.dataset.score)),
            text: r.textContent,
          }));
        return {
          history: repaired[0] ?? null,
          lows: chart ? chart.querySelectorAll('[data-testid="chart-low"]').length : 0,
          gapRows: gapRows.length,
          gapStatuses: gapRows.map((r) => r.dataset.status),
          autoDone: full[0] ?? null,
          rep: q("overall-rep").textContent.trim(),
          pipeline: q("pipeline").textContent.trim(),
          chart: chart !== null,
          axisLabels: chart ? [...chart.querySelectorAll("text")].map((t) => t.textContent) : [],
          points: chart ? chart.querySelectorAll(pointSel).length : 0,
        };
      },
      { chartSel: sel("rep-chart", { type: opts.type }), pointSel: sel("chart-point"), type: opts.type },
    );
    if (s.gapRows > 0 && seen.gapRows === 0) log(`gap rows shown: ${s.gapRows} (${[...new Set(s.gapStatuses)].join(", ")})`);
    seen.gapRows = Math.max(seen.gapRows, s.gapRows);
    s.gapStatuses.forEach((x) => seen.gapStatuses.add(x));
    if (s.autoDone && !seen.autoDone) log(`auto backfill #${s.autoDone.id} done: ${s.autoDone.now}/${s.autoDone.max} files`);
    seen.autoDone ??= s.autoDone;
    if (s.rep !== seen.rep) log(`overall REP shown: ${s.rep}`);
    seen.rep = s.rep;
    seen.points = s.points;
    seen.chart = s.chart;
    seen.axisLabels = s.axisLabels;
    seen.pipeline = s.pipeline;
    if (s.history && !seen.history) log(`history shows a repaired hour: ${s.history.text}`);
    seen.history = s.history;
    seen.lows = s.lows;
    // Pending gaps do not lower the score yet, so 100 counts only once no gap is left open.
    const open = s.gapStatuses.filter((x) => x !== "unrecoverable").length;
    seen.open = open;
    const repaired = s.rep === "100" && open === 0 && (seen.gapRows > 0 || seen.autoDone);
    if (repaired && s.points > 0 && s.history && s.lows > 0) break;
    if (Date.now() > deadline) break;
    await sleep(250);
  }

  if (!seen.chart) failures.push(`no REP chart for type ${opts.type}`);
  else if (seen.points < 1) failures.push(`the REP chart of ${opts.type} has no point`);
  else if (!seen.axisLabels.includes("hour (UTC)") || !seen.axisLabels.includes("REP %")) {
    failures.push(`the REP chart's axes are not labelled: ${JSON.stringify(seen.axisLabels)}`);
  }
  if (seen.gapRows === 0 && !seen.autoDone) {
    failures.push("never showed a gap row, nor an auto backfill done with a full progress bar");
  }
  if (seen.rep !== "100" || seen.open > 0) {
    failures.push(`after ${opts.timeout} s the overall REP score shown is ${seen.rep} with ${seen.open} gaps open, not 100 with none`);
  }
  const h = seen.history;
  if (!h) failures.push(`the REP history shows no repaired hour of ${opts.type}`);
  else if (!(h.lowest < 100 && h.current === 100 && h.points.length >= 2 && h.points.some((p) => p < 100) && h.points.at(-1) === 100)) {
    failures.push(`the REP history's repaired hour does not show its drop and repair: ${JSON.stringify(h)}`);
  }
  if (seen.lows < 1) failures.push(`the REP chart of ${opts.type} marks no hour's lowest recorded score`);

  // A phone-sized window: nothing wider than the page, and the backfill table readable in place.
  await page.setViewportSize({ width: 375, height: 800 });
  await sleep(300);
  const narrow = await page.evaluate(() => {
    const d = document.documentElement;
    const width = d.clientWidth;
    const rows = [...document.querySelectorAll('[data-testid="backfill-row"]')];
    const outside = rows.flatMap((r) => [...r.children])
      .filter((c) => { const b = c.getBoundingClientRect(); return b.left < -0.5 || b.right > width + 0.5; })
      .map((c) => `${c.dataset.label}: ${c.textContent}`);
    const state = rows[0]?.querySelector('[data-testid="status"]')?.getBoundingClientRect();
    const bar = rows[0]?.querySelector('[data-testid="backfill-progress"]')?.getBoundingClientRect();
    const wrap = document.querySelector('[data-testid="backfills-table"]').parentElement;
    return {
      scrollWidth: d.scrollWidth, clientWidth: width, rows: rows.length, outside,
      wrapHidden: wrap.scrollWidth - wrap.clientWidth,
      stateShown: !!state && state.width > 0 && state.right <= width,
      barShown: !!bar && bar.width > 0 && bar.right <= width,
    };
  });
  log(`at 375 px: page ${narrow.scrollWidth}/${narrow.clientWidth} px wide, ${narrow.rows} backfill rows`);
  if (narrow.scrollWidth > narrow.clientWidth) {
    failures.push(`at 375 px the page overflows sideways: scrollWidth ${narrow.scrollWidth} > clientWidth ${narrow.clientWidth}`);
  }
  if (narrow.rows < 1) failures.push("at 375 px no backfill row is shown");
  if (narrow.outside.length) failures.push(`at 375 px backfill cells lie outside the window: ${narrow.outside.slice(0, 5).join("; ")}`);
  if (narrow.wrapHidden > 1) failures.push(`at 375 px the backfill table hides ${narrow.wrapHidden} px behind a sideways scroll`);
  if (!narrow.stateShown || !narrow.barShown) failures.push(`at 375 px a backfill's state or progress bar is not shown: ${JSON.stringify(narrow)}`);

  // A request with `from` after `to`, still at 375 px: the form shows the API's own error text.
  expectFormError = true;
  await page.fill(sel("backfill-type"), opts.type);
  await page.fill(sel("backfill-from"), "2026-11-27");
  await page.fill(sel("backfill-to"), "2026-11-26");
  const [resp] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith("/api/backfills") && r.request().method() === "POST"),
    page.click(sel("backfill-submit")),
  ]);
  const body = await resp.json().catch(() => null);
  const apiError = body && typeof body.error === "string" ? body.error : null;
  if (resp.status() < 400 || !apiError) {
    failures.push(`the API accepted or garbled a backfill from after to: ${resp.status()} ${JSON.stringify(body)}`);
  } else {
    const msg = page.locator(sel("backfill-form-message", { result: "error" }));
    const shown = await msg
      .waitFor({ timeout: 5_000 })
      .then(() => msg.textContent())
      .catch(() => null);
    if (shown?.trim() !== apiError) failures.push(`the form shows ${JSON.stringify(shown)}, not the API's error ${JSON.stringify(apiError)}`);
    else log(`form error shown: ${shown}`);
  }
  // Let the browser's log line for that answer arrive before judging the console.
  await sleep(500);
  expectFormError = false;

  if (opts.screenshot) await page.screenshot({ path: opts.screenshot, fullPage: true });
  failures.push(...consoleErrors);
  log(
    `pipeline ${seen.pipeline}; ${seen.points} chart points; max gap rows ${seen.gapRows} ` +
      `(${[...seen.gapStatuses].join(", ") || "none"}); auto backfill done: ${seen.autoDone ? `#${seen.autoDone.id}` : "not seen"}; ` +
      `REP ${seen.rep}; repaired hour in the history: ${h ? h.hour : "none"}; expected 4xx log lines ${formErrorLogs}`,
  );
} catch (e) {
  failures.push(`the browser run failed: ${e.stack || e}`);
} finally {
  await browser.close();
}

if (failures.length) {
  console.error(`dashboard checks failed:\n- ${failures.join("\n- ")}`);
  process.exit(1);
}
log("all dashboard checks passed");
