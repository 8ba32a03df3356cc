// SPDX-License-Identifier: LGPL-2.1-or-later
// Drives the dashboard in headless Chromium (Debian's, through
// playwright-core: no browser is downloaded) for t_dashboard.sh.
//
//   node browser.cjs MODULES URL TOKEN STEP...
//
// MODULES is the build's dashboard/node_modules.  Steps, in order:
//   list:NAME[,NAME...]  log in, wait until the page lists each NAME and the
//                        first one's created event
//   stop:NAME            click NAME's stop button, wait until the page shows it stopped
//   badlogin             log in with a wrong token: the page must stay the login form
//   console:NAME         open NAME's console, type a command and see its output
//                        (the shell computes it: the echo of the keys alone does
//                        not match), see the shell's `stty size` be the
//                        terminal's, its text in xterm's colours, close it
// Prints one line per step ("ok STEP ..."); exits non-zero with the reason
// on the first failure.
"use strict";
const path = require("path");

const [modules, url, token, ...steps] = process.argv.slice(2);
const { chromium } = require(path.join(modules, "playwright-core"));
const TIMEOUT = Number(process.env.DASH_TIMEOUT_MS || 20000);

async function login(page, tok) {
  const r = await page.goto(url);
  if (r.status() !== 401) throw new Error(`GET / without the cookie: ${r.status()}, not 401`);
  await page.fill("#token", tok);
  await Promise.all([page.waitForLoadState("load"), page.click("button[type=submit]")]);
}

async function main() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    // root runs the tests; Chromium's sandbox refuses root
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
  try {
    const page = await browser.newPage();
    page.setDefaultTimeout(TIMEOUT);
    const errors = [];
    page.on("pageerror", (e) => errors.push(`${e}`));
    // what the page asks of the API must work (the login's 401 is expected)
    page.on("response", (r) => {
      if (new URL(r.url()).pathname.startsWith("/v1/") && r.status() >= 400)
        errors.push(`${r.request().method()} ${r.url()}: ${r.status()}`);
    });
    let loggedIn = false;
    try {
      await run();
    } catch (e) {
      // what the page said: its status line and what went wrong in it
      const said = await page.locator("#status").textContent().catch(() => null);
      throw new Error(`${e.message}${said ? ` (page status: ${said})` : ""}${errors.length ? ` (page errors: ${errors.join("; ")})` : ""}`);
    }
    async function run() {
      for (const step of steps) {
        const [what, arg] = step.split(/:(.*)/s);
        if (what === "badlogin") {
          const ctx = await browser.newContext();
          const p = await ctx.newPage();
          p.setDefaultTimeout(TIMEOUT);
          await login(p, `${token}x`);
          if (!(await p.locator("#token").count())) throw new Error("a wrong token was let in");
          const r = await p.request.get(new URL("/v1/instances", url).href);
          if (r.status() !== 401) throw new Error(`GET /v1/instances after a wrong login: ${r.status()}`);
          await ctx.close();
          console.log("ok badlogin");
          continue;
        }
        if (!loggedIn) {
          await login(page, token);
          loggedIn = true;
        }
        if (what === "list") {
          for (const name of arg.split(",")) await page.waitForSelector(`#instances tr[data-name="${name}"]`);
          const rows = await page.$$eval("#instances tbody tr", (trs) =>
            trs.map((tr) => `${tr.dataset.name}=${tr.dataset.state}`));
          // the recent events are shown too
          await page.waitForSelector(`#events li:has-text("${arg.split(",")[0]} created")`);
          console.log(`ok list ${rows.join(" ")}`);
        } else if (what === "stop") {
          const row = `#instances tr[data-name="${arg}"]`;
          await page.waitForSelector(`${row}[data-state="running"] button[data-action="stop"]:not([disabled])`);
          await page.click(`${row} button[data-action="stop"]`);
          await page.waitForSelector(`${row}[data-state="stopped"]`);
          console.log(`ok stop ${arg}`);
        } else if (what === "console") {
          const row = `#instances tr[data-name="${arg}"]`;
          await page.waitForSelector(`${row}[data-state="running"] button[data-console]:not([disabled])`);
          await page.click(`${row} button[data-console]`);
          await page.waitForSelector('#term[data-state="open"]');
          const screen = () => page.$eval("#term .xterm-rows", (e) => e.textContent || "");
          const until = async (what, ok) => {
            const deadline = Date.now() + TIMEOUT;
            for (;;) {
              const text = await screen();
          // DASH_SHOT=FILE: how the terminal looks, for a person to check
          if (process.env.DASH_SHOT) await page.screenshot({ path: process.env.DASH_SHOT, fullPage: true });
              if (ok(text)) return text;
              if (Date.now() > deadline) throw new Error(`console of ${arg}: no ${what} on the screen: ${JSON.stringify(text)}`);
              await page.waitForTimeout(100);
            }
          };
          await page.click("#term");
          // a fresh line first: the prompt may have scrolled out before the attach
          await page.keyboard.press("Enter");
          await page.keyboard.type("echo hello$((6*7))");
          await page.keyboard.press("Enter");
          await until("hello42", (t) => t.includes("hello42"));
          const size = await page.$eval("#term", (e) => `${e.dataset.rows} ${e.dataset.cols}`);
          await page.keyboard.type("stty size; echo size-$((1+1))");
          await page.keyboard.press("Enter");
          await until("size-2", (t) => t.includes("size-2"));
          const text = await screen();
          if (!text.includes(size)) throw new Error(`console of ${arg}: stty size is not the terminal's ${size}: ${JSON.stringify(text)}`);
          // xterm.js's own rules apply under the page's CSP: its text is
          // drawn in the terminal's colour, not the page's
          const color = await page.$eval("#term .xterm-rows", (e) => getComputedStyle(e).color);
          if (color !== "rgb(255, 255, 255)") throw new Error(`console of ${arg}: the terminal's text is ${color}, not xterm's white: its styles were not applied`);
          await page.click("#console-close");
          await page.waitForSelector("#console", { state: "hidden" });
          console.log(`ok console ${arg} hello42 size ${size}`);
        } else throw new Error(`unknown step ${step}`);
      }
    }
    if (errors.length) throw new Error(`errors in the page: ${errors.join("; ")}`);
  } finally {
    await browser.close();
  }
}

main().catch((e) => {
  console.error(`browser: ${e.message || e}`);
  process.exit(1);
});
