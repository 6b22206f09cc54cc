//! The shipped examples: what they model and what they promise later issues.

use std::collections::BTreeMap;

use waymark_journey::diff::{diff, effort};
use waymark_journey::{Actor, Kind, Visibility};

use super::{load_example, shared_data};

#[test]
fn training_request_as_is_has_the_many_forms_of_today() {
    let journey = load_example("training-request/as-is.yaml");
    assert_eq!(journey.version, "as-is");
    let forms: Vec<&str> = journey
        .touchpoints()
        .filter(|(_, tp)| tp.actor == Actor::Customer && tp.kind == Kind::Form)
        .map(|(_, tp)| tp.id.as_str())
        .collect();
    assert_eq!(
        forms,
        [
            "preapproval-form",
            "budget-check-form",
            "purchase-order-form",
            "vendor-add-form",
            "goods-received-form",
            "training-evaluation"
        ]
    );
    let departments: std::collections::BTreeSet<&str> = journey
        .touchpoints()
        .map(|(_, tp)| tp.department.as_str())
        .collect();
    for department in ["HR", "Finance", "Customer Success", "Accounting"] {
        assert!(
            departments.contains(department),
            "{department} takes part today"
        );
    }
}

#[test]
fn training_request_to_be_is_two_forms_and_automation() {
    let journey = load_example("training-request/to-be.yaml");
    assert!(journey.is_to_be());
    let change = journey.change.as_ref().expect("a change-impact assessment");
    assert!(
        change.answers().iter().all(Option::is_some),
        "all five questions answered"
    );
    let request = journey
        .touchpoint("request-training-form")
        .expect("the one request form");
    assert_eq!(
        (request.channel, request.kind, request.department.as_str()),
        (waymark_journey::Channel::App, Kind::Form, "HR")
    );
    // Routing happens behind the line of visibility: manager, budget, Finance.
    for id in [
        "manager-approval",
        "budget-check",
        "vendor-add",
        "po-issued",
        "payment",
        "goods-received",
    ] {
        let tp = journey
            .touchpoint(id)
            .unwrap_or_else(|| panic!("{id} is in the to-be journey"));
        assert_eq!(tp.visibility, Visibility::Back, "{id} is back-stage");
    }
    assert!(
        journey
            .touchpoint("vendor-add")
            .is_some_and(|tp| tp.optional),
        "vendor is added only if needed"
    );
    let invite = journey
        .touchpoint("assessment-invite")
        .expect("assessment email");
    assert_eq!(
        (invite.channel, invite.kind),
        (waymark_journey::Channel::Email, Kind::Notification)
    );
}

#[test]
fn effort_figures_of_the_training_request() {
    let before = load_example("training-request/as-is.yaml");
    let after = load_example("training-request/to-be.yaml");
    let (b, a) = (effort(&before), effort(&after));
    assert_eq!((b.customer_forms, a.customer_forms), (6, 2));
    assert_eq!(
        b.departments,
        [
            "Accounting",
            "Customer Success",
            "Finance",
            "HR",
            "Training provider"
        ]
    );
    assert_eq!(a.departments, ["HR", "Training provider"]);
    // Front-stage sequence to-be: HR form, HR email, provider, HR email, HR form.
    assert_eq!(a.handoffs, 2);
    assert!(b.handoffs > a.handoffs);
    assert_eq!(a.customer_touchpoints, 5);
    let report = diff(&before, &after);
    assert_eq!(
        report.added.len() + report.changed.len() + report.unchanged,
        after.touchpoints().count()
    );
    assert_eq!(
        report.removed.len() + report.changed.len() + report.unchanged,
        before.touchpoints().count()
    );
}

/// Every activity of the BPI Challenge 2012 log is claimed by a touchpoint of the loan journey,
/// so measured data can be laid over the whole map.
#[test]
fn loan_application_covers_every_bpic2012_activity() {
    let journey = load_example("loan-application/journey.yaml");
    let expected = shared_data().join("expected/bpic2012.xes.gz.json");
    let text = std::fs::read_to_string(&expected).expect("PM4Py reference for bpic2012");
    let reference: serde_json::Value = serde_json::from_str(&text).expect("reference json");
    let activities = reference["activities"].as_object().expect("activities");
    assert_eq!(activities.len(), 24);
    let mut claimed: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for activity in activities.keys() {
        for (_, tp) in journey.touchpoints() {
            if tp
                .events
                .iter()
                .any(|rule| rule.matches(activity, |_| None))
            {
                claimed.entry(activity).or_default().push(&tp.id);
            }
        }
    }
    let missing: Vec<&String> = activities
        .keys()
        .filter(|a| !claimed.contains_key(a.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "activities on no touchpoint: {missing:?}"
    );
    let twice: Vec<_> = claimed.iter().filter(|(_, tps)| tps.len() > 1).collect();
    assert!(
        twice.is_empty(),
        "activities on several touchpoints: {twice:?}"
    );
    // The touchpoints the issue names are there.
    for (channel, kind) in [
        (waymark_journey::Channel::Web, Kind::Form),
        (waymark_journey::Channel::Phone, Kind::Conversation),
        (waymark_journey::Channel::Email, Kind::Notification),
    ] {
        assert!(
            journey
                .touchpoints()
                .any(|(_, tp)| tp.channel == channel && tp.kind == kind),
            "{channel} {kind}"
        );
    }
}

#[test]
fn event_rules_match_names_and_property_conditions() {
    let journey = load_example("training-request/as-is.yaml");
    let form = journey.touchpoint("vendor-add-form").expect("vendor form");
    let rule = &form.events[0];
    assert!(rule.matches("Form Submitted", |name| {
        (name == "form").then_some("vendor-add")
    }));
    assert!(!rule.matches("Form Submitted", |name| {
        (name == "form").then_some("purchase-order")
    }));
    assert!(
        !rule.matches("Form Submitted", |_| None),
        "a missing property does not match"
    );
    assert!(!rule.matches("Form Started", |_| Some("vendor-add")));
    let find = journey
        .touchpoint("find-preapproval-form")
        .expect("find form");
    assert!(
        find.events[0].matches("Page Viewed", |_| Some("/hr/training")),
        "one of a set of values"
    );
    assert!(!find.events[0].matches("Page Viewed", |_| Some("/hr/holidays")));
}

#[test]
fn flow_edges_follow_the_listing_order_plus_links() {
    let journey = load_example("training-request/as-is.yaml");
    let edges = journey.flow_edges();
    assert_eq!(
        edges.first(),
        Some(&("find-preapproval-form", "preapproval-form"))
    );
    assert!(
        edges.contains(&("manager-approval", "preapproval-form")),
        "loop back from a link"
    );
    assert!(
        edges.contains(&("payment-coordination", "payment-coordination")),
        "self loop"
    );
    assert_eq!(
        edges.len(),
        journey.touchpoints().count() - 1 + journey.links.len()
    );
}
