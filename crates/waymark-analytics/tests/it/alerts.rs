//! Alert rules on a KPI with a weekly rhythm and a drift seeded in it: anomalies are found
//! against the same weekday, not against the week's average; a drift fires once, as one episode,
//! soon after it starts, and nothing fires before it.

use waymark_analytics::alerts::{self, Rule, Season, Watch};
use waymark_analytics::journey::kpis::Observations;
use waymark_journey::kpi::{Direction, Unit};

const DAY: i64 = 86_400_000_000;
/// A Monday, 2024-01-01.
const START: i64 = 1_704_067_200_000_000;
const DRIFT: i64 = 100;

/// 120 days of requests: 60 on weekdays, 15 at weekends; each completed with probability 0.8,
/// 0.55 from day 100 on.
fn completions() -> (Observations, Observations) {
    let shares = requests(20, Some(DRIFT));
    let volume = Observations {
        unit: Unit::PerDay,
        values: vec![1.0; shares.at.len()],
        at: shares.at.clone(),
    };
    (shares, volume)
}

/// 120 days of requests (60 on weekdays, 15 at weekends), each completed with probability 0.8,
/// 0.55 from the drift's day on when there is one.
fn requests(seed: u64, drift: Option<i64>) -> Observations {
    let mut rng = fastrand::Rng::with_seed(seed);
    let (mut at, mut values) = (Vec::new(), Vec::new());
    for day in 0..120 {
        let weekend = day % 7 >= 5;
        let n = if weekend { 15 } else { 60 };
        let p = if drift.is_some_and(|d| day >= d) {
            0.55
        } else {
            0.8
        };
        for k in 0..n {
            at.push(START + day * DAY + k * 60_000_000);
            values.push(if rng.f64() < p { 1.0 } else { 0.0 });
        }
    }
    Observations {
        unit: Unit::Share,
        at,
        values,
    }
}

fn fired_days(checks: &[alerts::Check]) -> Vec<i64> {
    checks
        .iter()
        .filter(|c| c.fired)
        .map(|c| (c.start - START) / DAY)
        .collect()
}

#[test]
fn a_drop_in_completion_is_an_anomaly_soon_after_it_starts_and_never_before() {
    let (shares, _) = completions();
    let rule = Rule::parse("anomaly", Unit::Share).expect("rule");
    let checks = alerts::check(
        &shares,
        Direction::Up,
        &rule,
        START + 60 * DAY,
        START + 120 * DAY,
    );
    let fired = fired_days(&checks);
    assert!(
        fired.iter().all(|&d| d >= DRIFT),
        "nothing before the drift: {fired:?}"
    );
    assert!(
        fired.first().is_some_and(|&d| d <= DRIFT + 2),
        "found within days: {fired:?}"
    );
    // Its expectation is the same weekday's median, about 0.8.
    let first = checks.iter().find(|c| c.fired).expect("fired");
    assert!(
        (first.expected.expect("expected") - 0.8).abs() < 0.08,
        "{first:?}"
    );
    // The drift lasts: the days that fire come in runs, each run one alert.
    let episodes = alerts::episodes(&checks, Direction::Up);
    assert!(!episodes.is_empty() && episodes.len() <= fired.len());
    assert_eq!(
        episodes.iter().map(|e| e.buckets).sum::<usize>(),
        fired.len()
    );
}

#[test]
fn weekends_are_quiet_by_design_not_an_anomaly() {
    let (_, volume) = completions();
    let rule = Rule::parse("anomaly by weekday", Unit::PerDay).expect("rule");
    let checks = alerts::check(
        &volume,
        Direction::Up,
        &rule,
        START + 60 * DAY,
        START + 120 * DAY,
    );
    assert_eq!(
        fired_days(&checks),
        Vec::<i64>::new(),
        "the same weekday is the expectation"
    );
    // Against the weeks as a whole, a quiet Saturday is no news either; but a weekday with a
    // quarter of its requests is.
    let mut dropped = volume.clone();
    let cut_day = START + 110 * DAY; // a Friday
    let keep: Vec<bool> = dropped
        .at
        .iter()
        .enumerate()
        .map(|(k, &t)| t < cut_day || t >= cut_day + DAY || k % 4 == 0)
        .collect();
    dropped.at = dropped
        .at
        .iter()
        .zip(&keep)
        .filter(|(_, k)| **k)
        .map(|(t, _)| *t)
        .collect();
    dropped.values = vec![1.0; dropped.at.len()];
    let checks = alerts::check(
        &dropped,
        Direction::Up,
        &rule,
        START + 60 * DAY,
        START + 120 * DAY,
    );
    assert_eq!(fired_days(&checks), vec![110]);
}

#[test]
fn bounds_and_changes_fire_on_the_window_and_group_into_one_episode() {
    let (shares, _) = completions();
    let below = Rule::parse("below 70%", Unit::Share).expect("rule");
    let checks = alerts::check(
        &shares,
        Direction::Up,
        &below,
        START + 60 * DAY,
        START + 120 * DAY,
    );
    let fired = fired_days(&checks);
    assert!(fired.iter().all(|&d| d >= DRIFT), "{fired:?}");
    assert!(
        fired.contains(&(DRIFT + 6)) && fired.contains(&119),
        "{fired:?}"
    );
    let episodes = alerts::episodes(&checks, Direction::Up);
    assert_eq!(episodes.len(), 1, "{episodes:?}");
    assert!(episodes[0].worst < 0.7);
    let worse = Rule::parse("worse by 20%", Unit::Share).expect("rule");
    let fired = fired_days(&alerts::check(
        &shares,
        Direction::Up,
        &worse,
        START + 60 * DAY,
        START + 120 * DAY,
    ));
    assert!(
        !fired.is_empty() && fired.iter().all(|&d| (DRIFT..DRIFT + 14).contains(&d)),
        "{fired:?}"
    );
    // A weekly rule needs eight weeks of history: from day 56 on.
    let weekly = Rule {
        watch: Watch::Anomaly {
            season: Season::Week,
            sensitivity: 3.5,
        },
        window_days: 7,
    };
    let checks = alerts::check(
        &shares,
        Direction::Up,
        &weekly,
        START + 56 * DAY,
        START + 119 * DAY,
    );
    let fired = fired_days(&checks);
    // The week the drift began in (five of its seven days after it), and the two after it.
    assert_eq!(fired, vec![98, 105, 112], "{fired:?}");
}

/// Without a drift the anomaly rule stays quiet: over twenty seeds of 60 checked days each,
/// hardly any day fires (a rule that cried wolf would be switched off).
#[test]
fn without_a_drift_anomalies_are_rare() {
    let mut fired = 0;
    let mut checked = 0;
    for seed in 0..20 {
        let shares = requests(seed, None);
        let rule = Rule::parse("anomaly", Unit::Share).expect("rule");
        let checks = alerts::check(
            &shares,
            Direction::Up,
            &rule,
            START + 60 * DAY,
            START + 120 * DAY,
        );
        checked += checks.len();
        fired += checks.iter().filter(|c| c.fired).count();
    }
    eprintln!("{fired} of {checked} days fired");
    assert!(fired * 200 <= checked, "{fired} of {checked} days fired");
}
