//! Writing a [`Journey`] back as a journey file.
//!
//! The output uses the same field names and order as hand-written files, omits defaults, and is
//! read back by [`crate::check`] to an equal journey (a property test holds us to that).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::kpi::Kpi;
use crate::model::{
    ChangeImpact, EventRule, Journey, Link, Persona, Stage, Touchpoint, ValueMatch, Visibility,
};

/// Writes a journey as YAML.
pub fn write(journey: &Journey) -> String {
    let file = OutJourney::from(journey);
    // Serialising plain structs of strings, lists and maps cannot fail.
    serde_yaml_ng::to_string(&file)
        .unwrap_or_else(|error| format!("# could not write journey: {error}\n"))
}

fn is_false(value: &bool) -> bool {
    !*value
}

#[derive(Serialize)]
struct OutJourney<'a> {
    id: &'a str,
    title: &'a str,
    owner: &'a str,
    version: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    serves: Vec<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    kpis: Vec<OutKpi>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    personas: Vec<OutPersona<'a>>,
    stages: Vec<OutStage<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    links: Vec<OutLink<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    change: Option<OutChange<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    instances: Option<OutInstances<'a>>,
}

#[derive(Serialize)]
struct OutInstances<'a> {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    start: Vec<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    end: Vec<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    timeout: Option<String>,
}

#[derive(Serialize)]
struct OutPersona<'a> {
    id: &'a str,
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    goals: Vec<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pains: Vec<&'a str>,
}

#[derive(Serialize)]
struct OutStage<'a> {
    id: &'a str,
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    goal: Option<&'a str>,
    touchpoints: Vec<OutTouchpoint<'a>>,
}

#[derive(Serialize)]
struct OutTouchpoint<'a> {
    id: &'a str,
    name: &'a str,
    channel: &'static str,
    department: &'a str,
    actor: &'static str,
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    visibility: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinks: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    does: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    feels: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    emotion: Option<i8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<String>,
    #[serde(skip_serializing_if = "is_false")]
    moment_of_truth: bool,
    #[serde(skip_serializing_if = "is_false")]
    optional: bool,
    #[serde(skip_serializing_if = "is_false")]
    costly: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    kpis: Vec<OutKpi>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    events: Vec<OutEventRule<'a>>,
}

/// A KPI: `NAME: SPEC` (a one-entry mapping), or a note as a line of text.
#[derive(Serialize)]
#[serde(untagged)]
enum OutKpi {
    Note(String),
    Defined(BTreeMap<String, String>),
}

impl From<&Kpi> for OutKpi {
    fn from(kpi: &Kpi) -> Self {
        let line = kpi.to_string();
        match (&kpi.measure, line.split_once(": ")) {
            (Some(_), Some((name, spec))) if name == kpi.name => {
                OutKpi::Defined(BTreeMap::from([(name.to_string(), spec.to_string())]))
            }
            _ => OutKpi::Note(line),
        }
    }
}

#[derive(Serialize)]
struct OutEventRule<'a> {
    event: &'a str,
    #[serde(rename = "where", skip_serializing_if = "BTreeMap::is_empty")]
    properties: BTreeMap<&'a str, OutValueMatch<'a>>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum OutValueMatch<'a> {
    One(&'a str),
    Many(Vec<&'a str>),
}

#[derive(Serialize)]
struct OutLink<'a> {
    from: &'a str,
    to: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    label: Option<&'a str>,
}

#[derive(Serialize)]
struct OutChange<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    owner: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    impact: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    standpoint: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    find_out: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    feedback: Option<&'a str>,
}

impl<'a> From<&'a Journey> for OutJourney<'a> {
    fn from(j: &'a Journey) -> Self {
        OutJourney {
            id: &j.id,
            title: &j.title,
            owner: &j.owner,
            version: &j.version,
            description: j.description.as_deref(),
            serves: j.serves.iter().map(String::as_str).collect(),
            kpis: j.kpis.iter().map(OutKpi::from).collect(),
            personas: j.personas.iter().map(OutPersona::from).collect(),
            stages: j.stages.iter().map(OutStage::from).collect(),
            links: j.links.iter().map(OutLink::from).collect(),
            change: j.change.as_ref().map(OutChange::from),
            instances: (!j.instances.is_default()).then(|| OutInstances {
                start: j.instances.start.iter().map(String::as_str).collect(),
                end: j.instances.end.iter().map(String::as_str).collect(),
                timeout: j.instances.timeout.map(crate::duration::format),
            }),
        }
    }
}

impl<'a> From<&'a Persona> for OutPersona<'a> {
    fn from(p: &'a Persona) -> Self {
        OutPersona {
            id: &p.id,
            name: &p.name,
            description: p.description.as_deref(),
            goals: p.goals.iter().map(String::as_str).collect(),
            pains: p.pains.iter().map(String::as_str).collect(),
        }
    }
}

impl<'a> From<&'a Stage> for OutStage<'a> {
    fn from(s: &'a Stage) -> Self {
        OutStage {
            id: &s.id,
            name: &s.name,
            goal: s.goal.as_deref(),
            touchpoints: s.touchpoints.iter().map(OutTouchpoint::from).collect(),
        }
    }
}

impl<'a> From<&'a Touchpoint> for OutTouchpoint<'a> {
    fn from(t: &'a Touchpoint) -> Self {
        let visibility =
            (t.visibility != Visibility::default_for(t.actor)).then(|| t.visibility.as_str());
        OutTouchpoint {
            id: &t.id,
            name: &t.name,
            channel: t.channel.as_str(),
            department: &t.department,
            actor: t.actor.as_str(),
            kind: t.kind.as_str(),
            visibility,
            thinks: t.experience.thinks.as_deref(),
            does: t.experience.does.as_deref(),
            feels: t.experience.feels.as_deref(),
            emotion: t.experience.emotion,
            target: t.target.map(crate::duration::format),
            moment_of_truth: t.moment_of_truth,
            optional: t.optional,
            costly: t.costly,
            kpis: t.kpis.iter().map(OutKpi::from).collect(),
            events: t.events.iter().map(OutEventRule::from).collect(),
        }
    }
}

impl<'a> From<&'a EventRule> for OutEventRule<'a> {
    fn from(r: &'a EventRule) -> Self {
        OutEventRule {
            event: &r.event,
            properties: r
                .properties
                .iter()
                .map(|(name, condition)| {
                    let condition = match condition {
                        ValueMatch::Equals(value) => OutValueMatch::One(value),
                        ValueMatch::OneOf(values) => {
                            OutValueMatch::Many(values.iter().map(String::as_str).collect())
                        }
                    };
                    (name.as_str(), condition)
                })
                .collect(),
        }
    }
}

impl<'a> From<&'a Link> for OutLink<'a> {
    fn from(l: &'a Link) -> Self {
        OutLink {
            from: &l.from,
            to: &l.to,
            label: l.label.as_deref(),
        }
    }
}

impl<'a> From<&'a ChangeImpact> for OutChange<'a> {
    fn from(c: &'a ChangeImpact) -> Self {
        OutChange {
            owner: c.owner.as_deref(),
            date: c.date.map(|d| d.format("%Y-%m-%d").to_string()),
            impact: c.impact.as_deref(),
            standpoint: c.standpoint.as_deref(),
            response: c.response.as_deref(),
            find_out: c.find_out.as_deref(),
            feedback: c.feedback.as_deref(),
        }
    }
}
