// Every main page of `waymark demo`, as the demo person it is made for, on a 375 px phone and a
// 1366 px desktop: a screenshot of each (`tour-<page>-<phone|desktop>.png`), axe-core's checks,
// and on the phone no page may be wider than the screen. Pages found by following the app's own
// links: the first journey's map, analyses and a touchpoint, a request, a message.
//
// Environment: BASE, CHROMIUM, NODE_MODULES, SHOTS, PEOPLE (a JSON object: demo person → token).
// Prints one JSON object ({ pages, violations, steps }); the Rust test judges it.
import fs from "node:fs";
import { chromium, helpers, sleep } from "./common.mjs";

const base = process.env.BASE;
const people = JSON.parse(process.env.PEOPLE);
const result = { pages: [], violations: [], steps: { widths: {} } };
const { watch, audit } = helpers({ base, shots: process.env.SHOTS, result });

const devices = {
  phone: { viewport: { width: 375, height: 812 }, isMobile: true, hasTouch: true },
  desktop: { viewport: { width: 1366, height: 900 } },
};

// The first link on `path` whose address matches `pattern`, as a path (or undefined).
async function firstLink(page, path, pattern) {
  await page.goto(`${base}${path}`);
  const hrefs = await page.locator("main a[href]").evaluateAll((links) => links.map((a) => a.getAttribute("href")));
  return hrefs.find((h) => pattern.test(h));
}

// Signs `who` in once, on a phone, keeping the session for both screens. The sign-in form
// allows a client a burst of ten tries, then one every six seconds: wait when told to.
const sessions = {};
async function session(browser, who) {
  if (!sessions[who]) {
    const context = await browser.newContext(devices.phone);
    const page = await context.newPage();
    for (;;) {
      const response = await page.goto(`${base}/login`);
      if (response.status() === 429) {
        await sleep(1000 * Number(response.headers()["retry-after"] || 6));
        continue;
      }
      await page.getByLabel("Access token").fill(people[who]);
      await page.getByRole("button", { name: "Sign in" }).click();
      await page.waitForLoadState();
      if (page.url() === `${base}/`) break;
      await sleep(6000);
    }
    sessions[who] = await context.storageState();
    await context.close();
  }
  return sessions[who];
}

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM, headless: true, args: ["--no-sandbox"] });
try {
  // Jennifer sends a training request first, so that there is a request to read and an approval
  // waiting for Maria.
  {
    const context = await browser.newContext({ ...devices.phone, storageState: await session(browser, "jennifer") });
    const page = await context.newPage();
    await page.goto(`${base}/work/start`);
    await page.getByRole("link", { name: "Request professional training" }).click();
    await page.getByLabel("Course or certification").fill("Negotiation Skills");
    await page.getByLabel("Training provider").fill("Skills Academy");
    await page.getByLabel("Cost (EUR)").fill("1200");
    await page.getByLabel("Start date").fill("2026-12-01");
    await page.getByRole("button", { name: "Send the request" }).click();
    await page.waitForURL(/\/work\/requests\/\d+/);
    result.steps.request = new URL(page.url()).pathname;
    await context.close();
  }
  // Chris saves the funnel of a journey other than the first under a name, for Olivia to open
  // from its link.
  {
    const context = await browser.newContext({ ...devices.desktop, storageState: await session(browser, "chris") });
    const page = await context.newPage();
    await page.goto(`${base}/journeys`);
    const listed = await page.locator("main a[href^='/journeys/']").evaluateAll((links) => links.map((a) => a.getAttribute("href")).filter((h) => /^\/journeys\/[^/]+$/.test(h)));
    result.steps.loan = listed[1] || listed[0];
    await page.goto(`${base}${result.steps.loan}/funnel`);
    await page.getByText("Save this funnel to share it").click();
    await page.getByLabel("Name", { exact: true }).fill("Where requests stall");
    await page.getByRole("button", { name: "Save", exact: true }).click();
    await page.waitForURL(/saved=\d+/);
    result.steps.shared = await page.getByRole("link", { name: /^\/analyses\/\d+$/ }).getAttribute("href");
    await context.close();
  }
  for (const [device, settings] of Object.entries(devices)) {
    const pages = {};
    const as = async (who) => {
      if (!pages[who]) {
        const storageState = await session(browser, who);
        pages[who] = await (await browser.newContext({ ...settings, storageState })).newPage().then(watch);
      }
      return pages[who];
    };
    const visit = async (who, name, path) => {
      if (!path) {
        result.violations.push({ page: `${name}-${device}`, id: "page-not-found-by-its-links", impact: "serious", nodes: [] });
        return;
      }
      const page = await as(who);
      const response = await page.goto(`${base}${path}`);
      if (!response || response.status() >= 400) {
        result.violations.push({ page: `${name}-${device}`, id: "page-failed", impact: "serious", nodes: [`${path}: ${response && response.status()}`] });
        return;
      }
      result.steps.widths[`${name}-${device}`] = await page.evaluate(() => document.documentElement.scrollWidth);
      await audit(page, `tour-${name}-${device}`, { fits: device === "phone" });
    };

    // Everyone's home page: what they land on after signing in.
    for (const who of ["jennifer", "maria", "finn", "olivia", "chris", "alex", "ada"]) {
      await visit(who, `home-${who}`, "/");
    }
    // Jennifer: what she asks for and what waits for her.
    await visit("jennifer", "inbox", "/work");
    await visit("jennifer", "start", "/work/start");
    await visit("jennifer", "start-training", await firstLink(await as("jennifer"), "/work/start", /^\/work\/start\/.+/));
    await visit("jennifer", "my-requests", "/work/requests");
    await visit("jennifer", "request", result.steps.request);
    await visit("jennifer", "mail", "/mail");
    // Maria: her approvals.
    await visit("maria", "approvals", "/work");
    await visit("maria", "approval", await firstLink(await as("maria"), "/work", /^\/work\/tasks\/.+/));
    // Olivia: the journeys, a map, its analyses and a touchpoint.
    await visit("olivia", "journeys", "/journeys");
    const journey = await firstLink(await as("olivia"), "/journeys", /^\/journeys\/(?!new$)[^/]+$/);
    await visit("olivia", "journey-map", journey);
    // The editor: starting a journey, and a deployed one open for editing.
    await visit("olivia", "journey-new", await firstLink(await as("olivia"), "/journeys", /^\/journeys\/new$/));
    await visit("olivia", "journey-edit", journey && `${journey}/edit`);
    if (journey) {
      // Fit: the whole map on the screen, without scrolling sideways; then zoom in from there.
      const page = await as("olivia");
      const measure = () => page.locator("figure.map").first().evaluate((figure) => ({
        picture: Math.round(figure.querySelector("svg").getBoundingClientRect().width),
        room: figure.clientWidth,
        level: figure.previousElementSibling.querySelector(".zoom-level").textContent,
      }));
      const actual = await measure();
      await page.getByRole("button", { name: "Fit to the screen" }).first().click();
      const fitted = await measure();
      await page.getByRole("button", { name: "Zoom in" }).first().click();
      const zoomed = await measure();
      result.steps[`zoom-${device}`] = { actual, fitted, zoomed };
      // Downloads are offered for the map, never for a legend's swatches.
      result.steps[`map-downloads-${device}`] = await page.getByRole("button", { name: /^Download SVG/ }).count();
      await page.screenshot({ path: `${process.env.SHOTS}/tour-journey-map-fit-${device}.png`, fullPage: true });
    }
    // Scorecards: a journey's KPIs (and before and after a date), and everyone's by owner.
    await visit("olivia", "kpis", journey && `${journey}/kpis`);
    await visit("olivia", "kpis-compared", journey && `${journey}/kpis?at=${new Date(Date.now() - 35 * 86400000).toISOString().slice(0, 10)}&days=28`);
    await visit("chris", "scorecards", "/scorecards");
    // Alerts: the list with the demo's rule, and the first alert's page when one was raised.
    await visit("olivia", "alerts", "/alerts");
    // Opportunities and the roadmap: the demo's, an opportunity with its evidence, an
    // initiative with its KPIs before and after, and the form that starts one.
    await visit("olivia", "opportunities", "/opportunities");
    await visit("olivia", "opportunity", await firstLink(await as("olivia"), "/opportunities", /^\/opportunities\/\d+$/));
    await visit("olivia", "roadmap", "/roadmap");
    await visit("olivia", "initiative", await firstLink(await as("olivia"), "/roadmap", /^\/initiatives\/\d+$/));
    await visit("olivia", "initiative-new", "/initiatives/new");
    // Follow-ups: the figures, and one waiting in the Call Centre's inbox, with the customer.
    await visit("olivia", "follow-ups", "/follow-ups");
    await visit("carl", "follow-up-task", await firstLink(await as("carl"), "/work", /^\/work\/tasks\/.+/));
    // The five questions as a gate: a change waiting in Hana's inbox (she owns the training
    // journey), the training's versions with its proposals, and the newest proposal.
    await visit("hana", "journey-change-task", await firstLink(await as("hana"), "/work", /^\/work\/tasks\/.+/));
    await visit("olivia", "versions", "/journeys/training-request/versions");
    await visit("olivia", "proposal", await firstLink(await as("olivia"), "/journeys/training-request/versions", /^\/journeys\/training-request\/proposals\/\d+$/));
    await visit("olivia", "funnel", journey && `${journey}/funnel`);
    await visit("olivia", "flow", journey && `${journey}/flow`);
    await visit("olivia", "conformance", journey && `${journey}/conformance`);
    await visit("olivia", "touchpoint", journey && (await firstLink(await as("olivia"), journey, /\/touchpoints\//)));
    // Chris: the analyses of another journey.
    const other = (await (await as("chris")).goto(`${base}/journeys`), await (await as("chris")).locator("main a[href^='/journeys/']").evaluateAll((links) => links.map((a) => a.getAttribute("href")).filter((h) => /^\/journeys\/[^/]+$/.test(h))));
    const loan = other.find((h) => h !== journey) || journey;
    await visit("chris", "funnel-other", loan && `${loan}/funnel`);
    // Chris: the analyses saved, and the people behind a funnel's drop-off, then one of them.
    await visit("chris", "analyses", "/analyses");
    const drill = await firstLink(await as("chris"), `${result.steps.loan}/funnel`, /\/funnel\/people\?/);
    await visit("chris", "funnel-people", drill);
    if (drill) {
      const person = await firstLink(await as("chris"), drill, /^\/customers\?q=/);
      result.steps[`drilled-${device}`] = person;
      if (person) {
        const page = await as("chris");
        await page.goto(`${base}${person}`);
        result.steps[`drilled-profile-${device}`] = await page.getByRole("heading", { name: "Where we are" }).count();
      }
    }
    // Olivia opens the link Chris shared.
    await visit("olivia", "saved-funnel", result.steps.shared);
    if (result.steps.shared) {
      result.steps[`shared-${device}`] = await (await as("olivia")).locator(".notice.saved").textContent();
    }
    if (device === "desktop") {
      // Export: the funnel's table as CSV, its chart as SVG and PNG, as downloaded.
      const page = await as("chris");
      await page.goto(`${base}${result.steps.loan}/funnel`);
      const saved = async (name) => {
        const [download] = await Promise.all([
          page.waitForEvent("download"),
          page.getByRole("button", { name }).first().click(),
        ]);
        return { file: download.suggestedFilename(), bytes: fs.readFileSync(await download.path()) };
      };
      const table = await saved(/^Download CSV: The funnel's steps/);
      const svg = await saved(/^Download SVG/);
      const png = await saved(/^Download PNG/);
      result.steps.export = {
        csv: { file: table.file, text: table.bytes.toString("utf8") },
        svg: { file: svg.file, text: svg.bytes.toString("utf8").slice(0, 400), length: svg.bytes.length },
        png: { file: png.file, signature: png.bytes.subarray(0, 8).toString("hex"), length: png.bytes.length },
        table: await page.locator("main table").first().evaluate((t) => [...t.rows].map((r) => [...r.cells].map((c) => c.textContent.trim()))),
      };
    }
    // Alex: finding a person and their profile.
    await visit("alex", "customers", "/customers");
    // Browsing people: the first stage of a journey someone is at.
    let stage;
    {
      const page = await as("alex");
      await page.goto(`${base}/customers/browse`);
      const stages = (await page.locator("#stage option").evaluateAll((o) => o.map((x) => x.value))).filter((v) => v);
      for (const value of stages) {
        await page.goto(`${base}/customers/browse?stage=${encodeURIComponent(value)}`);
        if ((await page.locator("main table tbody tr").count()) > 0) { stage = value; break; }
      }
    }
    await visit("alex", "customers-browse", stage && `/customers/browse?stage=${encodeURIComponent(stage)}`);
    result.steps[`browsed-${device}`] = await (await as("alex")).locator("main table tbody tr").count();
    // Part of an identifier, which identifies nobody: the list to choose from.
    await visit("alex", "customer-search", "/customers?q=mployee-1");
    await visit("alex", "customer", "/customers?q=employee-3%40example.com");
    // The context answer on the profile: the channels of its latest events, newest first.
    result.steps[`context-${device}`] = await (await as("alex")).locator("main .cards li strong").allTextContents();
    // Ada: every request and the outbox.
    await visit("ada", "all-requests", "/admin/requests");
    await visit("ada", "outbox", "/admin/outbox");
    await visit("ada", "keys", "/admin/keys");
    await visit("ada", "people", "/admin/people");
    await visit("ada", "deployed", "/admin/deployed");
    await visit("ada", "request-audit", await firstLink(await as("ada"), "/admin/requests", /^\/work\/requests\/\d+/));
  }
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
