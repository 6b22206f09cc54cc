//! The journey model: what a journey *is*, independent of how it is written down.
//!
//! These types carry no source positions and know nothing about YAML; [`crate::load`] builds them
//! from a file and [`crate::write`] writes them back.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use crate::kpi::Kpi;
use chrono::NaiveDate;

/// Declares a closed vocabulary: an enum whose variants have one spelling in journey files.
macro_rules! vocabulary {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value, in the order journey maps draw them.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The spelling used in journey files.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// Parses the spelling used in journey files (exact, lower case).
            pub fn parse(text: &str) -> Option<Self> {
                match text {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }

            /// Every spelling, for error messages and hints.
            pub fn names() -> Vec<&'static str> {
                Self::ALL.iter().map(|value| value.as_str()).collect()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

vocabulary! {
    /// The channel through which a touchpoint happens.
    Channel {
        Web => "web",
        App => "app",
        Email => "email",
        Sms => "sms",
        Whatsapp => "whatsapp",
        Phone => "phone",
        Chat => "chat",
        Social => "social",
        InPerson => "in-person",
        Letter => "letter",
        Other => "other",
    }
}

vocabulary! {
    /// Who acts at a touchpoint.
    Actor {
        Customer => "customer",
        Staff => "staff",
        System => "system",
    }
}

vocabulary! {
    /// What happens at a touchpoint.
    Kind {
        Form => "form",
        Approval => "approval",
        Payment => "payment",
        Notification => "notification",
        Conversation => "conversation",
        Content => "content",
        Task => "task",
        Wait => "wait",
    }
}

vocabulary! {
    /// Which side of the line of visibility a touchpoint sits on.
    Visibility {
        /// The customer sees or does it.
        Front => "front",
        /// It happens out of the customer's sight.
        Back => "back",
    }
}

impl Visibility {
    /// The side a touchpoint sits on when its file does not say: the customer's own actions are
    /// front-stage, staff and system work is back-stage.
    pub fn default_for(actor: Actor) -> Visibility {
        match actor {
            Actor::Customer => Visibility::Front,
            Actor::Staff | Actor::System => Visibility::Back,
        }
    }
}

/// The lowest and highest emotion scores: −2 (very negative) to +2 (very positive).
pub const EMOTION_RANGE: std::ops::RangeInclusive<i8> = -2..=2;

/// One journey: a persona's path through stages and touchpoints, in one version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Journey {
    /// Stable identifier, shared by all versions of the journey.
    pub id: String,
    pub title: String,
    /// The person or department accountable for the journey as a whole.
    pub owner: String,
    /// Version label: `as-is`, `to-be`, or any other label.
    pub version: String,
    pub description: Option<String>,
    /// The personas defined in this file.
    pub personas: Vec<Persona>,
    /// The ids of the personas this journey serves.
    pub serves: Vec<String>,
    /// Stages in journey order.
    pub stages: Vec<Stage>,
    /// Extra edges where the flow is not the listing order (branches and loops).
    pub links: Vec<Link>,
    /// The change-impact assessment of a to-be version.
    pub change: Option<ChangeImpact>,
    /// How measured events are cut into instances of this journey.
    pub instances: Instances,
    /// The journey's own KPIs (each touchpoint has its own too).
    pub kpis: Vec<Kpi>,
}

/// How measured events are cut into journey instances (one person's or one request's pass).
/// Reports use these unless told otherwise.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Instances {
    /// Touchpoints where a new instance starts after a completed one (empty: the first touchpoint
    /// events reach).
    pub start: Vec<String>,
    /// Touchpoints that complete an instance (empty: those of the last stage).
    pub end: Vec<String>,
    /// After this long without an event an instance is over: abandoned unless it completed.
    pub timeout: Option<Duration>,
}

impl Instances {
    /// Whether nothing is set, so files may leave the block out.
    pub fn is_default(&self) -> bool {
        self == &Instances::default()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Persona {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub goals: Vec<String>,
    pub pains: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    pub id: String,
    pub name: String,
    /// What the customer wants to achieve in this stage.
    pub goal: Option<String>,
    pub touchpoints: Vec<Touchpoint>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Touchpoint {
    pub id: String,
    pub name: String,
    pub channel: Channel,
    /// The department that owns this touchpoint.
    pub department: String,
    pub actor: Actor,
    pub kind: Kind,
    pub visibility: Visibility,
    pub experience: Experience,
    /// How long this touchpoint should take.
    pub target: Option<Duration>,
    pub moment_of_truth: bool,
    /// The designed path may skip this touchpoint (for example "add vendor, if unknown").
    pub optional: bool,
    /// A contact the organisation wants fewer of (a call, a complaint, a chat): journey reports
    /// look for what precedes it and how often it repeats.
    pub costly: bool,
    /// What measures this touchpoint (see [`crate::kpi`]).
    pub kpis: Vec<Kpi>,
    /// Which raw events belong to this touchpoint.
    pub events: Vec<EventRule>,
}

impl Touchpoint {
    /// Whether the customer sees or does this touchpoint.
    pub fn is_customer_facing(&self) -> bool {
        self.visibility == Visibility::Front
    }
}

/// What the customer should think, do and feel at a touchpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Experience {
    pub thinks: Option<String>,
    pub does: Option<String>,
    /// One word for the feeling, e.g. "relieved".
    pub feels: Option<String>,
    /// The feeling as a score in [`EMOTION_RANGE`].
    pub emotion: Option<i8>,
}

/// A rule saying which raw events belong to a touchpoint: the event name, plus property
/// conditions that must all hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRule {
    pub event: String,
    /// Property name → condition. Values are compared in their textual form.
    pub properties: BTreeMap<String, ValueMatch>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValueMatch {
    /// The property equals this value.
    Equals(String),
    /// The property equals one of these values.
    OneOf(Vec<String>),
}

impl ValueMatch {
    pub fn matches(&self, value: &str) -> bool {
        match self {
            ValueMatch::Equals(expected) => expected == value,
            ValueMatch::OneOf(options) => options.iter().any(|option| option == value),
        }
    }
}

impl EventRule {
    /// Whether an event with this name and these properties belongs to the rule's touchpoint.
    pub fn matches<'a>(&self, event: &str, property: impl Fn(&str) -> Option<&'a str>) -> bool {
        self.event == event
            && self.properties.iter().all(|(name, condition)| {
                property(name).is_some_and(|value| condition.matches(value))
            })
    }
}

impl fmt::Display for EventRule {
    /// `event`, or `event where a=x, b in [y|z]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.event)?;
        for (index, (name, condition)) in self.properties.iter().enumerate() {
            f.write_str(if index == 0 { " where " } else { ", " })?;
            match condition {
                ValueMatch::Equals(value) => write!(f, "{name}={value}")?,
                ValueMatch::OneOf(values) => write!(f, "{name} in [{}]", values.join("|"))?,
            }
        }
        Ok(())
    }
}

/// An edge of the designed flow that the listing order does not give.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub from: String,
    pub to: String,
    /// When this edge is taken, e.g. "rejected".
    pub label: Option<String>,
}

/// The five change-impact questions of a to-be version, with their owner and date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeImpact {
    pub owner: Option<String>,
    pub date: Option<NaiveDate>,
    /// How will this change impact my customer?
    pub impact: Option<String>,
    /// How will it look from my customer's standpoint?
    pub standpoint: Option<String>,
    /// How will my customer respond?
    pub response: Option<String>,
    /// How will my customer find out?
    pub find_out: Option<String>,
    /// How will my customer give feedback?
    pub feedback: Option<String>,
}

/// One of the five change-impact questions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangeQuestion {
    /// The key in journey files.
    pub key: &'static str,
    /// The question as people ask it.
    pub question: &'static str,
}

/// The five questions, in the order they are asked.
pub const CHANGE_QUESTIONS: [ChangeQuestion; 5] = [
    ChangeQuestion {
        key: "impact",
        question: "How will this change impact my customer?",
    },
    ChangeQuestion {
        key: "standpoint",
        question: "How will it look from my customer's standpoint?",
    },
    ChangeQuestion {
        key: "response",
        question: "How will my customer respond?",
    },
    ChangeQuestion {
        key: "find_out",
        question: "How will my customer find out?",
    },
    ChangeQuestion {
        key: "feedback",
        question: "How will my customer give feedback?",
    },
];

impl ChangeImpact {
    /// The answers in [`CHANGE_QUESTIONS`] order.
    pub fn answers(&self) -> [Option<&str>; 5] {
        [
            self.impact.as_deref(),
            self.standpoint.as_deref(),
            self.response.as_deref(),
            self.find_out.as_deref(),
            self.feedback.as_deref(),
        ]
    }
}

impl Journey {
    /// Every touchpoint in listing order, with the stage it belongs to.
    pub fn touchpoints(&self) -> impl Iterator<Item = (&Stage, &Touchpoint)> {
        self.stages.iter().flat_map(|stage| {
            stage
                .touchpoints
                .iter()
                .map(move |touchpoint| (stage, touchpoint))
        })
    }

    pub fn touchpoint(&self, id: &str) -> Option<&Touchpoint> {
        self.touchpoints().map(|(_, tp)| tp).find(|tp| tp.id == id)
    }

    /// Whether this version is a to-be (future state) design.
    pub fn is_to_be(&self) -> bool {
        is_to_be_label(&self.version)
    }

    /// The designed flow as edges between touchpoint ids: each touchpoint to the next in listing
    /// order, plus the explicit links. Edges are unique and in a stable order.
    pub fn flow_edges(&self) -> Vec<(&str, &str)> {
        let ids: Vec<&str> = self.touchpoints().map(|(_, tp)| tp.id.as_str()).collect();
        let mut edges: Vec<(&str, &str)> = ids.windows(2).map(|pair| (pair[0], pair[1])).collect();
        for link in &self.links {
            let edge = (link.from.as_str(), link.to.as_str());
            if !edges.contains(&edge) {
                edges.push(edge);
            }
        }
        edges
    }
}

/// Whether a version label names a to-be (future state) design: `to-be`, `to_be`, `tobe`,
/// `future`, case-insensitively.
pub fn is_to_be_label(label: &str) -> bool {
    let normal: String = label
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect();
    normal == "tobe" || normal == "future" || normal == "futurestate"
}

/// An id made from a name, as journey files spell ids: lower-case letters and digits, words
/// joined by `-` (`touchpoint` when nothing is left), with `-2`, `-3`, … added while `taken`
/// says it is used.
pub fn id_from_name(name: &str, taken: impl Fn(&str) -> bool) -> String {
    let mut id = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            id.push(c);
        } else if !id.is_empty() && !id.ends_with('-') {
            id.push('-');
        }
    }
    let id = id.trim_end_matches('-');
    let id = if id.is_empty() { "touchpoint" } else { id };
    let mut candidate = id.to_string();
    let mut n = 2;
    while taken(&candidate) {
        candidate = format!("{id}-{n}");
        n += 1;
    }
    candidate
}
