// The work pages in a real browser (Chromium through playwright-core), as Jennifer on a phone,
// Mallory trying to read her request, and her manager on a desktop; axe-core checks every page.
//
// Environment: BASE (the server), CHROMIUM (its executable), SHOTS (where screenshots go), and
// the access tokens JENNIFER, MALLORY, MARIA. Prints one JSON object with what happened; the Rust
// test decides whether that is right.
import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(path.join(process.env.NODE_MODULES, "noop.js"));
const { chromium } = require("playwright-core");
const axeSource = require("fs").readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");

const base = process.env.BASE;
const shots = process.env.SHOTS;
const result = { pages: [], violations: [], steps: {} };

async function audit(page, name) {
  await page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });
  await page.addScriptTag({ content: axeSource });
  const found = await page.evaluate(async () => {
    const r = await window.axe.run(document, {
      runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] },
    });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(" ")) }));
  });
  result.pages.push(name);
  for (const v of found) result.violations.push({ page: name, ...v });
}

async function signIn(page, token) {
  await page.goto(`${base}/work`);
  await page.getByLabel("Access token").fill(token);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(`${base}/work`);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM,
  headless: true,
  args: ["--no-sandbox"],
});
try {
  // Jennifer, on a phone.
  const phone = await browser.newContext({ viewport: { width: 375, height: 812 }, isMobile: true, hasTouch: true });
  const jennifer = await phone.newPage();
  await jennifer.goto(`${base}/work`);
  result.steps.redirectedToSignIn = jennifer.url().startsWith(`${base}/login`);
  await audit(jennifer, "01-sign-in-phone");
  await signIn(jennifer, process.env.JENNIFER);
  await audit(jennifer, "02-inbox-phone");
  await jennifer.getByRole("link", { name: "Request something" }).first().click();
  await jennifer.getByRole("link", { name: "Request professional training" }).click();
  result.steps.managerPrefilled = await jennifer.getByLabel("Your manager (approves it)").inputValue();
  await audit(jennifer, "03-request-form-phone");
  // Sent empty: every problem named, at its field.
  await jennifer.getByRole("button", { name: "Send the request" }).click();
  result.steps.problems = await jennifer.locator(".summary li").allTextContents();
  await audit(jennifer, "04-request-form-errors-phone");
  await jennifer.getByLabel("Course or certification").fill("Negotiation Skills");
  await jennifer.getByLabel("Training provider").fill("Skills Academy");
  await jennifer.getByLabel("Cost (EUR)").fill("1200");
  await jennifer.getByLabel("Start date").fill("2026-12-01");
  await jennifer.getByRole("button", { name: "Send the request" }).click();
  await jennifer.waitForURL(/\/work\/requests\/\d+/);
  const requestUrl = jennifer.url().split("?")[0];
  result.steps.request = requestUrl.replace(base, "");
  result.steps.waitingWith = await jennifer.locator(".steps li").first().textContent();
  await audit(jennifer, "05-request-phone");
  await jennifer.getByRole("link", { name: "My requests" }).click();
  result.steps.myRequests = await jennifer.locator(".cards").textContent();
  await audit(jennifer, "06-my-requests-phone");
  result.steps.noHorizontalScroll = await jennifer.evaluate(
    () => document.documentElement.scrollWidth <= window.innerWidth,
  );

  // Mallory cannot read it.
  const other = await browser.newContext();
  const mallory = await other.newPage();
  await signIn(mallory, process.env.MALLORY);
  const refused = await mallory.goto(requestUrl);
  result.steps.malloryStatus = refused.status();
  result.steps.malloryPage = await mallory.locator("main").textContent();

  // Her manager approves it on a desktop.
  const desk = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const maria = await desk.newPage();
  await signIn(maria, process.env.MARIA);
  await audit(maria, "07-inbox-desktop");
  await maria.getByRole("link", { name: "Approve the training request" }).click();
  await audit(maria, "08-approval-desktop");
  await maria.getByLabel("I approve this training").check();
  await maria.getByRole("button", { name: "Send" }).click();
  await maria.waitForURL(/\/work\/requests\/\d+/);
  result.steps.afterApproval = await maria.locator(".steps").textContent();
  // Keyboard: the skip link is the first stop and leads to the content.
  await maria.keyboard.press("Tab");
  result.steps.firstTab = await maria.evaluate(() => document.activeElement.textContent);

  // A CX analyst reads the journeys and the to-be map with its live figures.
  const analyst = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  await signIn(analyst, process.env.CHRIS);
  await analyst.getByRole("link", { name: "Journeys" }).click();
  result.steps.journeys = await analyst.locator("table").textContent();
  await audit(analyst, "09-journeys-desktop");
  await analyst.getByRole("link", { name: "Request professional training" }).click();
  result.steps.mapDrawn = (await analyst.locator("figure.map svg").count()) === 1;
  await audit(analyst, "10-journey-map-desktop");

  // An agent finds a customer in Customer 360 by their email address.
  const agent = await (await browser.newContext({ viewport: { width: 1024, height: 800 } })).newPage();
  await signIn(agent, process.env.ALEX);
  await agent.getByRole("link", { name: "Customers" }).click();
  await agent.getByLabel("Find a person").fill("dana@example.com");
  await agent.getByRole("button", { name: "Find" }).click();
  result.steps.customer = await agent.locator("main h2").first().textContent();
  result.steps.timeline = await agent.locator("table").last().textContent();
  await audit(agent, "11-customer-360-desktop");
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
