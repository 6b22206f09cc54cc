// The web app in a real browser (Chromium through playwright-core): Jennifer's whole to-be
// training request on a phone (her form, her manager's approval, Finance's steps, the emailed
// assessment link, "My requests"), Mallory refused, a journey owner on the loan map building a
// funnel, an analyst, an agent in Customer 360, a survey, and the administrators' list. axe-core
// checks every page.
//
// Environment: BASE (the server), CHROMIUM (its executable), SHOTS (where screenshots go),
// MAILDIR (where the SMTP server keeps mail), ADMIN (an admin token), WRITE_KEY, and the access
// tokens of the people. Prints one JSON object with what happened; the Rust test decides whether
// that is right.
import fs from "node:fs";
import path from "node:path";
import { chromium, helpers } from "./common.mjs";

const base = process.env.BASE;
const result = { pages: [], violations: [], steps: {} };
const steps = result.steps;
const { watch, audit, signIn, waitFor, openTask, navigate } = helpers({ base, shots: process.env.SHOTS, result });

async function api(method, url, body, auth) {
  const response = await fetch(`${base}${url}`, {
    method,
    headers: { "content-type": "application/json", authorization: auth ?? `Bearer ${process.env.ADMIN}` },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: await response.json().catch(() => null) };
}


const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM,
  headless: true,
  args: ["--no-sandbox"],
});
try {
  // 1. Jennifer, on a phone, asks for the training.
  const phone = await browser.newContext({ viewport: { width: 375, height: 812 }, isMobile: true, hasTouch: true });
  const jennifer = await phone.newPage().then(watch);
  await jennifer.goto(`${base}/work`);
  steps.redirectedToSignIn = jennifer.url().startsWith(`${base}/login`);
  await audit(jennifer, "01-sign-in-phone");
  await signIn(jennifer, process.env.JENNIFER);
  await audit(jennifer, "02-inbox-phone");
  await navigate(jennifer, "Request something");
  await jennifer.getByRole("link", { name: "Request professional training" }).click();
  steps.managerPrefilled = await jennifer.getByLabel("Your manager (approves it)").inputValue();
  // The provider's email is asked only for a new supplier: it goes once she ticks the box.
  steps.emailShownBefore = await jennifer.locator("#field-vendorEmail").isVisible();
  await jennifer.getByLabel("This provider is already one of our suppliers").check();
  steps.emailHiddenAfterTick = !(await jennifer.locator("#field-vendorEmail").isVisible());
  await jennifer.getByLabel("This provider is already one of our suppliers").uncheck();
  await audit(jennifer, "03-request-form-phone");
  // Sent empty: every problem named, at its field.
  await jennifer.getByRole("button", { name: "Send the request" }).click();
  steps.problems = await jennifer.locator(".summary li").allTextContents();
  await audit(jennifer, "04-request-form-errors-phone");
  await jennifer.getByLabel("Course or certification").fill("Negotiation Skills");
  await jennifer.getByLabel("Training provider").fill("Skills Academy");
  await jennifer.getByLabel("Cost (EUR)").fill("1200");
  await jennifer.getByLabel("Start date").fill("2026-12-01");
  await jennifer.getByRole("button", { name: "Send the request" }).click();
  await jennifer.waitForURL(/\/work\/requests\/\d+/);
  const requestUrl = jennifer.url().split("?")[0];
  steps.waitingWith = await jennifer.locator(".progress li").first().textContent();
  await audit(jennifer, "05-request-phone");
  await navigate(jennifer, "My requests");
  steps.myRequests = await jennifer.locator(".cards").textContent();
  await audit(jennifer, "06-my-requests-phone");
  steps.noHorizontalScroll = await jennifer.evaluate(
    () => document.documentElement.scrollWidth <= window.innerWidth,
  );

  // 2. Mallory cannot read it.
  const mallory = await (await browser.newContext()).newPage().then(watch);
  await signIn(mallory, process.env.MALLORY);
  const refused = await mallory.goto(requestUrl);
  steps.malloryStatus = refused.status();
  steps.malloryPage = await mallory.locator("main").textContent();

  // 3. Her manager approves it on a desktop, with one press.
  const desk = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const maria = await desk.newPage().then(watch);
  await signIn(maria, process.env.MARIA);
  await audit(maria, "07-inbox-desktop");
  await maria.getByRole("link", { name: "Approve the training request" }).click();
  await audit(maria, "08-approval-desktop");
  // Two buttons decide it; the reason a rejection needs is asked beside them.
  steps.reasonShown = await maria.locator("#field-reason").isVisible();
  steps.decision = await maria.locator(".decision button:not([hidden])").allTextContents();
  await maria.getByRole("button", { name: "Approve", exact: true }).click();
  await maria.waitForURL(/\/work\/requests\/\d+/);
  steps.afterApproval = await maria.locator(".progress").textContent();
  // Keyboard: the skip link is the first stop.
  await maria.keyboard.press("Tab");
  steps.firstTab = await maria.evaluate(() => document.activeElement.textContent);

  // 4. The budget system passes the check (a worker, through the API, with a key limited to
  // its topic: it may not see another topic's work).
  const worker = `Bearer ${process.env.WORKER_KEY}`;
  const budget = await waitFor("the budget check", async () => {
    const { body } = await api("GET", "/v1/work?topic=budget-check", undefined, worker);
    return body?.tasks?.[0]?.id;
  });
  steps.workerOtherTopic = (await api("GET", "/v1/work?topic=payments", undefined, worker)).status;
  const checked = await api("POST", `/v1/work/${budget}/complete`, { budgetOk: true }, worker);
  if (checked.status !== 200) throw new Error(`budget check: ${JSON.stringify(checked)}`);

  // 5. Finance adds the vendor, issues the PO and records the payment, in its pages (on a phone).
  const finn = await (await browser.newContext({ viewport: { width: 375, height: 812 }, isMobile: true, hasTouch: true })).newPage().then(watch);
  await signIn(finn, process.env.FINN);
  await openTask(finn, "Add the vendor");
  await audit(finn, "09-finance-task-phone");
  steps.financeFits = await finn.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
  await finn.getByLabel("Supplier number").fill("S-1042");
  await finn.getByLabel("Billing email").fill("billing@skills-academy.example");
  await finn.getByRole("button", { name: "Send", exact: true }).click();
  await finn.waitForURL(/\/work\/requests\/\d+/);
  await openTask(finn, "Issue the purchase order");
  await finn.getByLabel("Purchase order number").fill("PO-20931");
  await finn.getByRole("button", { name: "Send", exact: true }).click();
  await finn.waitForURL(/\/work\/requests\/\d+/);
  await openTask(finn, "Record the payment");
  await finn.getByLabel(/Amount paid/).fill("1200");
  await finn.getByLabel(/Paid on/).fill("2026-12-10");
  await finn.getByRole("button", { name: "Send", exact: true }).click();
  await finn.waitForURL(/\/work\/requests\/\d+/);
  steps.financeDone = await finn.locator(".progress").textContent();
  await audit(finn, "10-finance-request-phone");

  // 6. The learning system says the training is done (the collection API, as any tool would,
  // with its secret server key: the public write key only records events).
  const tracked = await api("POST", "/v1/track", { userId: "jennifer", event: "Training Completed" },
    `Basic ${Buffer.from(`${process.env.SERVER_KEY}:`).toString("base64")}`);
  if (tracked.status !== 200) throw new Error(`track: ${JSON.stringify(tracked)}`);

  // 7. The email reaches Jennifer; its link opens the assessment on her phone.
  const mail = await waitFor("the assessment email", async () => {
    for (const sub of ["new", "cur"]) {
      const dir = path.join(process.env.MAILDIR, sub);
      if (!fs.existsSync(dir)) continue;
      for (const file of fs.readdirSync(dir)) {
        const text = fs.readFileSync(path.join(dir, file), "utf8");
        if (text.includes("Invite Jennifer to the assessment")) return text;
      }
    }
    return null;
  });
  const link = mail.replace(/=\r?\n/g, "").split(/\s+/).find((w) => w.includes("/links/"));
  steps.emailLink = link.replace(base, "");
  const inbox = await (await browser.newContext({ viewport: { width: 375, height: 812 }, isMobile: true, hasTouch: true })).newPage().then(watch);
  await inbox.goto(link);
  steps.assessmentPage = await inbox.locator("main").textContent();
  await audit(inbox, "14-assessment-link-phone");
  await inbox.getByLabel(/How useful was it/).fill("5");
  await inbox.getByLabel("I would recommend it to colleagues").check();
  await inbox.getByLabel(/Anything else/).fill("Very practical");
  await inbox.getByRole("button", { name: "Send", exact: true }).click();
  steps.assessmentSent = await inbox.locator("main").textContent();

  // 8. Submitting it marked the goods received: her request is done.
  await jennifer.goto(requestUrl);
  steps.requestDone = await jennifer.locator("main").textContent();
  await audit(jennifer, "15-request-done-phone");
  await navigate(jennifer, "My requests");
  steps.myRequestsAtEnd = await jennifer.locator(".cards").textContent();

  // 9. A journey owner opens the loan map with live data, a card's detail, and builds a funnel.
  const owner = await (await browser.newContext({ viewport: { width: 1366, height: 900 } })).newPage().then(watch);
  await signIn(owner, process.env.OLIVIA);
  await navigate(owner, "Journeys");
  await owner.getByRole("link", { name: "Apply for a personal loan" }).click();
  steps.loanCards = await owner.locator("figure.map svg a.card-link").count();
  await audit(owner, "16-loan-map-desktop");
  await owner.locator('a.card-link[href$="/touchpoints/pre-acceptance"]').click();
  steps.loanTouchpoint = await owner.locator("h1").textContent();
  await audit(owner, "17-touchpoint-desktop");
  await owner.getByRole("link", { name: /Apply for a personal loan/ }).click();
  await owner.getByRole("link", { name: "Funnel", exact: true }).click();
  const chosen = ["application-form", "pre-acceptance", "loan-approved"];
  const selects = await owner.locator('select[name="step"]').count();
  for (let k = 0; k < selects; k++) {
    await owner.locator(`#step-${k + 1}`).selectOption(chosen[k] ?? "");
  }
  await owner.getByLabel("Window").fill("30d");
  await owner.getByLabel("In this order (other steps may come between)").check();
  await owner.getByLabel("Break down by").selectOption("segment");
  await owner.getByRole("button", { name: "Show the funnel" }).click();
  steps.funnel = await owner.locator("table:not(.breakdown) tbody tr td:nth-child(2)").allTextContents();
  steps.funnelBreakdown = await owner.locator("table.breakdown").textContent();
  await audit(owner, "18-funnel-desktop");
  await owner.getByRole("link", { name: "Flow", exact: true }).click();
  steps.flow = await owner.locator("main").textContent();
  await audit(owner, "19-flow-desktop");
  await owner.getByRole("link", { name: "Designed against actual", exact: true }).click();
  steps.conformance = await owner.locator("main").textContent();
  await audit(owner, "20-conformance-desktop");

  // 10. A CX analyst reads the journeys and the to-be map with its live figures.
  const analyst = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage().then(watch);
  await signIn(analyst, process.env.CHRIS);
  await navigate(analyst, "Journeys");
  steps.journeys = await analyst.locator("table").textContent();
  await audit(analyst, "11-journeys-desktop");
  await analyst.getByRole("link", { name: "Request professional training" }).click();
  steps.mapDrawn = (await analyst.locator("figure.map svg").count()) === 1;
  await audit(analyst, "12-journey-map-desktop");

  // 11. An agent finds a customer in Customer 360 by their email address.
  const agent = await (await browser.newContext({ viewport: { width: 1024, height: 800 } })).newPage().then(watch);
  await signIn(agent, process.env.ALEX);
  await navigate(agent, "Customers");
  await agent.getByLabel("Find a person").fill("dana@example.com");
  await agent.getByRole("button", { name: "Find" }).click();
  steps.customer = await agent.locator("main h2").first().textContent();
  steps.timeline = await agent.locator("table").last().textContent();
  await audit(agent, "13-customer-360-desktop");
  // By part of her name, in another letter case: a list to choose from, then her profile.
  await agent.getByLabel("Find a person").fill("ANA REY");
  await agent.getByRole("button", { name: "Find" }).click();
  steps.partialList = await agent.locator("main [role=status]").first().textContent();
  await agent.getByRole("link", { name: "Dana Reyes" }).click();
  steps.partial = await agent.locator("main h2").first().textContent();

  // 12. A survey link about the approval, answered on a phone. Jennifer's approval email asked
  // her already, and nobody is asked twice in 14 days: Maria is asked instead.
  const again = await api("POST", "/v1/surveys", { person: "jennifer", journey: "training-request", touchpoint: "manager-approval" });
  steps.surveyThrottled = `${again.status} ${JSON.stringify(again.body)}`;
  const survey = await api("POST", "/v1/surveys", { person: "maria", journey: "training-request", touchpoint: "manager-approval" });
  if (survey.status !== 200) throw new Error(`survey: ${JSON.stringify(survey)}`);
  const surveyUrl = survey.body.url.startsWith("http") ? survey.body.url : `${base}${survey.body.url}`;
  await inbox.goto(surveyUrl);
  await audit(inbox, "21-survey-phone");
  await inbox.locator("#csat-5").check();
  await inbox.locator("#ces-2").check();
  await inbox.locator("#nps-9").check();
  await inbox.getByLabel("Anything you want to tell us?").fill("Approved within a day");
  await inbox.getByRole("button", { name: "Send", exact: true }).click();
  steps.surveySent = await inbox.locator("main").textContent();

  // 13. An administrator's list of every request.
  const ada = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage().then(watch);
  await signIn(ada, process.env.ADA);
  await navigate(ada, "All requests");
  steps.adminList = await ada.locator("main").textContent();
  await audit(ada, "22-admin-requests-desktop");
  // 14. The administrator revokes Mallory's token in the browser: it is refused from then on.
  const mallory401 = `Bearer ${process.env.MALLORY}`;
  steps.tokenBefore = (await api("GET", "/v1/tasks", undefined, mallory401)).status;
  await navigate(ada, "Keys");
  await ada.locator("tbody tr", { hasText: "Mallory" }).getByRole("button", { name: /^Revoke/ }).click();
  steps.revoked = await ada.locator("main [role=status]").first().textContent();
  steps.tokenAfter = (await api("GET", "/v1/tasks", undefined, mallory401)).status;
  await audit(ada, "23-keys-revoked-desktop");
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
