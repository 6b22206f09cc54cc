//! The journey file as written: YAML shapes with a source position on every value.
//!
//! Everything that needs checking is read as text (`Spanned<String>`) and converted in
//! [`crate::load`], so that one pass can report every problem with its line and column instead of
//! stopping at the first.

use std::collections::HashMap;

use marked_yaml::Spanned;
use serde::Deserialize;

pub(crate) type Text = Spanned<String>;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawJourney {
    pub id: Option<Text>,
    pub title: Option<Text>,
    pub owner: Option<Text>,
    pub version: Option<Text>,
    pub description: Option<Text>,
    #[serde(default)]
    pub serves: Vec<Text>,
    #[serde(default)]
    pub personas: Vec<Spanned<RawPersona>>,
    pub stages: Option<Spanned<Vec<Spanned<RawStage>>>>,
    #[serde(default)]
    pub links: Vec<Spanned<RawLink>>,
    pub change: Option<Spanned<RawChange>>,
    pub instances: Option<Spanned<RawInstances>>,
    #[serde(default)]
    pub kpis: Vec<Spanned<RawKpi>>,
}

/// A KPI as written: `NAME: MEASURE …` (a one-entry mapping), or a line of text (a note, or a
/// quoted `"NAME: MEASURE …"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum RawKpi {
    Line(String),
    Named(std::collections::BTreeMap<String, String>),
}

/// When a journey instance starts, ends and is given up on.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawInstances {
    #[serde(default)]
    pub start: Vec<Text>,
    #[serde(default)]
    pub end: Vec<Text>,
    pub timeout: Option<Text>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPersona {
    pub id: Option<Text>,
    pub name: Option<Text>,
    pub description: Option<Text>,
    #[serde(default)]
    pub goals: Vec<Text>,
    #[serde(default)]
    pub pains: Vec<Text>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStage {
    pub id: Option<Text>,
    pub name: Option<Text>,
    pub goal: Option<Text>,
    #[serde(default)]
    pub touchpoints: Vec<Spanned<RawTouchpoint>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTouchpoint {
    pub id: Option<Text>,
    pub name: Option<Text>,
    pub channel: Option<Text>,
    pub department: Option<Text>,
    pub actor: Option<Text>,
    pub kind: Option<Text>,
    pub visibility: Option<Text>,
    pub thinks: Option<Text>,
    pub does: Option<Text>,
    pub feels: Option<Text>,
    pub emotion: Option<Text>,
    pub target: Option<Text>,
    pub moment_of_truth: Option<Text>,
    pub optional: Option<Text>,
    pub costly: Option<Text>,
    #[serde(default)]
    pub kpis: Vec<Spanned<RawKpi>>,
    #[serde(default)]
    pub events: Vec<Spanned<RawEventRule>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEventRule {
    pub event: Option<Text>,
    #[serde(default, rename = "where")]
    pub properties: HashMap<Text, Spanned<RawValueMatch>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum RawValueMatch {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLink {
    pub from: Option<Text>,
    pub to: Option<Text>,
    pub label: Option<Text>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawChange {
    pub owner: Option<Text>,
    pub date: Option<Text>,
    pub impact: Option<Text>,
    pub standpoint: Option<Text>,
    pub response: Option<Text>,
    pub find_out: Option<Text>,
    pub feedback: Option<Text>,
}
