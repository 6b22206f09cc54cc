// The reference case, whole, in `waymark demo` itself, as its people play it in Chromium: nobody
// calls the API by hand. Jennifer asks for training on her phone; Maria approves; the demo's
// budget system checks the budget; Jennifer reads the approval in her Mail; Finn adds the
// vendor, issues the PO and records the payment; the training takes place (the demo's control
// sends what the learning system would); the assessment invitation arrives in her Mail, its link
// opens the assessment on her phone; her answer marks the goods received and "My requests"
// shows it done. Ada reads the outbox. axe-core checks the new pages; any Content-Security-
// Policy violation counts as a violation.
//
// Environment: BASE, CHROMIUM, NODE_MODULES, SHOTS, and the demo people's tokens as printed by
// the demo (JENNIFER, MARIA, FINN, ADA). Prints one JSON object; the Rust test judges it.
import { chromium, helpers } from "./common.mjs";

const base = process.env.BASE;
const result = { pages: [], violations: [], steps: {} };
const steps = result.steps;
const { watch, audit: axe, signIn, waitFor, openTask, navigate } = helpers({ base, shots: process.env.SHOTS, result });
// Every page of the story must also fit its screen.
const audit = (page, name) => axe(page, name, { fits: true });

// Opens the newest message called `subject` in the person's Mail, once it has arrived.
async function openMail(page, subject) {
  await waitFor(`the mail “${subject}”`, async () => {
    await page.goto(`${base}/mail`);
    return (await page.getByRole("link", { name: subject }).count()) > 0;
  });
  await page.getByRole("link", { name: subject }).first().click();
}

const phone = { viewport: { width: 375, height: 812 }, isMobile: true, hasTouch: true };
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM, headless: true, args: ["--no-sandbox"] });
try {
  // 1. Jennifer asks on her phone.
  const jennifer = await (await browser.newContext(phone)).newPage().then(watch);
  await signIn(jennifer, process.env.JENNIFER);
  await navigate(jennifer, "Request something");
  await jennifer.getByRole("link", { name: "Request professional training" }).click();
  await jennifer.getByLabel("Course or certification").fill("Negotiation Skills");
  await jennifer.getByLabel("Training provider").fill("Skills Academy");
  await jennifer.getByLabel("Cost (EUR)").fill("1200");
  await jennifer.getByLabel("Start date").fill("2026-12-01");
  await jennifer.getByRole("button", { name: "Send the request" }).click();
  await jennifer.waitForURL(/\/work\/requests\/\d+/);
  const requestUrl = jennifer.url().split("?")[0];
  steps.sentNotice = await jennifer.locator("[role=status]").textContent();
  await audit(jennifer, "demo-01-request-sent-phone");

  // 2. Maria approves.
  const maria = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage().then(watch);
  await signIn(maria, process.env.MARIA);
  await openTask(maria, "Approve the training request");
  await maria.getByRole("button", { name: "Approve", exact: true }).click();
  await maria.waitForURL(/\/work\/requests\/\d+/);
  steps.approvedNotice = await maria.locator("[role=status]").textContent();

  // 3. The demo's budget system answers by itself.
  steps.budgetChecked = await waitFor("the budget check", async () => {
    await jennifer.goto(requestUrl);
    const progress = await jennifer.locator(".progress").textContent();
    return /Check the department budget — Done/.test(progress) ? progress : null;
  });

  // 4. The approval email, in Jennifer's mailbox in the app.
  await openMail(jennifer, "Tell Jennifer it was approved");
  steps.approvalMail = await jennifer.locator("main").textContent();
  await audit(jennifer, "demo-02-approval-mail-phone");

  // 5. Finance's three steps, on a phone, each showing what was entered before.
  const finn = await (await browser.newContext(phone)).newPage().then(watch);
  await signIn(finn, process.env.FINN);
  await openTask(finn, "Add the vendor");
  await finn.getByLabel("Supplier number").fill("S-1042");
  await finn.getByLabel("Billing email").fill("billing@skills-academy.example");
  await finn.getByRole("button", { name: "Send", exact: true }).click();
  await finn.waitForURL(/\/work\/requests\/\d+/);
  await openTask(finn, "Issue the purchase order");
  steps.poPage = await finn.locator("main").textContent();
  await finn.getByLabel("Purchase order number").fill("PO-20931");
  await finn.getByRole("button", { name: "Send", exact: true }).click();
  await finn.waitForURL(/\/work\/requests\/\d+/);
  await openTask(finn, "Record the payment");
  steps.paymentPage = await finn.locator("main").textContent();
  await finn.getByLabel(/Amount paid/).fill("1200");
  await finn.getByLabel(/Paid on/).fill("2026-12-10");
  await finn.getByRole("button", { name: "Send", exact: true }).click();
  await finn.waitForURL(/\/work\/requests\/\d+/);

  // 6. The training takes place: the request waits for the learning system, and says so.
  await jennifer.goto(requestUrl);
  steps.waiting = await jennifer.locator(".progress").textContent();
  await audit(jennifer, "demo-03-waiting-for-training-phone");
  await jennifer.getByRole("button", { name: /Demo: send “Training Completed”/ }).click();
  await jennifer.waitForURL(/sent=/);
  steps.trainingNotice = await jennifer.locator("[role=status]").textContent();

  // 7. The assessment invitation arrives; its link opens the assessment on her phone.
  await openMail(jennifer, "Invite Jennifer to the assessment");
  const link = await jennifer.locator(".mail-body a[href*='/links/']").first();
  steps.linkHref = (await link.getAttribute("href")).replace(base, "");
  await link.click();
  await jennifer.waitForURL(/\/links\//);
  steps.assessmentPage = await jennifer.locator("main").textContent();
  await audit(jennifer, "demo-04-assessment-from-mail-phone");
  await jennifer.getByLabel(/How useful was it/).fill("5");
  await jennifer.getByLabel("I would recommend it to colleagues").check();
  await jennifer.getByRole("button", { name: "Send", exact: true }).click();
  steps.assessmentSent = await jennifer.locator("main").textContent();

  // 8. Goods received by itself; "My requests" shows it done.
  await jennifer.goto(requestUrl);
  steps.requestDone = await jennifer.locator("main").textContent();
  await jennifer.goto(`${base}/work/requests`);
  steps.myRequests = await jennifer.locator(".cards").textContent();
  await audit(jennifer, "demo-05-my-requests-done-phone");

  // 9. The journey owner reads the journeys on her phone: every page fits 375 px, and the bar
  // charts show their phone drawing.
  const olivia = await (await browser.newContext(phone)).newPage().then(watch);
  await signIn(olivia, process.env.OLIVIA);
  for (const [name, address] of [
    ["demo-07-journeys-phone", "/journeys"],
    ["demo-08-touchpoint-phone", "/journeys/loan-application/touchpoints/application-form"],
    ["demo-09-funnel-phone", "/journeys/loan-application/funnel"],
    ["demo-10-flow-phone", "/journeys/loan-application/flow"],
    ["demo-11-conformance-phone", "/journeys/loan-application/conformance"],
  ]) {
    await olivia.goto(`${base}${address}`);
    await audit(olivia, name);
  }
  steps.phoneCharts = await olivia.evaluate(() => {
    const narrow = document.querySelector("svg.chart-narrow");
    const wide = document.querySelector("svg.chart-wide");
    return { narrow: narrow ? getComputedStyle(narrow).display : null, wide: wide ? getComputedStyle(wide).display : null };
  });
  await olivia.goto(`${base}/journeys/loan-application/funnel`);
  steps.funnelCharts = await olivia.evaluate(() => {
    const narrow = document.querySelector("svg.chart-narrow");
    const wide = document.querySelector("svg.chart-wide");
    const text = narrow?.querySelector("text");
    return {
      narrow: narrow ? getComputedStyle(narrow).display : null,
      wide: wide ? getComputedStyle(wide).display : null,
      labelPx: text ? Math.round(text.getBoundingClientRect().height) : 0,
    };
  });

  // 10. Ada reads the outbox.
  const ada = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage().then(watch);
  await signIn(ada, process.env.ADA);
  await navigate(ada, "Outbox");
  steps.outbox = await ada.locator("main").textContent();
  await audit(ada, "demo-06-outbox-desktop");
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
