//! The evidence an opportunity carries: what the measurements said of a touchpoint when it was
//! raised (people, drop-off, time over target, repeat contacts and what comes before them,
//! scores, the lowest-scored comments), of a funnel step (how many went on from the step before),
//! or of one comment. Measured here, on the server, from the live log: a client names where it
//! was raised, never what the figures were. Comments are quoted without the person who wrote them.

use waymark_analytics::journey::{Comment, Report, TouchpointFigures};
use waymark_analytics::{Funnel, FunnelOrder};
use waymark_journey::Journey;

use crate::plans::Evidence;

/// How many comments an opportunity quotes.
pub const QUOTED: usize = 3;

fn answers(n: usize) -> String {
    if n == 1 {
        "1 answer".into()
    } else {
        format!("{n} answers")
    }
}

fn journeys(n: usize) -> String {
    if n == 1 {
        "1 journey".into()
    } else {
        format!("{n} journeys")
    }
}

fn percent(share: f64) -> String {
    format!("{:.0}%", share * 100.0)
}

fn seconds(s: f64) -> String {
    waymark_journey::duration::format_seconds(s)
}

/// A touchpoint's name in `journey`, else its id.
pub fn name_of<'a>(journey: &'a Journey, id: &'a str) -> &'a str {
    journey
        .touchpoints()
        .find(|(_, t)| t.id == id)
        .map_or(id, |(_, t)| t.name.as_str())
}

/// What the report says of touchpoint `id`, and the lowest-scored of its `comments`.
pub fn of_touchpoint(
    journey: &Journey,
    report: &Report,
    id: &str,
    comments: &[Comment],
) -> Vec<Evidence> {
    let mut found = Vec::new();
    let fact = |measure: &str, words: String, value: Option<f64>| Evidence {
        journey: journey.id.clone(),
        touchpoint: Some(id.to_string()),
        measure: measure.to_string(),
        words,
        value,
    };
    let Some(t) = report.touchpoints.iter().find(|t| t.id == id) else {
        return found;
    };
    found.push(fact(
        "instances",
        format!(
            "{} came here ({} visits, {} of them repeated)",
            journeys(t.instances),
            t.visits,
            t.repeat_visits
        ),
        Some(t.instances as f64),
    ));
    if t.instances > 0 && t.drop_off > 0 {
        let share = t.drop_off as f64 / t.instances as f64;
        found.push(fact(
            "drop-off",
            format!(
                "{} ({} of those here) ended here without completing",
                journeys(t.drop_off),
                percent(share)
            ),
            Some(share),
        ));
    }
    found.extend(over_target(t).map(|(words, share)| fact("over-target", words, Some(share))));
    if let Some(c) = report
        .contacts
        .by_touchpoint
        .iter()
        .find(|c| c.touchpoint == id)
        && c.instances > 0
    {
        let share = c.repeated_instances as f64 / c.instances as f64;
        found.push(fact(
            "repeat-contacts",
            format!(
                "{} of the {} journeys with a contact here came back more than once ({})",
                c.repeated_instances,
                c.instances,
                percent(share)
            ),
            Some(share),
        ));
        for d in c.drivers.iter().chain(&c.attribute_drivers).take(3) {
            let before = if d.touchpoint.contains('=') {
                d.touchpoint.clone()
            } else {
                name_of(journey, &d.touchpoint).to_string()
            };
            found.push(fact(
                "driver",
                format!(
                    "{before} comes before a contact in {} of journeys with one, {} without",
                    percent(d.share_with),
                    percent(d.share_without)
                ),
                d.lift.is_finite().then_some(d.lift),
            ));
        }
    }
    let s = &t.scores;
    if let Some((v, n)) = s.csat {
        found.push(fact(
            "csat",
            format!("CSAT {v:.1} of 5 from {}", answers(n)),
            Some(v),
        ));
    }
    if let Some((v, n)) = s.nps {
        found.push(fact(
            "nps",
            format!("NPS {v:+.0} from {}", answers(n)),
            Some(v),
        ));
    }
    if let Some((v, n)) = s.ces {
        found.push(fact(
            "ces",
            format!("CES {v:.1} of 7 (lower is easier) from {}", answers(n)),
            Some(v),
        ));
    }
    let mut quoted: Vec<&Comment> = comments.iter().collect();
    // The unhappiest first (a CSAT of 1 before one of 4; NPS and CES read on the same 0..1
    // scale of goodness); unrated comments last, newest first among equals.
    quoted.sort_by(|a, b| {
        goodness(a)
            .partial_cmp(&goodness(b))
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(b.time.cmp(&a.time))
    });
    found.extend(
        quoted
            .into_iter()
            .take(QUOTED)
            .map(|c| of_comment(journey, id, c)),
    );
    found
}

/// How good a comment's scores say the experience was, 0 (worst) to 1; 2 without a score.
fn goodness(c: &Comment) -> f64 {
    use waymark_analytics::journey::ScoreKind;
    c.scores
        .iter()
        .map(|(kind, v)| match kind {
            ScoreKind::Csat => (v - 1.0) / 4.0,
            ScoreKind::Nps => v / 10.0,
            ScoreKind::Ces => (7.0 - v) / 6.0,
        })
        .fold(None, |worst: Option<f64>, g| {
            Some(worst.map_or(g, |w| w.min(g)))
        })
        .unwrap_or(2.0)
}

fn over_target(t: &TouchpointFigures) -> Option<(String, f64)> {
    let target = t.target_seconds?;
    let share = t.breach_share?;
    (t.visits > 0).then(|| {
        (
            format!(
                "{} of visits took longer than the target of {} (median {})",
                percent(share),
                seconds(target),
                seconds(t.total_seconds.median)
            ),
            share,
        )
    })
}

/// One comment, quoted with its scores.
pub fn of_comment(journey: &Journey, touchpoint: &str, c: &Comment) -> Evidence {
    let scores: Vec<String> = c
        .scores
        .iter()
        .map(|(kind, v)| format!("{} {v}", kind.as_str().to_uppercase()))
        .collect();
    let said = waymark_eventlog::time::format_micros(c.time);
    Evidence {
        journey: journey.id.clone(),
        touchpoint: Some(touchpoint.to_string()),
        measure: "comment".into(),
        words: if scores.is_empty() {
            format!("“{}” ({})", c.text, said.get(..10).unwrap_or(&said))
        } else {
            format!(
                "“{}” ({}, {})",
                c.text,
                scores.join(", "),
                said.get(..10).unwrap_or(&said)
            )
        },
        value: c.scores.first().map(|(_, v)| *v),
    }
}

/// Step `step` (1-based, at least 2) of a touchpoint funnel: how many went on from the step
/// before.
pub fn of_funnel_step(
    journey: &Journey,
    funnel: &Funnel,
    step: usize,
    window: &str,
    order: FunnelOrder,
) -> Option<Evidence> {
    let this = funnel.steps.get(step.checked_sub(1)?)?;
    let before = funnel.steps.get(step.checked_sub(2)?)?;
    let order = match order {
        FunnelOrder::Ordered => "in order",
        FunnelOrder::Strict => "strictly one after another",
        FunnelOrder::Any => "in any order",
    };
    Some(Evidence {
        journey: journey.id.clone(),
        touchpoint: Some(this.name.clone()),
        measure: "conversion".into(),
        words: format!(
            "{} of the {} journeys at {} went on to {} within {window} ({order}): {} dropped off ({})",
            this.reached,
            before.reached,
            name_of(journey, &before.name),
            name_of(journey, &this.name),
            this.drop_off,
            percent(this.conversion_from_previous)
        ),
        value: Some(this.conversion_from_previous),
    })
}

/// A title for an opportunity raised at touchpoint `id`, from its strongest evidence (the
/// comment first when it was raised from one).
pub fn title_for(journey: &Journey, id: &str, evidence: &[Evidence], from_comment: bool) -> String {
    let name = name_of(journey, id);
    let find = |measure: &str| evidence.iter().find(|e| e.measure == measure);
    if let Some(e) = find("conversion") {
        return format!(
            "{name}: only {} go on from the step before",
            percent(e.value.unwrap_or(0.0))
        );
    }
    if let Some(e) = find("comment").filter(|_| from_comment) {
        let text = e.words.trim_start_matches('“');
        let short: String = text.chars().take(60).collect();
        let short = short.split('”').next().unwrap_or(&short);
        return format!("{name}: “{short}”");
    }
    let share = |measure: &str| find(measure).and_then(|e| e.value).unwrap_or(0.0);
    let candidates = [
        (share("over-target"), "of visits over the target"),
        (share("repeat-contacts"), "come back more than once"),
        (share("drop-off"), "of journeys end here"),
    ];
    match candidates
        .into_iter()
        .filter(|(s, _)| *s > 0.0)
        .max_by(|a, b| a.0.total_cmp(&b.0))
    {
        Some((s, what)) => format!("{name}: {} {what}", percent(s)),
        None => format!("{name}: to look into"),
    }
}
