//! A deterministic generator of realistic journey logs, for benchmarks and demos.

use crate::builder::LogBuilder;
use crate::log::{ActivityKey, EventLog, Micros};

/// The journey the generator walks: activity, then the possible next activities with weights.
/// An empty list ends the journey. Loops (repeat contacts, resubmissions) are deliberate.
const JOURNEY: &[(&str, &[(&str, u32)])] = &[
    (
        "Visit website",
        &[("Read pricing", 5), ("Start application", 4), ("Leave", 1)],
    ),
    (
        "Read pricing",
        &[("Start application", 6), ("Call support", 2), ("Leave", 2)],
    ),
    (
        "Call support",
        &[("Start application", 5), ("Call support", 1), ("Leave", 2)],
    ),
    (
        "Start application",
        &[("Upload documents", 7), ("Abandon form", 3)],
    ),
    ("Abandon form", &[("Reminder email", 8), ("Leave", 2)]),
    ("Reminder email", &[("Start application", 6), ("Leave", 4)]),
    ("Upload documents", &[("Automatic check", 10)]),
    (
        "Automatic check",
        &[
            ("Manual review", 4),
            ("Approve", 5),
            ("Request more documents", 1),
        ],
    ),
    (
        "Request more documents",
        &[("Upload documents", 7), ("Call support", 2), ("Leave", 1)],
    ),
    (
        "Manual review",
        &[("Approve", 6), ("Reject", 2), ("Request more documents", 2)],
    ),
    ("Approve", &[("Send contract", 10)]),
    (
        "Send contract",
        &[("Sign contract", 8), ("Call support", 2)],
    ),
    (
        "Sign contract",
        &[("Onboarding call", 6), ("Welcome email", 4)],
    ),
    ("Onboarding call", &[("Welcome email", 10)]),
    ("Welcome email", &[("First use", 9), ("Leave", 1)]),
    (
        "First use",
        &[("Satisfaction survey", 5), ("Complaint", 1), ("End", 4)],
    ),
    ("Complaint", &[("Call support", 6), ("End", 4)]),
    ("Satisfaction survey", &[("End", 10)]),
    ("Reject", &[("Complaint", 3), ("End", 7)]),
    ("Leave", &[]),
    ("End", &[]),
];

/// At least `events` events in journeys drawn from a fixed process with loops, reproducibly from
/// `seed`. Cases start over a year; steps take minutes to days.
pub fn synthetic_journeys(events: usize, seed: u64) -> EventLog {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut builder = LogBuilder::new(ActivityKey::default());
    let symbols: Vec<_> = JOURNEY
        .iter()
        .map(|(name, _)| builder.intern(name))
        .collect();
    let index = |name: &str| JOURNEY.iter().position(|(n, _)| *n == name).unwrap_or(0);
    let next: Vec<Vec<(usize, u32)>> = JOURNEY
        .iter()
        .map(|(_, options)| options.iter().map(|(n, w)| (index(n), *w)).collect())
        .collect();
    let start: Micros = 1_704_067_200_000_000; // 2024-01-01T00:00:00Z
    let mut case_number = 0u64;
    while builder.events() < events {
        let case = builder.new_case(&format!("case-{case_number}"));
        case_number += 1;
        let mut time = start + rng.i64(0..365 * 86_400) * 1_000_000;
        let mut at = 0;
        for _ in 0..60 {
            builder.push_activity(case, time, symbols[at]);
            let options = &next[at];
            if options.is_empty() {
                break;
            }
            let total: u32 = options.iter().map(|(_, w)| w).sum();
            let mut pick = rng.u32(0..total);
            at = options
                .iter()
                .find(|(_, w)| {
                    let hit = pick < *w;
                    pick = pick.saturating_sub(*w);
                    hit
                })
                .map_or(0, |(n, _)| *n);
            // Minutes for most steps, now and then days.
            let seconds = if rng.u8(0..10) == 0 {
                rng.i64(3_600..5 * 86_400)
            } else {
                rng.i64(10..3_600)
            };
            time += seconds * 1_000_000;
        }
    }
    builder.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_log() {
        let a = synthetic_journeys(2_000, 7);
        let b = synthetic_journeys(2_000, 7);
        assert!(a.events() >= 2_000);
        assert_eq!(a.activity_column().len(), b.activity_column().len());
        assert_eq!(a.time_column(), b.time_column());
        let c = synthetic_journeys(2_000, 8);
        assert_ne!(a.time_column(), c.time_column());
        assert!(
            a.iter_cases()
                .all(|case| case.times().windows(2).all(|w| w[0] <= w[1]))
        );
    }
}
