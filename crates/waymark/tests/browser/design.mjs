// Journeys designed in the browser, in `waymark demo`, as its people do it in Chromium.
// Olivia (journey owner) creates "Home insurance claim" from the universal stages: three stages
// and six touchpoints, every event rule picked from the collected events offered. A problem shows
// at its field; she saves, sees the live figures, comments on a touchpoint and mentions Chris,
// who reads the email on his phone and answers in the thread. Ada and Olivia then edit the
// journey at once: edits of different fields merge, the same field clashes and is shown. Ada
// discovers a journey from the demo's training events and saves it. The YAML of the edited
// journey is downloaded for the Rust test to lint with the CLI. axe-core checks every page; a
// Content-Security-Policy violation counts as a violation.
//
// Environment: BASE, CHROMIUM, NODE_MODULES, SHOTS, DOWNLOADS, OLIVIA, CHRIS, ADA (tokens).
// Prints one JSON object; the Rust test judges it.
import path from "node:path";
import { chromium, helpers } from "./common.mjs";

const base = process.env.BASE;
const result = { pages: [], violations: [], steps: {} };
const steps = result.steps;
const { watch, audit, signIn, waitFor } = helpers({ base, shots: process.env.SHOTS, result });

const phone = { viewport: { width: 375, height: 812 }, isMobile: true, hasTouch: true };
const desktop = { viewport: { width: 1366, height: 900 } };
const id = (name) => `[id="f-${name}"]`;

// Presses one of the editor's buttons (each posts the whole form) and waits for the answer.
async function press(page, selector) {
  await Promise.all([page.waitForEvent("load"), page.locator(selector).first().click()]);
}

// Picks an event for a rule from what was collected; the page brings that event's property
// values to choose from. Returns the conditions offered (their labels).
async function pick(page, rule, event) {
  const labels = await page.locator(`${id(`${rule}.event`)} option`).allTextContents();
  const label = labels.find((l) => l.startsWith(`${event} (`));
  if (!label) throw new Error(`${event} is not offered: ${labels}`);
  await Promise.all([page.waitForEvent("load"), page.selectOption(id(`${rule}.event`), { label })]);
  return page.locator(`${id(`${rule}.conditions`)} option`).allTextContents();
}

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM, headless: true, args: ["--no-sandbox"] });
try {
  // 1. Olivia starts a journey from the universal stages.
  const olivia = await (await browser.newContext({ ...desktop, acceptDownloads: true })).newPage().then(watch);
  await signIn(olivia, process.env.OLIVIA);
  await olivia.goto(`${base}/journeys`);
  await olivia.getByRole("link", { name: "Start a journey" }).click();
  await audit(olivia, "design-01-start-desktop");
  await olivia.getByLabel("Id", { exact: true }).fill("home-insurance-claim");
  await olivia.getByLabel("Title", { exact: true }).fill("Home insurance claim");
  await olivia.getByRole("button", { name: "Open in the editor" }).click();
  await olivia.waitForSelector("form.editor");
  // Three stages: the last three of the six universal ones go.
  for (const stage of [5, 4, 3]) await press(olivia, `button[value="remove-stage:${stage}"]`);
  // Two touchpoints in each.
  for (const stage of [0, 1, 2]) await press(olivia, `button[value="add-touchpoint:${stage}"]`);
  const plan = [
    ["Report", [["report-online", "Report the damage online", "web", "Page Viewed"], ["claim-form", "Fill in the claim form", "web", "Form Submitted"]]],
    ["Assess", [["adjuster-call", "Adjuster calls", "phone", "Task Completed"], ["approval", "Claim approved", "email", "Approval Decided"]]],
    ["Settle", [["payment", "Claim paid", "other", "Payment Made"], ["settled-email", "Settlement email", "email", "Email Sent"]]],
  ];
  for (const [s, [stage, touchpoints]] of plan.entries()) {
    await olivia.fill(id(`s${s}.name`), stage);
    await olivia.fill(id(`s${s}.id`), stage.toLowerCase());
    for (const [t, [tid, name, channel]] of touchpoints.entries()) {
      await olivia.fill(id(`s${s}.t${t}.id`), tid);
      await olivia.fill(id(`s${s}.t${t}.name`), name);
      await olivia.selectOption(id(`s${s}.t${t}.channel`), channel);
      await olivia.fill(id(`s${s}.t${t}.department`), s === 2 ? "Finance" : "Claims");
      await olivia.fill(id(`s${s}.t${t}.target`), "1d");
    }
  }
  // A mistake, shown at its field as `waymark journey lint` words it.
  await olivia.fill(id("s1.t0.target"), "soon");
  await press(olivia, 'button[value="preview"]');
  steps.problem = await olivia.locator('[id="e-s1.t0.target"]').textContent();
  steps.problemInvalid = await olivia.locator(id("s1.t0.target")).getAttribute("aria-invalid");
  await audit(olivia, "design-02-editor-problem-desktop");
  await olivia.fill(id("s1.t0.target"), "2d");
  // Every rule picked from the events offered; where the event names several steps, the step too.
  steps.offered = {};
  for (const [s, [, touchpoints]] of plan.entries()) {
    for (const [t, [, , , event]] of touchpoints.entries()) {
      await press(olivia, `button[value="add-rule:${s}.${t}"]`);
      const conditions = await pick(olivia, `s${s}.t${t}.r0`, event);
      steps.offered[event] = conditions;
      const step = conditions.find((c) => / = /.test(c));
      if (step) await olivia.selectOption(id(`s${s}.t${t}.r0.conditions`), { label: step });
    }
  }
  steps.eventOptions = await olivia.locator(`${id("s0.t0.r0.event")} option`).allTextContents();
  await press(olivia, 'button[value="save"]');
  steps.saved = await olivia.locator("[role=status]").first().textContent();
  await olivia.getByRole("link", { name: "See the live map" }).click();
  await olivia.waitForURL(/\/journeys\/home-insurance-claim$/);
  steps.figures = await olivia.locator("main").textContent();
  steps.cards = await olivia.locator("figure.map g.touchpoint").count();

  // 2. She comments on the adjuster's call and mentions Chris.
  await olivia.getByLabel("About").selectOption({ label: "Touchpoint: Adjuster calls" });
  await olivia.getByLabel("Comment", { exact: true }).fill("@chris how many claims wait for this call? It feels slow.");
  await olivia.getByRole("button", { name: "Comment", exact: true }).click();
  await olivia.waitForURL(/emailed=chris/);
  steps.emailedNotice = await olivia.locator("[role=status]").first().textContent();
  steps.badge = await olivia.locator("figure.map .map-mark").allTextContents();
  await audit(olivia, "design-03-map-with-comment-desktop");

  // 3. Chris reads the email on his phone, opens the thread and answers.
  const chris = await (await browser.newContext(phone)).newPage().then(watch);
  await signIn(chris, process.env.CHRIS);
  await waitFor("the mention", async () => {
    await chris.goto(`${base}/mail`);
    return (await chris.getByRole("link", { name: /Olivia Chen mentioned you/ }).count()) > 0;
  });
  await chris.getByRole("link", { name: /Olivia Chen mentioned you/ }).first().click();
  const link = chris.locator(".mail-body a[href*='/journeys/home-insurance-claim#comment-']").first();
  steps.mentionLink = (await link.getAttribute("href")).replace(base, "");
  await link.click();
  await chris.waitForURL(/\/journeys\/home-insurance-claim/);
  await chris.locator("article.thread textarea").first().fill("About forty a week; most wait two days for the call.");
  await Promise.all([chris.waitForEvent("load"), chris.locator("article.thread").getByRole("button", { name: "Reply" }).first().click()]);
  steps.thread = await chris.locator("article.thread").first().textContent();
  await audit(chris, "design-04-thread-phone", { fits: true });

  // 4. Ada and Olivia edit the journey at once.
  const ada = await (await browser.newContext(desktop)).newPage().then(watch);
  await signIn(ada, process.env.ADA);
  await ada.goto(`${base}/journeys/home-insurance-claim/edit`);
  await olivia.goto(`${base}/journeys/home-insurance-claim/edit`);
  await ada.fill(id("j.owner"), "Claims Operations");
  await press(ada, 'button[value="save"]');
  steps.adaSaved = await ada.locator("[role=status]").first().textContent();
  await olivia.fill(id("s1.t1.department"), "Underwriting");
  await press(olivia, 'button[value="save"]');
  steps.merged = await olivia.locator("[role=status]").first().textContent();
  // Both change the same field from the same version: the second is shown the clash.
  await ada.goto(`${base}/journeys/home-insurance-claim/edit`);
  await olivia.goto(`${base}/journeys/home-insurance-claim/edit`);
  await ada.fill(id("s0.t0.name"), "Report the damage on the website");
  await press(ada, 'button[value="save"]');
  await olivia.fill(id("s0.t0.name"), "Report the damage in the app");
  await press(olivia, 'button[value="save"]');
  steps.clash = await olivia.locator("table.conflicts").textContent();
  steps.clashKept = await olivia.locator(id("s0.t0.name")).inputValue();
  await audit(olivia, "design-05-clash-desktop");

  // The activity says who changed what; two versions compare on the map.
  await olivia.goto(`${base}/journeys/home-insurance-claim/versions`);
  steps.activity = await olivia.locator("ol.activity").textContent();
  await audit(olivia, "design-06-versions-desktop");
  await olivia.getByRole("link", { name: /^Compare with version/ }).first().click();
  steps.compared = await olivia.locator("main").textContent();
  steps.compareMarks = await olivia.locator("figure.map .map-mark").allTextContents();
  await audit(olivia, "design-07-compare-desktop");

  // 5. The YAML of the journey edited in the browser.
  await olivia.goto(`${base}/journeys/home-insurance-claim`);
  const [download] = await Promise.all([olivia.waitForEvent("download"), olivia.getByRole("link", { name: "Download YAML" }).click()]);
  const saved = path.join(process.env.DOWNLOADS, "home-insurance-claim.yaml");
  await download.saveAs(saved);
  steps.downloaded = saved;

  // 6. Ada discovers a journey from the demo's training events and saves it.
  await ada.goto(`${base}/journeys/new`);
  await ada.getByLabel("Id", { exact: true }).fill("training-discovered");
  await ada.getByLabel("Title", { exact: true }).fill("Training, as the events tell it");
  await ada.getByLabel("A draft discovered from the collected events").check();
  await ada.locator("details.indented > summary").click();
  // The loan application's events belong to another journey.
  for (const box of await ada.locator("ul.choices input[type=checkbox]").all()) {
    const value = await box.getAttribute("value");
    if (/^(A_|O_|W_)|^Loan /.test(value)) await box.uncheck();
  }
  await ada.getByRole("button", { name: "Open in the editor" }).click();
  await ada.waitForSelector("form.editor");
  steps.discoveredNotice = await ada.locator("[role=status]").first().textContent();
  steps.discoveredTouchpoints = await ada.locator("details.touchpoint").count();
  await audit(ada, "design-08-discovered-desktop");
  await press(ada, 'button[value="save"]');
  steps.discoveredSaved = await ada.locator("[role=status]").first().textContent();

  // With the keyboard alone: a field is reached with Tab, changed by typing, a list chosen with
  // the arrow keys, a touchpoint's details opened with Enter, and Enter in a field saves.
  await olivia.goto(`${base}/journeys/home-insurance-claim/edit`);
  await olivia.locator(id("j.title")).focus();
  await olivia.keyboard.press("Tab");
  steps.keyboardNext = await olivia.evaluate(() => document.activeElement && document.activeElement.id);
  await olivia.locator(id("s2.t1.channel")).focus();
  const channelBefore = await olivia.locator(id("s2.t1.channel")).inputValue();
  await olivia.keyboard.press("ArrowDown");
  steps.keyboardChannel = [channelBefore, await olivia.locator(id("s2.t1.channel")).inputValue()];
  await olivia.locator('[id="f-s2.t1"] > summary').focus();
  await olivia.keyboard.press("Enter");
  steps.keyboardDetails = await olivia.locator('[id="f-s2.t1"]').evaluate((d) => d.open);
  await olivia.keyboard.press("Enter");
  await olivia.locator(id("s2.t1.name")).focus();
  await olivia.keyboard.press("ControlOrMeta+A");
  await olivia.keyboard.type("Settlement letter by email");
  await Promise.all([olivia.waitForEvent("load"), olivia.keyboard.press("Enter")]);
  steps.keyboardSaved = await olivia.locator("[role=status]").first().textContent();

  // The editor on a phone: readable, and the map beside it scrolls within itself.
  const small = await (await browser.newContext(phone)).newPage().then(watch);
  await signIn(small, process.env.OLIVIA);
  await small.goto(`${base}/journeys/home-insurance-claim/edit`);
  await audit(small, "design-09-editor-phone", { fits: true });
  await small.goto(`${base}/journeys/home-insurance-claim`);
  await audit(small, "design-10-map-comments-phone", { fits: true });
} catch (error) {
  result.error = String(error && error.stack || error);
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
