//! Property tests: a journey written back to YAML reads back equal, and no input makes the
//! reader panic.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::NaiveDate;
use proptest::prelude::*;
use waymark_journey::kpi::{Direction, Unit};
use waymark_journey::{
    Actor, ChangeImpact, Channel, EventRule, Experience, Instances, Journey, Kind, Kpi, Link,
    Measure, Persona, Stage, Touchpoint, ValueMatch, Visibility,
};

/// Text as people write it, including the characters YAML treats specially and words YAML 1.1
/// would read as booleans or nulls. Trimmed and not empty, as the reader stores text.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z0-9 ,.!?'\"#:&*%@`|>{}\\[\\]()/+=-]{1,40}",
        "[a-zé€漢 ]{1,12}\n[a-z :#-]{1,12}",
        Just("yes".to_string()),
        Just("no".to_string()),
        Just("null".to_string()),
        Just("~".to_string()),
        Just("  padded ".to_string()),
        Just("1.5".to_string()),
        Just("-2".to_string()),
        Just("true".to_string()),
        Just("- item".to_string()),
        Just("key: value".to_string()),
        Just("# not a comment".to_string()),
        Just("0x1F".to_string()),
        Just("2026-11-22".to_string()),
    ]
    .prop_map(|s| s.trim().to_string())
    .prop_filter("text is not empty", |s| !s.is_empty())
}

/// Property values are compared as they are, so they keep their spaces.
fn value() -> impl Strategy<Value = String> {
    prop_oneof!["[ A-Za-z0-9:#'\"-]{0,16}", text()]
}

fn id() -> impl Strategy<Value = String> {
    "[a-z0-9][a-zA-Z0-9_.-]{0,10}"
}

fn choose<T: Copy + std::fmt::Debug + 'static>(all: &'static [T]) -> impl Strategy<Value = T> {
    proptest::sample::select(all)
}

fn event_rule() -> impl Strategy<Value = EventRule> {
    let condition = prop_oneof![
        value().prop_map(ValueMatch::Equals),
        prop::collection::vec(value(), 1..4).prop_map(ValueMatch::OneOf),
    ];
    (text(), prop::collection::btree_map(text(), condition, 0..3))
        .prop_map(|(event, properties)| EventRule { event, properties })
}

/// A KPI with a placeholder name (the journey names them, since names must be unique in it):
/// a note, or a measure with a target exact in its written form, a direction and an owner.
fn kpi() -> impl Strategy<Value = Kpi> {
    let measure = prop_oneof![
        Just(None),
        Just(Some(Measure::Completion)),
        Just(Some(Measure::RepeatContacts)),
        Just(Some(Measure::MedianTime { between: None })),
        Just(Some(Measure::Csat)),
        Just(Some(Measure::Nps)),
        Just(Some(Measure::Ces)),
        Just(Some(Measure::Volume)),
    ];
    (
        measure,
        proptest::option::of(0u32..=100),
        any::<bool>(),
        proptest::option::of("[A-Za-z][A-Za-z &]{0,20}"),
    )
        .prop_map(|(measure, target, up, owner)| {
            let Some(measure) = measure else {
                return Kpi {
                    id: String::new(),
                    name: String::new(),
                    measure: None,
                    target: None,
                    direction: Direction::Up,
                    owner: None,
                    within: None,
                };
            };
            let target = target.map(|t| match measure.unit() {
                Unit::Share => f64::from(t) / 100.0,
                Unit::Seconds => f64::from(t) * 60.0,
                // Hundredths, as written: exact when read back.
                Unit::Score { min, max } => f64::from(min * 100 + t as i32 * (max - min)) / 100.0,
                Unit::PerDay => f64::from(t) / 10.0,
            });
            Kpi {
                id: String::new(),
                name: String::new(),
                direction: match (target, up) {
                    (Some(_), true) => Direction::Up,
                    (Some(_), false) => Direction::Down,
                    (None, _) => measure.better(),
                },
                measure: Some(measure),
                target,
                owner: owner.map(|o| o.trim().to_string()),
                within: None,
            }
        })
}

fn touchpoint() -> impl Strategy<Value = Touchpoint> {
    let basics = (
        text(),
        choose(Channel::ALL),
        text(),
        choose(Actor::ALL),
        choose(Kind::ALL),
        choose(Visibility::ALL),
    );
    let experience = (
        proptest::option::of(text()),
        proptest::option::of(text()),
        proptest::option::of(text()),
        proptest::option::of(-2i8..=2),
    )
        .prop_map(|(thinks, does, feels, emotion)| Experience {
            thinks,
            does,
            feels,
            emotion,
        });
    let rest = (
        proptest::option::of(
            (0u64..100_000_000, 0u32..1_000_000_000).prop_map(|(s, n)| Duration::new(s, n)),
        ),
        any::<bool>(),
        any::<bool>(),
        prop::collection::vec(kpi(), 0..3),
        prop::collection::vec(event_rule(), 0..3),
    );
    (basics, experience, rest).prop_map(
        |(
            (name, channel, department, actor, kind, visibility),
            experience,
            (target, moment_of_truth, optional, kpis, events),
        )| {
            // The customer never acts out of sight; the reader rejects that.
            let visibility = if actor == Actor::Customer {
                Visibility::Front
            } else {
                visibility
            };
            Touchpoint {
                id: String::new(),
                name,
                channel,
                department,
                actor,
                kind,
                visibility,
                experience,
                target,
                // Derived from two drawn flags, so both values of `costly` round-trip.
                costly: moment_of_truth != optional,
                moment_of_truth,
                optional,
                kpis,
                events,
            }
        },
    )
}

fn stage() -> impl Strategy<Value = Stage> {
    (
        text(),
        proptest::option::of(text()),
        prop::collection::vec(touchpoint(), 1..4),
    )
        .prop_map(|(name, goal, touchpoints)| Stage {
            id: String::new(),
            name,
            goal,
            touchpoints,
        })
}

fn persona() -> impl Strategy<Value = Persona> {
    (
        text(),
        proptest::option::of(text()),
        prop::collection::vec(text(), 0..3),
        prop::collection::vec(text(), 0..3),
    )
        .prop_map(|(name, description, goals, pains)| Persona {
            id: String::new(),
            name,
            description,
            goals,
            pains,
        })
}

fn change() -> impl Strategy<Value = ChangeImpact> {
    (
        proptest::option::of(text()),
        proptest::option::of((0i32..40_000).prop_map(|days| {
            NaiveDate::from_ymd_opt(1990, 1, 1)
                .and_then(|d| d.checked_add_days(chrono::Days::new(days as u64)))
        })),
        prop::collection::vec(proptest::option::of(text()), 5),
    )
        .prop_map(|(owner, date, answers)| ChangeImpact {
            owner,
            date: date.flatten(),
            impact: answers[0].clone(),
            standpoint: answers[1].clone(),
            response: answers[2].clone(),
            find_out: answers[3].clone(),
            feedback: answers[4].clone(),
        })
}

fn journey() -> impl Strategy<Value = Journey> {
    let header = (
        id(),
        text(),
        text(),
        prop_oneof![Just("as-is".to_string()), Just("to-be".to_string()), text()],
    );
    (
        header,
        proptest::option::of(text()),
        prop::collection::vec(persona(), 0..3),
        prop::collection::vec(stage(), 1..4),
        prop::collection::vec(
            (
                any::<prop::sample::Index>(),
                any::<prop::sample::Index>(),
                proptest::option::of(text()),
            ),
            0..4,
        ),
        proptest::option::of(change()),
        id(),
        (
            prop::collection::vec(any::<prop::sample::Index>(), 0..3),
            prop::collection::vec(any::<prop::sample::Index>(), 0..3),
            proptest::option::of(
                (0u64..100_000_000, 0u32..1_000_000_000).prop_map(|(s, n)| Duration::new(s, n)),
            ),
        ),
        prop::collection::vec(
            (
                kpi(),
                any::<prop::sample::Index>(),
                any::<prop::sample::Index>(),
                any::<bool>(),
            ),
            0..3,
        ),
    )
        .prop_map(
            |(
                (id, title, owner, version),
                description,
                mut personas,
                mut stages,
                links,
                change,
                prefix,
                (starts, ends, timeout),
                journey_kpis,
            )| {
                // Ids are unique per kind; the reader rejects duplicates.
                for (index, persona) in personas.iter_mut().enumerate() {
                    persona.id = format!("{prefix}-p{index}");
                }
                let mut touchpoint_ids = Vec::new();
                for (index, stage) in stages.iter_mut().enumerate() {
                    stage.id = format!("{prefix}-s{index}");
                    for touchpoint in &mut stage.touchpoints {
                        touchpoint.id = format!("{prefix}-t{}", touchpoint_ids.len());
                        touchpoint_ids.push(touchpoint.id.clone());
                    }
                }
                let mut unique_links: Vec<Link> = Vec::new();
                for (from, to, label) in links {
                    let (from, to) = (
                        from.get(&touchpoint_ids).clone(),
                        to.get(&touchpoint_ids).clone(),
                    );
                    if !unique_links.iter().any(|l| l.from == from && l.to == to) {
                        unique_links.push(Link { from, to, label });
                    }
                }
                // The journey's KPIs: some a conversion between two of its touchpoints.
                let mut kpis: Vec<Kpi> = journey_kpis
                    .into_iter()
                    .map(|(mut kpi, from, to, conversion)| {
                        if conversion && kpi.measure.is_some() {
                            kpi.measure = Some(Measure::Conversion {
                                from: Some(from.get(&touchpoint_ids).clone()),
                                to: to.get(&touchpoint_ids).clone(),
                            });
                            kpi.target = kpi
                                .target
                                .map(|t| (t * 100.0).round().clamp(0.0, 100.0) / 100.0);
                            if kpi.target.is_none() {
                                kpi.direction = Direction::Up;
                            }
                        }
                        kpi
                    })
                    .collect();
                // KPI names are unique in a journey; their ids come from them.
                let every = stages
                    .iter_mut()
                    .flat_map(|s| s.touchpoints.iter_mut().flat_map(|t| t.kpis.iter_mut()))
                    .chain(kpis.iter_mut());
                for (n, kpi) in every.enumerate() {
                    kpi.name = match kpi.measure {
                        Some(_) => format!("KPI {n}"),
                        None => format!("Note {n}"),
                    };
                    kpi.id = waymark_journey::id_from_name(&kpi.name, |_| false);
                }
                let serves = personas.iter().map(|p| p.id.clone()).take(1).collect();
                // Listed once each; the reader drops repeats.
                let pick = |picks: Vec<prop::sample::Index>| {
                    let mut ids: Vec<String> = Vec::new();
                    for pick in picks {
                        let id = pick.get(&touchpoint_ids).clone();
                        if !ids.contains(&id) {
                            ids.push(id);
                        }
                    }
                    ids
                };
                let instances = Instances {
                    start: pick(starts),
                    end: pick(ends),
                    timeout,
                };
                Journey {
                    id,
                    title,
                    owner,
                    version,
                    description,
                    personas,
                    serves,
                    stages,
                    links: unique_links,
                    change,
                    instances,
                    kpis,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn a_journey_written_back_reads_back_equal(journey in journey()) {
        let yaml = waymark_journey::write(&journey);
        let report = waymark_journey::check(&yaml);
        let errors: Vec<_> = report.diagnostics.iter().filter(|d| d.severity == waymark_journey::Severity::Error).collect();
        prop_assert!(errors.is_empty(), "errors {:?} in\n{}", errors, yaml);
        prop_assert_eq!(report.journey.as_ref(), Some(&journey), "written as\n{}", yaml);
    }

    /// The browser's editor keeps a journey as a draft of fields: written out, the draft reads
    /// back to the journey it was made from (list items are one per line, so none may hold a
    /// line break).
    #[test]
    fn a_journey_as_an_editor_draft_reads_back_equal(journey in journey().prop_filter("list items are single lines", |j| {
        let single = |items: &[String]| items.iter().all(|item| !item.contains('\n'));
        j.personas.iter().all(|p| single(&p.goals) && single(&p.pains))
    })) {
        let draft = waymark_journey::draft::Draft::of(&journey);
        let (yaml, fields) = draft.file();
        prop_assert_eq!(fields.len(), yaml.lines().count());
        let report = waymark_journey::check(&yaml);
        let errors: Vec<_> = report.diagnostics.iter().filter(|d| d.severity == waymark_journey::Severity::Error).collect();
        prop_assert!(errors.is_empty(), "errors {:?} in\n{}", errors, yaml);
        prop_assert_eq!(report.journey.as_ref(), Some(&journey), "written as\n{}", yaml);
        // Merging an edit with an unchanged version gives the edit.
        prop_assert_eq!(waymark_journey::draft::merge(&draft, &draft, &draft), Ok(draft.clone()));
    }

    #[test]
    fn the_reader_never_panics_on_arbitrary_text(text in "(?s).{0,400}") {
        let report = waymark_journey::check(&text);
        prop_assert!(report.journey.is_some() || report.has_errors());
    }

    #[test]
    fn the_reader_never_panics_on_damaged_journeys(cut in 0usize..6000, insert in "[ \n:#\\-\\[\\]{}'\"a-z0-9]{0,6}") {
        let source = std::fs::read_to_string(super::workspace().join("examples/training-request/to-be.yaml")).expect("example");
        let mut at = cut.min(source.len());
        while !source.is_char_boundary(at) { at -= 1; }
        let damaged = format!("{}{}{}", &source[..at], insert, &source[(at + 3).min(source.len())..]);
        let report = waymark_journey::check(&damaged);
        for diagnostic in &report.diagnostics {
            prop_assert!(diagnostic.location.line >= 1 && diagnostic.location.column >= 1);
            prop_assert!(diagnostic.location.line <= damaged.lines().count().max(1) + 1, "{:?}", diagnostic);
            prop_assert!(diagnostic.hint.is_some(), "every problem has a hint: {:?}", diagnostic);
        }
    }
}

#[test]
fn every_example_reads_back_equal_after_writing() {
    for path in [
        "training-request/as-is.yaml",
        "training-request/to-be.yaml",
        "loan-application/journey.yaml",
    ] {
        let journey = super::load_example(path);
        let again = waymark_journey::check(&waymark_journey::write(&journey));
        assert_eq!(again.journey.as_ref(), Some(&journey), "{path}");
    }
}

#[test]
fn property_conditions_keep_their_order_free_meaning() {
    let mut properties = BTreeMap::new();
    properties.insert(
        "plan".to_string(),
        ValueMatch::OneOf(vec!["gold".into(), "silver".into()]),
    );
    let rule = EventRule {
        event: "Upgrade".into(),
        properties,
    };
    assert_eq!(rule.to_string(), "Upgrade where plan in [gold|silver]");
}

/// Lines made of KPI words in any order: reading never panics, a problem's place is inside the
/// line, and a KPI read is written as a line that reads back to the same KPI.
fn kpi_words() -> impl Strategy<Value = String> {
    let word = proptest::sample::select(vec![
        "Lead time",
        ":",
        "completion",
        "conversion",
        "over-target",
        "median-time",
        "repeat-contacts",
        "csat",
        "nps",
        "ces",
        "volume",
        "form",
        "->",
        "→",
        ">=",
        "<=",
        "≥",
        "<",
        "80%",
        "12.34567%",
        "2d",
        "1h 30m",
        "4.2",
        "-30",
        "40/day",
        "5 per day",
        "owner",
        "Finance",
        "é",
        "  ",
        "comletion",
    ]);
    prop::collection::vec(word, 0..10).prop_map(|words| words.join(" "))
}

proptest! {
    #[test]
    fn kpi_lines_read_and_write_back(line in kpi_words()) {
        match waymark_journey::kpi::parse(&line) {
            Err(problem) => prop_assert!(problem.at <= line.len(), "{:?}", problem),
            Ok(kpi) => {
                let written = kpi.to_string();
                let again = waymark_journey::kpi::parse(&written);
                prop_assert!(again.is_ok(), "{:?} written as {:?}: {:?}", line, written, again);
                let again = again.expect("checked");
                prop_assert_eq!(again.to_string(), written.clone());
                prop_assert_eq!(again.measure, kpi.measure);
            }
        }
    }
}
