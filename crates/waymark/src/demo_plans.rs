//! The demo's opportunities and initiatives, raised on its own events with the code the
//! "Raise an opportunity" button runs: evidence measured from the journey's report, baselines
//! from the KPIs' observations. Once per store (a demo started again keeps what people changed).
//!
//! - An opportunity at the application form (people giving up on it), solved by the initiative
//!   "Fill in the application from the calculator", delivered `IMPROVED_DAYS` before the events
//!   end: the demo's walks give up less from then on, so its KPI moved.
//! - An opportunity at the lead follow-up call (customers calling back), planned in an active
//!   initiative started ten days before the end, whose baseline holds the drift the alert
//!   fires on.
//! - A proposed initiative that delivers the training request's to-be version.

use anyhow::Context as _;
use waymark_analytics::journey::{LogSource as _, Options};
use waymark_server::evidence;
use waymark_server::improve;
use waymark_server::plans::{
    Delivery, Goal, InitiativeStatus, Link, OpportunityStatus, Score, Source, day_of,
};
use waymark_store::Store;
use waymark_store::plans::PlanKind;

/// The days before the end of the demo's events since which applications are filled in from
/// the calculator.
pub const IMPROVED_DAYS: i64 = 45;
const DAY: i64 = 86_400_000_000;
const JOURNEY: &str = "loan-application";

/// Raises the demo's opportunities and adds its initiatives, unless there are plans already.
pub fn seed(store: &dyn Store, end: i64) -> anyhow::Result<()> {
    if !store.plans(PlanKind::Opportunity)?.is_empty()
        || !store.plans(PlanKind::Initiative)?.is_empty()
    {
        return Ok(());
    }
    let deployed = store
        .journey(JOURNEY, None)?
        .context("the demo's loan journey is not deployed")?;
    let journey = waymark_journey::check(&deployed.source)
        .journey
        .context("the demo's loan journey does not read")?;
    let (log, _) = waymark_store::stored_log(store)?;
    let report = waymark_analytics::journey::report(&journey, &log, &Options::default())?;
    let cut = log.cut(&journey, &Options::default())?;
    let observed = improve::observe_all(&journey, &cut.instances, end);
    let by = "olivia";

    let raise = |touchpoint: &str, status, score, problem: &str| -> anyhow::Result<i64> {
        let comments = waymark_analytics::journey::comments(&journey, &log, touchpoint, 25);
        let found = evidence::of_touchpoint(&journey, &report, touchpoint, &comments);
        let title = evidence::title_for(&journey, touchpoint, &found, false);
        let mut o = improve::raised(
            by,
            by.to_string(),
            Link {
                journey: JOURNEY.into(),
                touchpoint: Some(touchpoint.into()),
            },
            (
                Source {
                    kind: "touchpoint".into(),
                    words: format!("the touchpoint {}", evidence::name_of(&journey, touchpoint)),
                    href: Some(format!("/journeys/{JOURNEY}/touchpoints/{touchpoint}")),
                },
                found,
            ),
            title,
            end,
        );
        o.status = status;
        o.score = score;
        o.problem = problem.to_string();
        Ok(store.add_plan(PlanKind::Opportunity, &o.text(), by, end)?)
    };
    let form = raise(
        "application-form",
        OpportunityStatus::Solved,
        Score {
            customer_value: 4,
            business_value: 5,
            effort: 2,
        },
        "People who worked out their loan in the calculator type it all again in the application, and many give up half-way.",
    )?;
    let calls = raise(
        "lead-follow-up",
        OpportunityStatus::Planned,
        Score {
            customer_value: 5,
            business_value: 3,
            effort: 3,
        },
        "The follow-up call rarely settles what the customer needs, so they call back, often more than once.",
    )?;

    let goal = |kpi: &str, target: Option<f64>, start: i64| -> anyhow::Result<Goal> {
        let o = observed
            .get(kpi)
            .with_context(|| format!("the loan journey has no measurable KPI `{kpi}`"))?;
        Ok(Goal {
            journey: JOURNEY.into(),
            kpi: kpi.into(),
            target,
            baseline: Some(improve::baseline(o, start, end)),
        })
    };
    let delivered = end - IMPROVED_DAYS * DAY;
    let mut prefill = improve::proposed(by, by.into(), end);
    prefill.title = "Fill in the application from the calculator".into();
    prefill.summary = "The calculator's figures carry over into the application form, which then asks only what it does not know yet.".into();
    prefill.status = InitiativeStatus::Done;
    prefill.departments = vec!["Digital".into(), "Retail Lending".into()];
    prefill.start = Some(day_of(delivered - 30 * DAY));
    prefill.target_date = Some(day_of(delivered));
    prefill.measure_from = Some(day_of(delivered));
    prefill.opportunities = vec![form];
    prefill.goals = vec![goal(
        "applications-completed",
        Some(0.7),
        delivered - 30 * DAY,
    )?];

    let started = end - 10 * DAY;
    let mut callback = improve::proposed(by, by.into(), end);
    callback.title = "Call back once, with everything needed".into();
    callback.summary = "The follow-up call gets the application's details and the authority to settle the common questions on the spot.".into();
    callback.status = InitiativeStatus::Active;
    callback.departments = vec!["Call Centre".into(), "Retail Lending".into()];
    callback.start = Some(day_of(started));
    callback.target_date = Some(day_of(end + 80 * DAY));
    callback.opportunities = vec![calls];
    callback.goals = vec![goal("follow-up-calls-repeated", None, started)?];

    let training = store.journey_versions("training-request")?;
    let mut one_form = improve::proposed(by, by.into(), end);
    one_form.title = "One Request Training form".into();
    one_form.summary = "Jennifer fills in one form on her phone; it routes itself to her manager, the budget check and Finance.".into();
    one_form.departments = vec![
        "Customer Success".into(),
        "Finance".into(),
        "HR Learning & Development".into(),
    ];
    one_form.start = Some(day_of(end + 7 * DAY));
    one_form.target_date = Some(day_of(end + 120 * DAY));
    // Proposed: its baselines are measured when it starts.
    one_form.goals = ["time-to-complete", "approval-lead-time"]
        .into_iter()
        .map(|kpi| Goal {
            journey: "training-request".into(),
            kpi: kpi.into(),
            target: None,
            baseline: None,
        })
        .collect();
    one_form.delivers = training
        .iter()
        .rev()
        .find(|v| v.label == "to-be")
        .map(|v| Delivery {
            journey: "training-request".into(),
            version: Some(v.version),
        });

    for mut initiative in [prefill, callback, one_form] {
        initiative.history.push(waymark_server::plans::Change {
            by: by.into(),
            at_us: end,
            words: "added it".into(),
        });
        let problems = initiative.check();
        anyhow::ensure!(
            problems.is_empty(),
            "the demo's initiative “{}” does not check: {problems:?}",
            initiative.title
        );
        store.add_plan(PlanKind::Initiative, &initiative.text(), by, end)?;
    }
    Ok(())
}
