// What the browser scripts share: loading playwright-core and axe-core from the test's
// node_modules, recording Content-Security-Policy violations, auditing a page with axe-core
// (and a screenshot), signing in with an access token, and waiting for something to arrive.
import { createRequire } from "node:module";
import fs from "node:fs";
import path from "node:path";

const require = createRequire(path.join(process.env.NODE_MODULES, "noop.js"));
export const { chromium } = require("playwright-core");
const axeSource = fs.readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");

export const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

// The helpers for one script, writing into its `result` ({ pages, violations, steps }).
export function helpers({ base, shots, result }) {
  // Anything the page's Content-Security-Policy blocks (an inline script, a style, a frame) is a
  // violation like axe's: the app must work within its own policy.
  function watch(page) {
    page.on("console", (message) => {
      if (message.text().includes("Content Security Policy")) {
        result.violations.push({ page: page.url(), id: "content-security-policy", impact: "serious", nodes: [message.text()] });
      }
    });
    return page;
  }

  // A screenshot and axe-core's WCAG 2.1 A/AA checks; with `fits`, a page wider than its
  // screen is a violation too.
  async function audit(page, name, { fits = false } = {}) {
    await page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });
    // Evaluated through the debugging protocol: the page's own policy allows no inline script.
    await page.evaluate(axeSource);
    const found = await page.evaluate(async () => {
      const r = await window.axe.run(document, {
        runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] },
      });
      return r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(" ")) }));
    });
    result.pages.push(name);
    for (const v of found) result.violations.push({ page: name, ...v });
    if (fits && !(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth))) {
      result.violations.push({ page: name, id: "wider-than-the-screen", impact: "serious", nodes: [] });
    }
    // A bar chart is drawn twice, for phones and for wider screens: one of the two shows.
    const shown = await page.evaluate(() => {
      const visible = (selector) => [...document.querySelectorAll(selector)]
        .filter((e) => getComputedStyle(e).display !== "none").length;
      return { narrow: visible("svg.chart-narrow"), wide: visible("svg.chart-wide") };
    });
    if (shown.narrow > 0 && shown.wide > 0) {
      result.violations.push({ page: name, id: "chart-drawn-twice", impact: "serious", nodes: [JSON.stringify(shown)] });
    }
  }

  async function signIn(page, token) {
    await page.goto(`${base}/login`);
    await page.getByLabel("Access token").fill(token);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL(`${base}/`);
  }

  // Waits up to 30 s for `check` to give something.
  async function waitFor(what, check) {
    for (let i = 0; i < 150; i++) {
      const found = await check();
      if (found) return found;
      await sleep(200);
    }
    throw new Error(`waited in vain for ${what}`);
  }

  // Opens the task named `name` from the inbox, once it has arrived there.
  async function openTask(page, name) {
    await waitFor(name, async () => {
      await page.goto(`${base}/work`);
      return (await page.getByRole("link", { name, exact: true }).count()) > 0;
    });
    await page.getByRole("link", { name, exact: true }).click();
  }

  // Follows a link of the main navigation: on a phone it sits in the Menu, opened first.
  async function navigate(page, name) {
    const menu = page.locator("details.menu > summary");
    if (await menu.isVisible()) {
      if ((await page.locator("details.menu[open]").count()) === 0) await menu.click();
      await page.locator("details.menu nav").getByRole("link", { name, exact: true }).click();
    } else {
      await page.locator(".sidebar nav").getByRole("link", { name, exact: true }).click();
    }
  }

  return { watch, audit, signIn, waitFor, openTask, navigate };
}
