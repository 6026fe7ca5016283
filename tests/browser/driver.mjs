// A line-oriented driver of the system Chromium for the Rust end-to-end tests
// (hvscope-testkit's `browser` module). Reads one JSON command per line on stdin, answers one
// JSON line on stdout: {"ok":true,"value":…} or {"ok":false,"error":"…"}. Uses playwright-core
// (pinned in package.json) with `executablePath`: no browser is downloaded.
//
// Commands: {"op":"launch","executable":PATH,"ignore_https_errors":BOOL}
//           {"op":"goto","url":URL}  {"op":"fill","selector":S,"value":V}  {"op":"click","selector":S}
//           {"op":"wait","expr":JS,"timeout_ms":N}  (until the page expression is truthy; its value)
//           {"op":"eval","expr":JS}  {"op":"screenshot","path":P,"full_page":BOOL}  {"op":"close"}
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

let browser = null;
let page = null;
const console_lines = [];

async function run(cmd) {
  switch (cmd.op) {
    case "launch": {
      browser = await chromium.launch({
        executablePath: cmd.executable,
        headless: true,
        args: ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
      });
      const context = await browser.newContext({
        ignoreHTTPSErrors: Boolean(cmd.ignore_https_errors),
        viewport: { width: 1400, height: 1000 },
      });
      page = await context.newPage();
      page.on("console", (m) => console_lines.push(m.type() + ": " + m.text()));
      page.on("pageerror", (e) => console_lines.push("pageerror: " + e.message));
      return browser.version();
    }
    case "goto": {
      const r = await page.goto(cmd.url, { waitUntil: "load", timeout: 20000 });
      return r ? r.status() : null;
    }
    case "fill":
      await page.fill(cmd.selector, cmd.value, { timeout: 10000 });
      return null;
    case "click":
      await page.click(cmd.selector, { timeout: 10000 });
      return null;
    case "wait": {
      // Polled with page.evaluate (not waitForFunction, whose string predicates the page's
      // CSP refuses as eval).
      const deadline = Date.now() + (cmd.timeout_ms || 10000);
      let last;
      for (;;) {
        try { last = await page.evaluate(cmd.expr); } catch (e) { last = "error: " + e.message; }
        if (last && !(typeof last === "string" && last.startsWith("error: "))) return last;
        if (Date.now() > deadline) throw new Error("timed out waiting for " + cmd.expr + " (last: " + JSON.stringify(last) + ")");
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    case "eval":
      return await page.evaluate(cmd.expr);
    case "screenshot":
      await page.screenshot({ path: cmd.path, fullPage: cmd.full_page !== false });
      return cmd.path;
    case "console":
      return console_lines.slice();
    case "close":
      if (browser) await browser.close();
      browser = null;
      return null;
    default:
      throw new Error("unknown op " + cmd.op);
  }
}

const rl = createInterface({ input: process.stdin });
for await (const line of rl) {
  if (!line.trim()) continue;
  let out;
  try {
    const cmd = JSON.parse(line);
    out = { ok: true, value: (await run(cmd)) ?? null };
  } catch (e) {
    out = { ok: false, error: String(e && e.message ? e.message : e), console: console_lines.slice(-20) };
  }
  process.stdout.write(JSON.stringify(out) + "\n");
}
if (browser) await browser.close();
