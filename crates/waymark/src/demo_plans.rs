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
//!
//! And the follow-ups the last days' unhappy survey answers opened (`follow_ups`), some already
//! contacted and closed by the Call Centre, with the code the survey page and the inbox run.

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

/// How many of the latest unhappy answers the demo follows up.
const FOLLOWED: usize = 12;

/// A survey answer of the demo's events, as the follow-ups read it.
#[derive(Debug, Clone)]
pub struct Answer {
    person: String,
    touchpoint: String,
    message_id: String,
    at_us: i64,
    answers: waymark_server::feedback::Answers,
}

/// The loan journey's latest [`FOLLOWED`] unhappy survey answers until `end`.
pub fn unhappy_answers(events: &[waymark_store::NewEvent], end: i64) -> Vec<Answer> {
    let mut found: Vec<Answer> = events
        .iter()
        .filter(|e| e.name.as_deref() == Some(waymark_server::feedback::SURVEY_EVENT))
        .filter(|e| e.timestamp_us <= end)
        .filter_map(|e| {
            let person = e.user_id.clone().filter(|p| p.starts_with("customer-"))?;
            let body: serde_json::Value = serde_json::from_str(&e.body).ok()?;
            let properties = &body["properties"];
            let number = |k: &str| properties[k].as_f64().map(|v| v as u8);
            let answers = waymark_server::feedback::Answers {
                csat: number("csat"),
                nps: number("nps"),
                ces: number("ces"),
                comment: properties["comment"].as_str().map(str::to_string),
            };
            waymark_server::followups::unhappy(&answers)?;
            Some(Answer {
                person,
                touchpoint: properties["touchpoint"].as_str()?.to_string(),
                message_id: e.message_id.clone(),
                at_us: e.timestamp_us,
                answers,
            })
        })
        .collect();
    found.sort_by_key(|a| std::cmp::Reverse(a.at_us));
    found.truncate(FOLLOWED);
    found
}

/// Opens a follow-up for each answer (once per store), an hour after it; of the Call Centre's,
/// Carl has contacted the older half and closed the oldest third.
pub fn follow_ups(store: &dyn Store, answers: &[Answer]) -> anyhow::Result<()> {
    if !store
        .instance_list(None, Some(waymark_server::followups::PROCESS), None, 1)?
        .is_empty()
    {
        return Ok(());
    }
    let carl = store
        .user("carl")?
        .context("the demo directory has no Carl")?;
    let mut opened = Vec::new();
    for answer in answers.iter().rev() {
        let answered = waymark_server::followups::Answered {
            journey: JOURNEY,
            touchpoint: &answer.touchpoint,
            person: &answer.person,
            key: &answer.message_id,
        };
        let at = answer.at_us + 3_600_000_000;
        if let Some(id) = waymark_server::followups::open(store, &answered, &answer.answers, at)
            .map_err(anyhow::Error::msg)?
        {
            opened.push((id, at));
        }
    }
    let hour = 3_600_000_000_i64;
    // Carl works the Call Centre's; other departments' wait for them.
    let mut his = Vec::new();
    for (id, at) in opened {
        let for_him = store
            .instance_tasks(id)?
            .iter()
            .any(|t| t.status == "open" && t.is_for(&carl));
        if for_him {
            his.push((id, at));
        }
    }
    let opened = his;
    for (k, (id, at)) in opened.iter().enumerate() {
        let steps: &[(&str, serde_json::Value, i64)] = if k < opened.len() / 3 {
            &[
                (
                    waymark_server::followups::FIRST_CONTACT,
                    serde_json::json!({ "contactedBy": "phone", "heard": "The call did not settle it; they had to call twice." }),
                    5 * hour,
                ),
                (
                    waymark_server::followups::CLOSE,
                    serde_json::json!({ "outcome": "resolved", "outcomeNotes": "Called back with the missing documents list; booked the appointment." }),
                    30 * hour,
                ),
            ]
        } else if k < opened.len() / 2 {
            &[(
                waymark_server::followups::FIRST_CONTACT,
                serde_json::json!({ "contactedBy": "email", "heard": "Waiting for our answer on the documents." }),
                20 * hour,
            )]
        } else {
            &[]
        };
        for (node, values, after) in steps {
            let task = store
                .instance_tasks(*id)?
                .into_iter()
                .find(|t| t.status == "open" && t.node == *node)
                .with_context(|| format!("follow-up {id} has no open step {node}"))?;
            waymark_server::work::complete(
                store,
                &carl,
                waymark_server::work::TaskId::of(&task),
                values.as_object().cloned().unwrap_or_default(),
                at + after,
            )
            .map_err(|e| anyhow::anyhow!("follow-up {id}: {e}"))?;
        }
    }
    Ok(())
}
