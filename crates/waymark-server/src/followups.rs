//! Closed-loop feedback: a follow-up for every unhappy customer.
//!
//! A survey answer with a low score (CSAT 1–2 of 5, NPS 0–6, CES 5–7 of 7) or a negative comment
//! (VADER's compound score at or below −0.05, its authors' threshold) opens a request of the
//! built-in process `follow-up` (`followups/process.yaml`, deployed by [`install`]) for the
//! department that owns the touchpoint, once per answer. The request carries the customer's
//! context as it stood: who they are, where they are in the journey, what happened lately on each
//! channel, and their answer. Someone in the department contacts them (due in two working days;
//! late, the department's lead is emailed), then closes it with the outcome. [`measure`] reads
//! each follow-up's time to first contact, time to close, outcome, and recovery: the customer's
//! next score after it closed.

use std::sync::OnceLock;

use serde_json::{Map, Value, json};
use waymark_store::Store;
use waymark_store::workflow::User;

use crate::context::{self, Deployed};
use crate::feedback::Answers;
use crate::work::Viewer;

/// The process follow-ups run as. Ids that start with `waymark-` are Waymark's own: the API
/// refuses to deploy them ([`reserved`]), and nobody starts them by hand.
pub const PROCESS: &str = "waymark-follow-up";
/// The collected event its start waits for (it is started by Waymark, never by a person).
pub const MESSAGE: &str = "Follow-up Needed";
/// Its steps, as its audit trail names them.
pub const FIRST_CONTACT: &str = "first-contact";
pub const CLOSE: &str = "close";
const SOURCE: &str = include_str!("../followups/process.yaml");
const FORMS: [(&str, &str); 2] = [
    (
        "waymark-follow-up-contact",
        include_str!("../followups/forms/waymark-follow-up-contact.form"),
    ),
    (
        "waymark-follow-up-close",
        include_str!("../followups/forms/waymark-follow-up-close.form"),
    ),
];

/// Whether a process or form id is Waymark's own (`waymark-…`), not to be deployed through the
/// API.
pub fn reserved(id: &str) -> bool {
    id.starts_with("waymark-")
}

/// VADER's threshold for a negative text.
const NEGATIVE: f64 = -0.05;

/// Deploys the follow-up process and its forms: a new version only when they changed.
pub fn install(store: &dyn Store, now_us: i64) -> Result<(), waymark_store::StoreError> {
    for (key, schema) in FORMS {
        store.put_form(key, schema, now_us)?;
    }
    store.deploy_process(
        PROCESS,
        "Follow up an unhappy customer",
        "yaml",
        SOURCE,
        now_us,
    )?;
    Ok(())
}

/// How negative a comment reads, −1 to 1 (VADER's compound score).
pub fn sentiment(text: &str) -> f64 {
    static ANALYZER: OnceLock<vader_sentiment::SentimentIntensityAnalyzer<'static>> =
        OnceLock::new();
    ANALYZER
        .get_or_init(vader_sentiment::SentimentIntensityAnalyzer::new)
        .polarity_scores(text)
        .get("compound")
        .copied()
        .unwrap_or(0.0)
}

/// Why an answer calls for a follow-up, in words; none when it does not.
pub fn unhappy(answers: &Answers) -> Option<String> {
    let mut why = Vec::new();
    if let Some(v) = answers.csat.filter(|v| *v <= 2) {
        why.push(format!("CSAT {v} of 5"));
    }
    if let Some(v) = answers.nps.filter(|v| *v <= 6) {
        why.push(format!("NPS {v} of 10 (a detractor)"));
    }
    if let Some(v) = answers.ces.filter(|v| *v >= 5) {
        why.push(format!("CES {v} of 7 (hard work)"));
    }
    if let Some(comment) = answers.comment.as_deref().filter(|c| !c.trim().is_empty())
        && sentiment(comment) <= NEGATIVE
    {
        why.push("a negative comment".into());
    }
    (!why.is_empty()).then(|| why.join(", "))
}

/// The answer in words: `CSAT 2 of 5, NPS 3 of 10`.
fn answer_words(answers: &Answers) -> String {
    let mut parts = Vec::new();
    if let Some(v) = answers.csat {
        parts.push(format!("CSAT {v} of 5"));
    }
    if let Some(v) = answers.nps {
        parts.push(format!("NPS {v} of 10"));
    }
    if let Some(v) = answers.ces {
        parts.push(format!("CES {v} of 7"));
    }
    if parts.is_empty() {
        "a comment only".into()
    } else {
        parts.join(", ")
    }
}

/// A name as a directory department: lowercase, words joined by `-` (`Call Centre` is
/// `call-centre`).
pub(crate) fn slug(name: &str) -> String {
    name.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join("-")
}

/// The directory's department for a journey's department name (compared as slugs), and its lead:
/// someone there with the `manager` role, else the manager of someone there, else an
/// administrator.
pub fn department_of(people: &[User], named: &str, customer: &str) -> (String, Option<String>) {
    let wanted = slug(named);
    // The customer is never told of their own follow-up as its lead.
    let people: Vec<&User> = people.iter().filter(|u| u.id != customer).collect();
    let members: Vec<&User> = people
        .iter()
        .copied()
        .filter(|u| u.department.as_deref().is_some_and(|d| slug(d) == wanted))
        .collect();
    let department = members
        .first()
        .and_then(|u| u.department.clone())
        .unwrap_or(wanted);
    let lead = members
        .iter()
        .find(|u| u.has_role("manager"))
        .map(|u| u.id.clone())
        .or_else(|| {
            members
                .iter()
                .find_map(|u| u.manager.clone())
                .filter(|m| m != customer)
        })
        .or_else(|| {
            people
                .iter()
                .find(|u| u.has_role(crate::access::ADMIN_ROLE))
                .map(|u| u.id.clone())
        });
    (department, lead)
}

/// The customer's context as text, as someone who may see no internal request would see it.
fn context_text(store: &dyn Store, person: &str, journeys: &[Deployed], now_us: i64) -> String {
    let outsider = Viewer::Person(User {
        id: "waymark-follow-up".into(),
        name: "Waymark".into(),
        email: None,
        department: None,
        manager: None,
        roles: Vec::new(),
    });
    let Ok(Some(c)) = context::context_with(store, &outsider, person, now_us, journeys) else {
        return format!("No profile is known for {person}.");
    };
    let mut lines = Vec::new();
    let email = c
        .profile
        .traits
        .get("email")
        .and_then(|e| serde_json::from_str::<Value>(e).ok())
        .and_then(|e| e.as_str().map(str::to_string));
    lines.push(format!(
        "Who: {}{}",
        one_line(c.name.as_deref().unwrap_or(person), 100),
        email
            .map(|e| format!(" <{}>", one_line(&e, 100)))
            .unwrap_or_default()
    ));
    for p in c.journeys.iter().take(5) {
        lines.push(format!(
            "In {}: {} at {} ({}), since {}",
            p.title,
            p.stage_name,
            p.touchpoint_name,
            p.status,
            day(p.started_us)
        ));
    }
    for last in c.channels.iter().take(6) {
        let what = last
            .touchpoint
            .as_ref()
            .map_or(one_line(&last.event, 100), |t| t.touchpoint.clone());
        let said = last
            .said
            .as_ref()
            .map(|s| format!(": “{}”", one_line(s, 160)))
            .unwrap_or_default();
        let scores = last
            .scores
            .iter()
            .map(|(k, v)| format!(" {} {v}", k.to_uppercase()))
            .collect::<String>();
        lines.push(format!(
            "Last on {} ({}): {what}{said}{scores}",
            one_line(&last.channel, 40),
            day(last.at_us)
        ));
    }
    lines.join("\n")
}

/// A value from a profile or an event, on one line and at most `chars` long: what anyone who can
/// send events wrote never forges a line of the context.
fn one_line(text: &str, chars: usize) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(chars)
        .collect()
}

fn day(us: i64) -> String {
    waymark_eventlog::time::format_micros(us)
        .get(..10)
        .unwrap_or_default()
        .to_string()
}

/// What a survey was about: the journey, the touchpoint, and the person who answered.
#[derive(Debug, Clone)]
pub struct Answered<'a> {
    pub journey: &'a str,
    pub touchpoint: &'a str,
    pub person: &'a str,
    /// The answer's event id: a follow-up is opened once per answer.
    pub key: &'a str,
}

/// Opens a follow-up for an unhappy answer; none for a happy one, an answer followed up
/// already, or a touchpoint the journey no longer has.
pub fn open(
    store: &dyn Store,
    answered: &Answered<'_>,
    answers: &Answers,
    now_us: i64,
) -> Result<Option<i64>, String> {
    let Some(reason) = unhappy(answers) else {
        return Ok(None);
    };
    install(store, now_us).map_err(|e| e.to_string())?;
    let journeys = context::deployed(store).map_err(|e| e.to_string())?;
    let Some(deployed) = journeys.iter().find(|d| d.id == answered.journey) else {
        return Ok(None);
    };
    let Some((stage, touchpoint)) = deployed
        .journey
        .touchpoints()
        .find(|(_, t)| t.id == answered.touchpoint)
    else {
        return Ok(None);
    };
    let people = store.users().map_err(|e| e.to_string())?;
    let (department, lead) = department_of(&people, &touchpoint.department, answered.person);
    let mut variables = Map::new();
    let mut set = |k: &str, v: Value| {
        variables.insert(k.to_string(), v);
    };
    set("customer", json!(answered.person));
    set("journey", json!(answered.journey));
    set("touchpoint", json!(answered.touchpoint));
    set(
        "where",
        json!(format!(
            "{}: {}, at {}",
            deployed.journey.title, stage.name, touchpoint.name
        )),
    );
    set("department", json!(department));
    set("lead", json!(lead.unwrap_or_default()));
    set("answer", json!(answer_words(answers)));
    set(
        "comment",
        json!(answers.comment.clone().unwrap_or_default()),
    );
    set("reason", json!(reason));
    set(
        "context",
        json!(context_text(store, answered.person, &journeys, now_us)),
    );
    let started = store
        .start_keyed(
            PROCESS,
            answered.person,
            Some(MESSAGE),
            variables,
            Some(&format!("follow-up:{}", answered.key)),
            now_us,
        )
        .map_err(|e| e.to_string())?;
    if let Some(id) = started {
        tracing::info!(request = id, journey = answered.journey, touchpoint = answered.touchpoint, %department, "a follow-up was opened");
    }
    Ok(started)
}

/// What the follow-up request page shows of the customer, by label, from its variables.
pub fn facts(variables: &Map<String, Value>) -> Vec<(String, String)> {
    [
        ("customer", "Customer"),
        ("where", "Where"),
        ("answer", "Their answer"),
        ("comment", "What they wrote"),
        ("reason", "Why a follow-up"),
        ("context", "Their context when they answered"),
    ]
    .into_iter()
    .filter_map(|(key, label)| {
        let text = variables.get(key)?.as_str()?.trim();
        (!text.is_empty()).then(|| (label.to_string(), text.to_string()))
    })
    .collect()
}

/// One follow-up, measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Measured {
    pub request: i64,
    pub customer: String,
    pub journey: String,
    pub touchpoint: String,
    pub department: String,
    pub reason: String,
    pub opened_us: i64,
    /// `running`, `completed`, `cancelled`…
    pub status: String,
    pub first_contact_us: Option<i64>,
    pub closed_us: Option<i64>,
    pub outcome: Option<String>,
    /// The customer's next survey score after it closed: (kind, value, at).
    pub recovery: Option<(String, f64, i64)>,
    pub due_us: Option<i64>,
}

impl Measured {
    pub fn to_first_contact_s(&self) -> Option<f64> {
        self.first_contact_us
            .map(|t| (t - self.opened_us) as f64 / 1e6)
    }

    pub fn to_close_s(&self) -> Option<f64> {
        self.closed_us.map(|t| (t - self.opened_us) as f64 / 1e6)
    }

    /// Whether the next score was a happy one (CSAT 4–5, NPS 9–10, CES 1–3).
    pub fn recovered(&self) -> Option<bool> {
        self.recovery
            .as_ref()
            .map(|(kind, v, _)| match kind.as_str() {
                "csat" => *v >= 4.0,
                "nps" => *v >= 9.0,
                _ => *v <= 3.0,
            })
    }
}

/// The most follow-ups measured at once, newest first.
pub const MOST: usize = 500;

/// The follow-ups, newest first (at most [`MOST`]), each measured from its audit trail and the
/// customer's later answers.
pub fn measure(store: &dyn Store) -> Result<Vec<Measured>, String> {
    let listed = store
        .instance_list(None, Some(PROCESS), None, MOST)
        .map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(listed.len());
    for summary in listed {
        let Some(row) = store.instance(summary.id).map_err(|e| e.to_string())? else {
            continue;
        };
        let text = |k: &str| {
            row.state
                .variables
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let trail = store.audit_trail(row.id).map_err(|e| e.to_string())?;
        let done = |node: &str| {
            trail
                .iter()
                .find(|a| a.action == "completed" && a.node.as_deref() == Some(node))
                .map(|a| a.at_us)
        };
        let first_contact_us = done(FIRST_CONTACT);
        let closed_us = done(CLOSE);
        let due_us = store
            .instance_tasks(row.id)
            .map_err(|e| e.to_string())?
            .iter()
            .filter(|t| t.status == "open")
            .filter_map(|t| t.due_us)
            .min();
        let recovery = match closed_us {
            Some(closed) => next_score(store, &row.requester, closed)?,
            None => None,
        };
        out.push(Measured {
            request: row.id,
            customer: row.requester.clone(),
            journey: text("journey"),
            touchpoint: text("touchpoint"),
            department: text("department"),
            reason: text("reason"),
            opened_us: row.started_us,
            status: row.status.clone(),
            first_contact_us,
            closed_us,
            outcome: row
                .state
                .variables
                .get("outcome")
                .and_then(Value::as_str)
                .map(str::to_string),
            recovery,
            due_us,
        });
    }
    Ok(out)
}

/// The person's first survey score after `after`.
fn next_score(
    store: &dyn Store,
    person: &str,
    after: i64,
) -> Result<Option<(String, f64, i64)>, String> {
    let Some(events) = store
        .timeline(person, None, 500)
        .map_err(|e| e.to_string())?
    else {
        return Ok(None);
    };
    // Newest first: read from the oldest, the first one after `after`.
    Ok(events
        .iter()
        .rev()
        .filter(|e| e.event.timestamp_us > after)
        .filter(|e| e.event.name.as_deref() == Some(crate::feedback::SURVEY_EVENT))
        .filter_map(|e| {
            context::scores(e)
                .into_iter()
                .next()
                .map(|(kind, v)| (kind, v, e.event.timestamp_us))
        })
        .next())
}

/// The follow-ups' figures: how many, open and overdue, the median times to first contact and
/// to close, and the share that recovered among those with a later score.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub opened: usize,
    pub open: usize,
    pub overdue: usize,
    pub median_first_contact_s: Option<f64>,
    pub median_close_s: Option<f64>,
    /// (recovered, with a later score).
    pub recovered: (usize, usize),
}

pub fn summarize(all: &[Measured], now_us: i64) -> Summary {
    let median = |mut v: Vec<f64>| -> Option<f64> {
        if v.is_empty() {
            return None;
        }
        Some(waymark_analytics::stats::summarize(&mut v).median)
    };
    let scored: Vec<bool> = all.iter().filter_map(Measured::recovered).collect();
    Summary {
        opened: all.len(),
        open: all
            .iter()
            .filter(|m| m.closed_us.is_none() && m.status == "running")
            .count(),
        overdue: all
            .iter()
            .filter(|m| m.closed_us.is_none() && m.status == "running")
            .filter(|m| m.due_us.is_some_and(|d| d < now_us))
            .count(),
        median_first_contact_s: median(
            all.iter()
                .filter_map(Measured::to_first_contact_s)
                .collect(),
        ),
        median_close_s: median(all.iter().filter_map(Measured::to_close_s).collect()),
        recovered: (scored.iter().filter(|r| **r).count(), scored.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn low_scores_and_negative_comments_call_for_a_follow_up() {
        let a = |csat, nps, ces, comment: Option<&str>| Answers {
            csat,
            nps,
            ces,
            comment: comment.map(str::to_string),
        };
        assert_eq!(
            unhappy(&a(Some(2), None, None, None)).as_deref(),
            Some("CSAT 2 of 5")
        );
        assert_eq!(
            unhappy(&a(Some(3), Some(7), Some(4), None)),
            None,
            "passives and neutral"
        );
        assert_eq!(
            unhappy(&a(None, Some(6), Some(5), None)).as_deref(),
            Some("NPS 6 of 10 (a detractor), CES 5 of 7 (hard work)")
        );
        assert_eq!(
            unhappy(&a(
                Some(4),
                None,
                None,
                Some("I had to fill in six forms. Ridiculous.")
            ))
            .as_deref(),
            Some("a negative comment")
        );
        assert_eq!(
            unhappy(&a(Some(4), None, None, Some("Great, thanks!"))),
            None
        );
    }

    #[test]
    fn a_journey_department_finds_its_directory_department_and_lead() {
        let person = |id: &str, department: &str, manager: Option<&str>, roles: &[&str]| User {
            id: id.into(),
            name: id.into(),
            email: None,
            department: Some(department.into()),
            manager: manager.map(str::to_string),
            roles: roles.iter().map(|r| r.to_string()).collect(),
        };
        let people = [
            person("ada", "it", None, &["admin"]),
            person("carl", "call-centre", Some("olivia"), &[]),
            person("cleo", "call-centre", Some("olivia"), &["manager"]),
            person("fay", "Finance", Some("olivia"), &[]),
        ];
        assert_eq!(
            department_of(&people, "Call Centre", "u1"),
            ("call-centre".into(), Some("cleo".into()))
        );
        assert_eq!(
            department_of(&people, "finance", "u1"),
            ("Finance".into(), Some("olivia".into())),
            "no manager role there: the manager of someone there"
        );
        assert_eq!(
            department_of(&people, "Risk", "u1"),
            ("risk".into(), Some("ada".into())),
            "nobody there: an administrator"
        );
        assert_eq!(
            department_of(&people, "Call Centre", "cleo"),
            ("call-centre".into(), Some("olivia".into())),
            "the lead's own follow-up goes to their manager"
        );
    }
}
