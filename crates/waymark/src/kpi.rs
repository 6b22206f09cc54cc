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
