//! `waymark demo`: a demo workspace served at once.
//!
//! It stores realistic synthetic events for the example journeys (the training request, as-is and
//! to-be, and the loan application): generated from each journey's own touchpoints and event
//! rules, over several channels, with anonymous website visits identified later, drop-offs, and
//! repeat contacts on phone touchpoints. The generator is seeded, and message ids are derived
//! from the seed, so running the demo again on the same database adds nothing.

use anyhow::Context as _;
use serde_json::{Map, Value, json};
use waymark_journey::{Channel, Journey, Kind, ValueMatch};
use waymark_server::mail::Mailer;
use waymark_store::prelude::*;
use waymark_store::{KeyKind, NewEvent};

use crate::Outcome;
use crate::cli::DemoArgs;

/// The journeys shipped in `examples/`, compiled in so the demo runs from anywhere.
const JOURNEYS: [(&str, &str); 3] = [
    (
        "training-request/as-is.yaml",
        include_str!("../../../examples/training-request/as-is.yaml"),
    ),
    (
        "training-request/to-be.yaml",
        include_str!("../../../examples/training-request/to-be.yaml"),
    ),
    (
        "loan-application/journey.yaml",
        include_str!("../../../examples/loan-application/journey.yaml"),
    ),
];

/// The to-be training request's process and its forms, compiled in like the journeys.
const PROCESS: &str = include_str!("../../../examples/training-request/process.yaml");
const FORMS: [(&str, &str); 6] = [
    (
        "request-training",
        include_str!("../../../examples/training-request/forms/request-training.form"),
    ),
    (
        "approve-training",
        include_str!("../../../examples/training-request/forms/approve-training.form"),
    ),
    (
        "add-vendor",
        include_str!("../../../examples/training-request/forms/add-vendor.form"),
    ),
    (
        "issue-po",
        include_str!("../../../examples/training-request/forms/issue-po.form"),
    ),
    (
        "record-payment",
        include_str!("../../../examples/training-request/forms/record-payment.form"),
    ),
    (
        "training-assessment",
        include_str!("../../../examples/training-request/forms/training-assessment.form"),
    ),
];

/// The people of the demo's organisation, one for each way of using the web app.
const DIRECTORY: &str = "id,name,email,department,manager,roles\n\
    jennifer,Jennifer Lee,jennifer@example.com,customer-success,maria,\n\
    maria,Maria Lopez,maria@example.com,customer-success,olivia,manager\n\
    finn,Finn Berg,finn@example.com,finance,olivia,finance\n\
    olivia,Olivia Chen,olivia@example.com,leadership,,journey-owner\n\
    chris,Chris Analyst,chris@example.com,cx,olivia,analyst\n\
    alex,Alex Agent,alex@example.com,support,olivia,agent\n\
    ada,Ada Admin,ada@example.com,it,olivia,admin\n\
    cleo,Cleo Nowak,cleo@example.com,call-centre,olivia,manager\n\
    carl,Carl Jansen,carl@example.com,call-centre,cleo,\n\
    hana,Hana Weber,hana@example.com,hr,olivia,manager\n";

/// What each demo person does, for the banner.
const ROLES: [(&str, &str); 10] = [
    ("jennifer", "asks for training (the to-be request)"),
    ("maria", "Jennifer's manager: approves"),
    ("finn", "Finance: adds vendors, issues POs, pays"),
    ("olivia", "journey owner: designs and reads the journeys"),
    ("chris", "analyst: funnels, flows, deviations"),
    ("alex", "agent: customer 360"),
    ("ada", "administrator: every request and its audit trail"),
    (
        "carl",
        "Call Centre: calls unhappy customers back (follow-ups)",
    ),
    ("cleo", "Call Centre's lead: told when a follow-up is late"),
    (
        "hana",
        "HR's lead: owns the training journey, approves its changes",
    ),
];

/// Deploys the directory, the journeys (once: the as-is, then the to-be of the training request,
/// which Olivia proposes and Hana, who owns it, approves through the approval request; Maria and
/// Finn are emailed what changed), the training process and its forms.
fn set_up(store: &dyn Store, mailer: Option<&Mailer>, now: i64) -> anyhow::Result<()> {
    let users = waymark_server::automation::users_from_csv(DIRECTORY)
        .map_err(|e| anyhow::anyhow!("the demo directory: {}", e.message))?;
    store.put_users(&users)?;
    for ((_, text), journey) in JOURNEYS.iter().zip(journeys()?) {
        if store
            .journey_versions(&journey.id)?
            .iter()
            .any(|d| d.source == *text)
        {
            continue;
        }
        if waymark_server::changes::gated_in(store, &journey)? {
            approved(store, mailer, &journey, text, now)?;
            continue;
        }
        let (version, created) = store.deploy_journey(&journey.id, &journey.version, text, now)?;
        if created {
            waymark_server::journeys::record_version(store, &journey.id, version, "olivia", now);
        }
    }
    faster_payment(store, now)?;
    store.deploy_process(
        "training-request",
        "Request professional training",
        "yaml",
        PROCESS,
        now,
    )?;
    for (key, schema) in FORMS {
        store.put_form(key, schema, now)?;
    }
    // The call centre watches its follow-up calls: the demo's last days have a drift in them
    // (see `events`), so the alert fires on the first check.
    let watched = store
        .alert_rules()?
        .iter()
        .any(|r| r.rule.journey == "loan-application" && r.rule.kpi == DRIFTING_KPI);
    if !watched {
        store.add_alert_rule(&waymark_store::alerts::NewAlertRule {
            journey: "loan-application".into(),
            kpi: DRIFTING_KPI.into(),
            rule: "above 40% over 7d".into(),
            webhook: None,
            author: "olivia".into(),
            created_us: now,
        })?;
    }
    Ok(())
}

/// A to-be version made current the way every one is: Olivia proposes it, Hana (who leads HR,
/// the journey's owner) approves its five answers in her task, and Waymark publishes it.
fn approved(
    store: &dyn Store,
    mailer: Option<&Mailer>,
    journey: &waymark_journey::Journey,
    text: &str,
    now: i64,
) -> anyhow::Result<()> {
    use waymark_server::changes::{self, Proposed};
    let Proposed::Waiting {
        request, approver, ..
    } = changes::propose(store, journey, text, "olivia", now)?
    else {
        return Ok(());
    };
    let person = store.user(&approver)?.ok_or_else(|| {
        anyhow::anyhow!("the demo's approver `{approver}` is not in its directory")
    })?;
    let task = store
        .instance_tasks(request)?
        .into_iter()
        .find(|t| t.node == changes::APPROVAL && t.status == "open")
        .ok_or_else(|| anyhow::anyhow!("the approval request {request} has no open approval"))?;
    let mut values = serde_json::Map::new();
    values.insert("approved".into(), serde_json::Value::Bool(true));
    waymark_server::work::complete(
        store,
        &person,
        waymark_server::work::TaskId::of(&task),
        values,
        now,
    )
    .map_err(|e| anyhow::anyhow!("approving the demo's to-be version: {e}"))?;
    changes::settle(store, mailer, now);
    Ok(())
}

/// A change waiting in Hana's inbox: Olivia proposes that Finance pays training providers within
/// a day (the to-be says two). Proposed once: a rerun finds it.
fn faster_payment(store: &dyn Store, now: i64) -> anyhow::Result<()> {
    let Some((_, to_be)) = JOURNEYS
        .iter()
        .find(|(name, _)| name.ends_with("to-be.yaml"))
    else {
        return Ok(());
    };
    let at = to_be
        .find("Finance pays the training provider")
        .context("the to-be has the payment")?;
    let (before, after) = to_be.split_at(at);
    let text = format!("{before}{}", after.replacen("target: 2d", "target: 1d", 1));
    let proposed = store
        .proposals(Some("training-request"), 20)?
        .iter()
        .any(|p| p.source == text);
    let journey = waymark_journey::check(&text)
        .journey
        .context("the faster payment reads")?;
    if !proposed {
        waymark_server::changes::propose(store, &journey, &text, "olivia", now)?;
    }
    Ok(())
}

/// The KPI the demo's drift moves, and the days before the end of the events it lasts.
const DRIFTING_KPI: &str = "follow-up-calls-repeated";
const DRIFT_DAYS: i64 = 20;

pub const ADMIN_TOKEN: &str = "demo-admin-token";
pub const WRITE_KEY: &str = "demo-write-key";
/// The learning system's secret key: its events move requests.
pub const SERVER_KEY: &str = "demo-server-key";

/// What each department may spend on training in the demo's budget system.
pub const BUDGETS: [(&str, f64); 4] = [
    ("customer-success", 3_000.0),
    ("finance", 2_000.0),
    ("support", 1_500.0),
    ("sales", 1_000.0),
];

/// The demo's budget system: it takes the `budget-check` worker tasks, as a real budget system
/// would through `GET /v1/work?topic=budget-check`, and answers from a budget per department.
/// A request within what is left of the requester's department's budget goes on
/// (`budgetOk`); one beyond it is refused. What earlier approved requests cost counts.
pub fn budget_system(store: &dyn Store, now: i64) {
    // Only its own topic, found by the database, a page at a time.
    let mut after = None;
    let mut tasks = Vec::new();
    loop {
        let Ok((page, next)) = store.worker_tasks(Some("budget-check"), after, 500) else {
            return;
        };
        tasks.extend(page);
        match next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    for task in tasks
        .iter()
        .filter(|t| t.topic.as_deref() == Some("budget-check"))
    {
        if let Err(error) = check_budget(store, task, now) {
            tracing::warn!(instance = task.instance, %error, "the demo's budget system could not answer");
        }
    }
}

fn cost_of(variables: &Map<String, Value>) -> f64 {
    variables.get("cost").and_then(Value::as_f64).unwrap_or(0.0)
}

fn check_budget(
    store: &dyn Store,
    task: &waymark_store::workflow::TaskRow,
    now: i64,
) -> anyhow::Result<()> {
    let instance = store
        .instance(task.instance)?
        .context("the request is gone")?;
    let department = store
        .user(&instance.requester)?
        .and_then(|u| u.department)
        .unwrap_or_default();
    let budget = BUDGETS
        .iter()
        .find(|(d, _)| *d == department)
        .map_or(0.0, |(_, b)| *b);
    // Spent: the requests of the department the budget system said yes to.
    let mut spent = 0.0;
    for other in store.instance_list(None, Some("training-request"), None, 100_000)? {
        if other.id == instance.id {
            continue;
        }
        let Some(other) = store.instance(other.id)? else {
            continue;
        };
        let v = &other.state.variables;
        if v.get("budgetOk") == Some(&Value::Bool(true))
            && v.get("budgetDepartment").and_then(Value::as_str) == Some(department.as_str())
        {
            spent += cost_of(v);
        }
    }
    let cost = cost_of(&instance.state.variables);
    let left = budget - spent;
    let ok = cost <= left;
    let mut result = Map::new();
    result.insert("budgetOk".into(), Value::Bool(ok));
    result.insert("budgetDepartment".into(), Value::from(department));
    result.insert(
        "budgetLeft".into(),
        Value::from(if ok { left - cost } else { left }),
    );
    store.advance(
        task.instance,
        waymark_workflow::engine::Command::Complete {
            task: task.task,
            variables: result,
        },
        "budget system",
        now,
    )?;
    Ok(())
}

fn journeys() -> anyhow::Result<Vec<Journey>> {
    JOURNEYS
        .iter()
        .map(|(name, text)| {
            waymark_journey::check(text)
                .journey
                .with_context(|| format!("the shipped journey {name} has errors"))
        })
        .collect()
}

/// The properties an event rule requires, so that the generated event matches it.
fn rule_properties(
    rule: &waymark_journey::EventRule,
    rng: &mut fastrand::Rng,
) -> Map<String, Value> {
    rule.properties
        .iter()
        .map(|(name, condition)| {
            let value = match condition {
                ValueMatch::Equals(value) => value.clone(),
                ValueMatch::OneOf(values) => values[rng.usize(0..values.len())].clone(),
            };
            (name.clone(), Value::from(value))
        })
        .collect()
}

/// One person's pass through a journey, as Segment calls.
fn walk(
    journey: &Journey,
    person: &str,
    seed: u64,
    start_us: i64,
    drifting: bool,
    improved: bool,
    rng: &mut fastrand::Rng,
) -> Vec<NewEvent> {
    let mut events = Vec::new();
    let mut time = start_us;
    let anonymous = format!("anon-{person}");
    let mut identified = false;
    let mut number = 0;
    let mut push = |events: &mut Vec<NewEvent>,
                    kind: &str,
                    name: Option<&str>,
                    user: Option<&str>,
                    time: i64,
                    mut body: Map<String, Value>| {
        let message_id = format!("demo-{seed}-{}-{person}-{number}", journey.id);
        number += 1;
        body.insert("type".into(), kind.into());
        body.insert("messageId".into(), message_id.clone().into());
        body.insert(
            "timestamp".into(),
            waymark_eventlog::time::format_micros(time).into(),
        );
        if let Some(user) = user {
            body.insert("userId".into(), user.into());
        }
        body.insert("anonymousId".into(), anonymous.clone().into());
        events.push(NewEvent {
            message_id,
            kind: kind.to_string(),
            name: name.map(str::to_string),
            user_id: user.map(str::to_string),
            anonymous_id: Some(anonymous.clone()),
            timestamp_us: time,
            received_us: time,
            body: Value::Object(body).to_string(),
        });
    };
    let touchpoints: Vec<_> = journey.touchpoints().map(|(_, tp)| tp).collect();
    // A segment trait that matters: returning customers know the way, so they drop off and call
    // back less often than new ones (a `--by plan` breakdown shows it).
    let returning = rng.u8(0..100) < 40;
    // Since the application is filled in from the calculator (the demo's delivered initiative),
    // fewer people give up on the way.
    let drop_off = match (returning, improved) {
        (true, false) => 3,
        (false, false) => 8,
        (true, true) => 2,
        (false, true) => 4,
    };
    let callback = match (returning, drifting) {
        (_, true) => 95,
        (true, false) => 18,
        (false, false) => 38,
    };
    // Frustration builds with repeated contacts and slow steps; survey answers reflect it.
    let mut frustration = 0.0_f64;
    let mut finished = true;
    let mut callbacks: Vec<(&waymark_journey::Touchpoint, &waymark_journey::EventRule)> =
        Vec::new();
    for (index, tp) in touchpoints.iter().enumerate() {
        if index > 0 && rng.u8(0..100) < drop_off {
            finished = false;
            break; // drop-off
        }
        if tp.optional && rng.bool() {
            continue;
        }
        let Some(rule) = tp.events.first() else {
            continue;
        };
        // Contacts by phone or chat repeat now and then, after the journey has moved on (the
        // customer calls back because the step did not settle it): the repeat contacts Waymark
        // looks for. They are made after the next touchpoint.
        let repeats =
            if matches!(tp.channel, Channel::Phone | Channel::Chat) && rng.u8(0..100) < callback {
                1 + rng.usize(0..2)
            } else {
                0
            };
        let mut emissions = vec![(*tp, rule)];
        emissions.append(&mut callbacks);
        callbacks = vec![(*tp, rule); repeats];
        frustration += repeats as f64;
        for (tp, rule) in emissions {
            // The first website visit is anonymous; the person identifies right after it.
            let user = if identified || !(index == 0 && tp.channel == Channel::Web) {
                Some(person)
            } else {
                None
            };
            let mut body = Map::new();
            body.insert("event".into(), rule.event.clone().into());
            // The channel and department go in the properties too, where journey rules (and
            // `journey discover`) read them; `context` is Segment's place for the sending library.
            let mut properties = rule_properties(rule, rng);
            properties
                .entry("channel")
                .or_insert_with(|| tp.channel.as_str().into());
            properties
                .entry("department")
                .or_insert_with(|| tp.department.clone().into());
            body.insert("properties".into(), Value::Object(properties));
            body.insert(
                "context".into(),
                json!({ "channel": tp.channel.as_str(), "department": tp.department }),
            );
            push(&mut events, "track", Some(&rule.event), user, time, body);
            if !identified {
                identified = true;
                let traits = json!({
                    "email": format!("{person}@example.com"),
                    "name": person.replace('-', " "),
                    "plan": if returning { "returning" } else { "new" },
                    "persona": journey.serves.first(),
                });
                let mut identify = Map::new();
                identify.insert("traits".into(), traits);
                push(
                    &mut events,
                    "identify",
                    None,
                    Some(person),
                    time + 60_000_000,
                    identify,
                );
            }
            let target = tp.target.map_or(3_600.0, |d| d.as_secs_f64()).max(60.0);
            let took = 0.3 + rng.f64() * 2.0;
            if took > 1.0 {
                frustration += (took - 1.0) * 0.1;
            }
            time += (target * took * 1e6) as i64;
        }
        // Customer-facing conversations and moments of truth ask for a CSAT rating now and then.
        let asks = tp.is_customer_facing() && (tp.moment_of_truth || tp.kind == Kind::Conversation);
        if asks && identified && rng.u8(0..100) < 40 {
            let csat = (5.4 - 0.8 * frustration - rng.f64())
                .round()
                .clamp(1.0, 5.0);
            let mut body = Map::new();
            body.insert("event".into(), "Survey Answered".into());
            body.insert(
                "properties".into(),
                json!({ "csat": csat, "touchpoint": tp.id, "channel": "email", "comment": if csat <= 2.0 { "Too many calls about the same thing" } else { "Fine" } }),
            );
            body.insert("context".into(), json!({ "channel": "email" }));
            time += 3_600_000_000;
            push(
                &mut events,
                "track",
                Some("Survey Answered"),
                Some(person),
                time,
                body,
            );
        }
    }
    // Who finished is asked how likely they are to recommend it.
    if finished && identified && rng.u8(0..100) < 60 {
        let nps = (10.0 - 2.0 * frustration - rng.f64() * 2.0)
            .round()
            .clamp(0.0, 10.0);
        let mut body = Map::new();
        body.insert("event".into(), "Survey Answered".into());
        body.insert(
            "properties".into(),
            json!({ "nps": nps, "channel": "email" }),
        );
        body.insert("context".into(), json!({ "channel": "email" }));
        push(
            &mut events,
            "track",
            Some("Survey Answered"),
            Some(person),
            time + 86_400_000_000,
            body,
        );
    }
    events
}

/// The demo's events: `people` people spread over the journeys, starting within the last 90 days.
pub fn events(people: usize, seed: u64, now_us: i64) -> anyhow::Result<Vec<NewEvent>> {
    let journeys = journeys()?;
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut all = Vec::new();
    for n in 0..people {
        // Employees ask for training (as-is before the change, to-be after); customers apply for loans.
        let journey = match n % 10 {
            0..=2 => &journeys[0],
            3..=5 => &journeys[1],
            _ => &journeys[2],
        };
        let person = if journey.id == "loan-application" {
            format!("customer-{n}")
        } else {
            format!("employee-{n}")
        };
        let start = now_us - rng.i64(1..90 * 86_400) * 1_000_000;
        // A drift: in the last days, the call centre's follow-ups leave most customers calling
        // back (the alert rule set up on them fires).
        let drifting =
            journey.id == "loan-application" && start > now_us - DRIFT_DAYS * 86_400_000_000;
        let improved = journey.id == "loan-application"
            && start >= now_us - crate::demo_plans::IMPROVED_DAYS * 86_400_000_000;
        all.extend(walk(
            journey, &person, seed, start, drifting, improved, &mut rng,
        ));
    }
    // Nothing lies after `now_us`: journeys that would go on are still under way.
    all.retain(|e| e.timestamp_us <= now_us);
    Ok(all)
}

/// The start of the week `now_us` is in (Monday, 00:00 UTC): the demo's events end there, so
/// every trend period shown is whole and nothing lies in the future.
pub fn week_start(now_us: i64) -> i64 {
    const DAY: i64 = 86_400 * 1_000_000;
    let day = now_us.div_euclid(DAY);
    // 1970-01-01 was a Thursday: days since a Monday are (day + 3) mod 7.
    (day - (day + 3).rem_euclid(7)) * DAY
}

pub fn run(args: DemoArgs) -> anyhow::Result<Outcome> {
    let store = waymark_store::open(&args.db, &Default::default())
        .with_context(|| format!("cannot open {}", args.db))?;
    store.ensure_key(KeyKind::Admin, ADMIN_TOKEN)?;
    store.ensure_key(KeyKind::Write, WRITE_KEY)?;
    store.ensure_key(KeyKind::Server, SERVER_KEY)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64);
    // Timestamps derive from a fixed day (the week's start), so the same seed gives the same
    // events all week, and none lies after it.
    let anchor = week_start(now);
    let events = events(args.people, args.seed, anchor)?;
    let unhappy = crate::demo_plans::unhappy_answers(&events, anchor);
    let appended = store.append(events)?;
    let total = store.count_events()?;
    // What Waymark mails while setting up lands in the demo's mailboxes, as it does later.
    let mailer = Mailer::in_app(
        store.clone(),
        "Waymark <waymark@demo.example>",
        &format!("http://{}", args.listen),
    )
    .map_err(|problem| anyhow::anyhow!("the demo's mailbox: {problem}"))?;
    set_up(store.as_ref(), Some(&mailer), anchor)?;
    crate::demo_plans::seed(store.as_ref(), anchor)?;
    crate::demo_plans::follow_ups(store.as_ref(), &unhappy)?;
    // Access tokens to sign in as each demo person (new ones on every run).
    let tokens = ROLES
        .iter()
        .map(|(id, what)| Ok((*id, *what, store.issue_user_token(id)?)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let outgoing = crate::serve::Outgoing {
        keep_mail: true,
        demo: true,
        workers: vec![Box::new(budget_system)],
        ..Default::default()
    };
    crate::serve::serve_store(store, &args.listen, outgoing, |address| {
        println!("waymark demo listening on http://{address}");
        println!(
            "  journeys: training-request (as-is and to-be), loan-application (see examples/)"
        );
        println!(
            "  events: {total} stored ({} new) for {} people",
            appended.inserted, args.people
        );
        println!("  admin token: {ADMIN_TOKEN}   (Authorization: Bearer {ADMIN_TOKEN})");
        println!(
            "  write key:   {WRITE_KEY}   (HTTP Basic user name, for Segment/RudderStack clients; records events only)"
        );
        println!("  server key:  {SERVER_KEY}   (the learning system's: its events move requests)");
        println!(
            "  budget system: answers budget checks from a budget per department ({})",
            BUDGETS
                .iter()
                .map(|(d, b)| format!("{d} {b:.0}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        println!(
            "  mail is kept in the app: each person reads theirs under Mail, administrators the Outbox"
        );
        println!(
            "  try: curl -H 'Authorization: Bearer {ADMIN_TOKEN}' http://{address}/v1/profiles/employee-3@example.com"
        );
        println!(
            "  API: http://{address}/openapi.json   metrics: http://{address}/metrics (admin token)"
        );
        println!("  analyse: waymark analyze variants --db {}", args.db);
        println!(
            "  journey figures: waymark journey report examples/loan-application/journey.yaml --db {}",
            args.db
        );
        println!("  web app: http://{address}/login — sign in with an access token:");
        for (id, what, token) in &tokens {
            println!("    {id:<9} {token}   {what}");
        }
        println!("  stop with Ctrl-C");
    })?;
    Ok(Outcome::Fine)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_week_starts_on_monday() {
        const DAY: i64 = 86_400 * 1_000_000;
        // 2026-12-04 is a Friday; its week began on Monday 2026-11-30.
        let friday = waymark_eventlog::time::parse_iso8601("2026-12-04T17:00:00Z").expect("time");
        let monday = waymark_eventlog::time::parse_iso8601("2026-11-30T00:00:00Z").expect("time");
        assert_eq!(week_start(friday), monday);
        assert_eq!(week_start(monday), monday);
        assert_eq!(week_start(monday - 1), monday - 7 * DAY);
        // Nothing the demo makes lies after it.
        let events = events(60, 7, monday).expect("events");
        assert!(!events.is_empty());
        assert!(events.iter().all(|e| e.timestamp_us <= monday));
    }

    /// The budget system says yes within what is left of the department's budget, and no beyond
    /// it, counting what it approved before; a request it refuses is declined.
    #[test]
    fn the_budget_system_refuses_a_request_over_the_department_budget() {
        let store = waymark_store::open_in_memory().expect("store");
        let now = 1_796_000_000_000_000;
        set_up(store.as_ref(), None, now).expect("set up");
        let jennifer = store.user("jennifer").expect("read").expect("jennifer");
        let maria = store.user("maria").expect("read").expect("maria");
        let request = |cost: f64| {
            let values =
                json!({ "course": "C", "vendor": "V", "cost": cost, "startDate": "2026-12-01" });
            let instance = waymark_server::work::start(
                store.as_ref(),
                &jennifer,
                "training-request",
                values.as_object().cloned().expect("object"),
                now,
            )
            .expect("start");
            let approval = store
                .instance_tasks(instance)
                .expect("tasks")
                .into_iter()
                .find(|t| t.status == "open")
                .expect("approval");
            let mut approve = Map::new();
            approve.insert("approved".into(), Value::Bool(true));
            waymark_server::work::complete(
                store.as_ref(),
                &maria,
                waymark_server::work::TaskId::of(&approval),
                approve,
                now,
            )
            .expect("approve");
            budget_system(store.as_ref(), now);
            store
                .instance(instance)
                .expect("read")
                .expect("instance")
                .state
                .variables
        };
        // customer-success has 3,000: 2,000 goes on, 1,500 more does not, 1,000 still fits.
        let first = request(2_000.0);
        assert_eq!(first["budgetOk"], true, "{first:?}");
        assert_eq!(first["budgetLeft"], 1_000.0);
        let second = request(1_500.0);
        assert_eq!(second["budgetOk"], false, "{second:?}");
        let third = request(1_000.0);
        assert_eq!(third["budgetOk"], true, "{third:?}");
        assert_eq!(third["budgetLeft"], 0.0);
        assert!(
            store
                .open_tasks()
                .expect("tasks")
                .iter()
                .all(|t| t.topic.as_deref() != Some("budget-check")),
            "every check answered"
        );
    }
}
