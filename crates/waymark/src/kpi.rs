//! `waymark kpi check | compare`: a journey file's KPIs measured on its events.

use std::sync::Arc;

use anyhow::Context as _;
use waymark_analytics::journey::kpis::{self, Standing, Window};
use waymark_analytics::journey::{LogSource as _, Options};
use waymark_journey::Journey;

use crate::Outcome;
use crate::cli::{KpiArgs, KpiCommand, KpiFormat};

pub fn run(command: KpiCommand) -> anyhow::Result<Outcome> {
    match command {
        KpiCommand::Check(args) => check(&args, None),
        KpiCommand::Compare(args) => {
            let at = crate::analyze::time_bound(&args.at, "at")?;
            check(&args.kpi, Some(at))
        }
    }
}

fn check(args: &KpiArgs, at: Option<i64>) -> anyhow::Result<Outcome> {
    let journey = crate::journey::read_journey(&args.journey)?;
    let measurable = kpis::definitions(&journey)
        .iter()
        .filter(|(kpi, _, _)| kpi.measure.is_some())
        .count();
    if measurable == 0 {
        anyhow::bail!(
            "{} defines no measurable KPI; add lines such as `- Requests completed: completion >= 90%` under `kpis:` (docs/journey-file.md)",
            args.journey.display()
        );
    }
    let options = Options::default();
    let keep = waymark_store::Keep::only(waymark_analytics::journey::attributes_read(
        &journey, &options,
    ));
    let log = crate::analyze::load_log_keeping(&args.log, &keep)?;
    let last = log.time_column().iter().copied().max().unwrap_or(0);
    let now = match &args.now {
        Some(text) => crate::analyze::time_bound(text, "now")?,
        None => last,
    };
    let cut = log
        .cut(
            &journey,
            &Options {
                now: Some(now.max(last)),
                ..options
            },
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let window = Window {
        now,
        days: args.days,
        weeks: 12,
    };
    let json = waymark_server::kpis::scorecard_json(&journey, &cut.instances, window, at);
    let text = match args.format {
        KpiFormat::Json => serde_json::to_string_pretty(&json)? + "\n",
        KpiFormat::Table => table(&journey, &cut.instances, window, at, &json),
    };
    use std::io::Write as _;
    std::io::stdout()
        .write_all(text.as_bytes())
        .context("cannot write to standard output")?;
    let missed = kpis::scorecard(&journey, &cut.instances, window)
        .iter()
        .any(|card| card.standing == Standing::Missed);
    Ok(if missed && at.is_none() {
        Outcome::Problems
    } else {
        Outcome::Fine
    })
}

/// The scorecard as a terminal table, then each card's sentence (or each comparison's verdict).
fn table(
    journey: &Journey,
    instances: &Arc<Vec<waymark_analytics::journey::Instance>>,
    window: Window,
    at: Option<i64>,
    json: &serde_json::Value,
) -> String {
    let cards = kpis::scorecard(journey, instances, window);
    let rows: Vec<Vec<String>> = cards
        .iter()
        .map(|card| {
            let unit = card
                .kpi
                .measure
                .as_ref()
                .map(|m| m.unit())
                .unwrap_or(waymark_journey::kpi::Unit::Share);
            let shown = |v: Option<f64>| v.map_or("-".to_string(), |v| kpis::show(unit, v));
            vec![
                card.kpi.name.clone(),
                card.scope_name.clone(),
                card.owner.clone(),
                shown(card.value),
                card.kpi
                    .target_text()
                    .map(|t| {
                        let op = match card.kpi.direction {
                            waymark_journey::kpi::Direction::Up => ">=",
                            waymark_journey::kpi::Direction::Down => "<=",
                        };
                        format!("{op} {t}")
                    })
                    .unwrap_or_else(|| "-".to_string()),
                card.standing.as_str().to_string(),
                shown(card.previous),
                card.n.to_string(),
            ]
        })
        .collect();
    let mut out = format!(
        "{}: the last {} days to {}\n\n",
        journey.title,
        window.days,
        waymark_eventlog::time::format_micros(window.now)
    );
    out.push_str(&crate::output::text_table(
        &[
            "KPI", "of", "owner", "value", "target", "standing", "before", "observed",
        ],
        &rows,
    ));
    out.push('\n');
    let empty = Vec::new();
    for card in json["kpis"].as_array().unwrap_or(&empty) {
        let words = match at {
            Some(_) => &card["comparison"]["words"],
            None => &card["words"],
        };
        if let Some(words) = words.as_str() {
            out.push_str(words);
            out.push('\n');
        }
    }
    out
}

/// `waymark alerts simulate`.
pub fn alerts(command: crate::cli::AlertsCommand) -> anyhow::Result<Outcome> {
    let crate::cli::AlertsCommand::Simulate(args) = command;
    let journey = crate::journey::read_journey(&args.journey)?;
    let definitions = kpis::definitions(&journey);
    let Some((kpi, scope, _)) = definitions.iter().find(|(k, _, _)| k.id == args.kpi) else {
        let known: Vec<&str> = definitions
            .iter()
            .filter(|(k, _, _)| k.measure.is_some())
            .map(|(k, _, _)| k.id.as_str())
            .collect();
        let hint = match waymark_journey::did_you_mean(&args.kpi, known.iter().copied()) {
            Some(close) => format!("did you mean `{close}`?"),
            None => format!("its KPIs are {}", waymark_journey::one_of(&known)),
        };
        anyhow::bail!(
            "{} has no KPI `{}`; {hint}",
            args.journey.display(),
            args.kpi
        );
    };
    let Some(measure) = &kpi.measure else {
        anyhow::bail!("`{}` is a note, not a measure: nothing to watch", kpi.name);
    };
    let unit = measure.unit();
    let rule = waymark_analytics::alerts::Rule::parse(&args.rule, unit)
        .map_err(|e| anyhow::anyhow!("--rule: {e}"))?;
    let options = Options::default();
    let keep = waymark_store::Keep::only(waymark_analytics::journey::attributes_read(
        &journey, &options,
    ));
    let log = crate::analyze::load_log_keeping(&args.log, &keep)?;
    let last = log.time_column().iter().copied().max().unwrap_or(0);
    let to = match &args.to {
        Some(text) => crate::analyze::time_bound(text, "to")?,
        None => last,
    };
    let cut = log
        .cut(
            &journey,
            &Options {
                now: Some(to.max(last)),
                ..options
            },
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let observed = kpis::observe(&journey, &cut.instances, kpi, *scope, to)
        .ok_or_else(|| anyhow::anyhow!("`{}` cannot be measured", kpi.name))?;
    const DAY: i64 = 86_400_000_000;
    let end = to.div_euclid(DAY) * DAY + DAY;
    let checks = waymark_analytics::alerts::check(
        &observed,
        kpi.direction,
        &rule,
        end - args.days * DAY,
        end,
    );
    let episodes = waymark_analytics::alerts::episodes(&checks, kpi.direction);
    let day = |us: i64| waymark_eventlog::time::format_micros(us)[..10].to_string();
    let text = match args.format {
        KpiFormat::Json => {
            serde_json::to_string_pretty(&serde_json::json!({
                "kpi": kpi.id,
                "rule": rule.describe(unit),
                "checked": checks.len(),
                "fired": checks.iter().filter(|c| c.fired).count(),
                "alerts": episodes.iter().map(|e| serde_json::json!({
                    "from": day(e.start),
                    "last": day(e.last),
                    "buckets": e.buckets,
                    "worst": e.worst,
                    "expected": e.expected,
                })).collect::<Vec<_>>(),
            }))? + "\n"
        }
        KpiFormat::Table => {
            let mut out = format!(
                "{}: {} — {} buckets checked from {} to {}, {} fired, {} alert(s)\n",
                kpi.name,
                rule.describe(unit),
                checks.len(),
                day(end - args.days * DAY),
                day(end - DAY),
                checks.iter().filter(|c| c.fired).count(),
                episodes.len()
            );
            for e in &episodes {
                out.push_str(&format!(
                    "  {} to {} ({} bucket{}): worst {}{}\n",
                    day(e.start),
                    day(e.last),
                    e.buckets,
                    if e.buckets == 1 { "" } else { "s" },
                    kpis::show(unit, e.worst),
                    e.expected
                        .map(|x| format!(", against {}", kpis::show(unit, x)))
                        .unwrap_or_default()
                ));
            }
            out
        }
    };
    use std::io::Write as _;
    std::io::stdout().write_all(text.as_bytes())?;
    Ok(Outcome::Fine)
}
