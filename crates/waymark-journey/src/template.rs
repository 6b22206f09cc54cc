//! The universal stages, to start a journey from.

use crate::model::{
    Actor, Channel, Experience, Journey, Kind, Persona, Stage, Touchpoint, Visibility,
};

/// The universal customer-journey stages, in order: id, name, the customer's goal.
pub const UNIVERSAL_STAGES: [(&str, &str, &str); 6] = [
    (
        "need",
        "Need",
        "Realise I need something and put it into words",
    ),
    (
        "evaluate",
        "Evaluate options",
        "Find the options and compare them",
    ),
    ("decide", "Decide", "Choose, get agreement and commit"),
    (
        "onboard",
        "Deliver / onboard",
        "Receive what I chose and get started",
    ),
    (
        "use",
        "Use and service",
        "Get value from it, and get help when stuck",
    ),
    (
        "advocate",
        "Renew / advocate",
        "Renew, and tell others what it was like",
    ),
];

/// A new journey with the universal stages, one placeholder touchpoint each, to be edited.
pub fn universal(id: &str, title: &str) -> Journey {
    let stages = UNIVERSAL_STAGES
        .iter()
        .map(|(stage_id, name, goal)| Stage {
            id: (*stage_id).to_string(),
            name: (*name).to_string(),
            goal: Some((*goal).to_string()),
            touchpoints: vec![Touchpoint {
                id: format!("{stage_id}-touchpoint"),
                name: format!("{name}: first touchpoint"),
                channel: Channel::Web,
                department: "Customer Experience".to_string(),
                actor: Actor::Customer,
                kind: Kind::Content,
                visibility: Visibility::Front,
                experience: Experience::default(),
                target: None,
                moment_of_truth: false,
                optional: false,
                costly: false,
                kpis: Vec::new(),
                events: Vec::new(),
            }],
        })
        .collect();
    Journey {
        instances: Default::default(),
        id: id.to_string(),
        title: title.to_string(),
        owner: "Customer Experience".to_string(),
        version: "as-is".to_string(),
        description: None,
        personas: vec![Persona {
            id: "customer".to_string(),
            name: "Our customer".to_string(),
            description: None,
            goals: Vec::new(),
            pains: Vec::new(),
        }],
        serves: vec!["customer".to_string()],
        stages,
        links: Vec::new(),
        change: None,
        kpis: Vec::new(),
    }
}
