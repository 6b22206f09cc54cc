//! Journey performance as JSON: one shape for `waymark journey report --format json` and the
//! journey API, so both say the same numbers.

use serde_json::{Value, json};
use waymark_analytics::Summary;
use waymark_analytics::journey::{Driver, Report, ScoreFigures};

fn summary(s: &Summary) -> Value {
    if s.count == 0 {
        return json!({ "count": 0 });
    }
    json!({
        "count": s.count,
        "mean": s.mean,
        "median": s.median,
        "p90": s.p90,
        "min": s.min,
        "max": s.max,
    })
}

fn scores(s: &ScoreFigures) -> Value {
    let pair = |p: Option<(f64, usize)>| {
        p.map(|(value, answers)| json!({ "value": value, "answers": answers }))
    };
    json!({ "csat": pair(s.csat), "nps": pair(s.nps), "ces": pair(s.ces) })
}

fn drivers(list: &[Driver]) -> Value {
    list.iter()
        .map(|d| {
            json!({
                "touchpoint": d.touchpoint,
                "share_with": d.share_with,
                "share_without": d.share_without,
                // JSON has no infinity: a touchpoint that never happens without is `null`.
                "lift": d.lift.is_finite().then_some(d.lift),
            })
        })
        .collect()
}

/// A journey report as JSON. Durations are in seconds, shares are fractions (0–1).
pub fn report_json(report: &Report) -> Value {
    json!({
        "journey": report.journey,
        "version": report.version,
        "instances": {
            "total": report.instances.total,
            "completed": report.instances.completed,
            "abandoned": report.instances.abandoned,
            "open": report.instances.open,
            "completed_seconds": summary(&report.completed_seconds),
        },
        "stages": report.stages.iter().map(|s| json!({
            "id": s.id,
            "name": s.name,
            "reached": s.reached,
            "conversion_to_next": s.conversion_to_next,
        })).collect::<Value>(),
        "touchpoints": report.touchpoints.iter().map(|t| json!({
            "id": t.id,
            "name": t.name,
            "stage": t.stage,
            "optional": t.optional,
            "moment_of_truth": t.moment_of_truth,
            "contact": t.contact,
            "target_seconds": t.target_seconds,
            "emotion": t.emotion,
            "events": t.events,
            "visits": t.visits,
            "instances": t.instances,
            "repeat_visits": t.repeat_visits,
            "drop_off": t.drop_off,
            "at_seconds": summary(&t.at_seconds),
            "wait_after_seconds": summary(&t.wait_after_seconds),
            "total_seconds": summary(&t.total_seconds),
            "breach_share": t.breach_share,
            "worst": t.worst.iter().map(|(case, seconds)| json!({ "case": case, "seconds": seconds })).collect::<Value>(),
            "scores": scores(&t.scores),
        })).collect::<Value>(),
        "funnel": {
            "instances": report.funnel.cases,
            "steps": report.funnel.steps.iter().map(|s| json!({
                "step": s.name,
                "reached": s.reached,
                "conversion_from_previous": s.conversion_from_previous,
                "conversion_from_first": s.conversion_from_first,
                "median_seconds_from_previous": s.median_seconds_from_previous,
                "drop_off": s.drop_off,
            })).collect::<Value>(),
        },
        "milestones": report.milestones.iter().map(|m| json!({
            "from": m.from,
            "to": m.to,
            "from_reached": m.from_reached,
            "reached": m.reached,
            "seconds": summary(&m.seconds),
        })).collect::<Value>(),
        "conformance": {
            "method": "replay on the journey's transition system (directly-follows token replay)",
            "fitting": report.conformance.fitting,
            "share": report.conformance.share,
            "completed_share": report.conformance.completed_share,
            "deviations": report.conformance.deviations.iter().map(|d| json!({
                "kind": d.kind.as_str(),
                "from": (!d.from.is_empty()).then_some(&d.from),
                "to": d.to,
                "skipped": d.skipped,
                "count": d.count,
            })).collect::<Value>(),
        },
        "contacts": {
            "touchpoints": report.contacts.touchpoints,
            "per_instance": report.contacts.per_instance,
            "instances_with_contact": report.contacts.instances_with_contact,
            "instances_with_repeat": report.contacts.instances_with_repeat,
            "repeat_rate": report.contacts.repeat_rate,
            "by_touchpoint": report.contacts.by_touchpoint.iter().map(|c| json!({
                "touchpoint": c.touchpoint,
                "visits": c.visits,
                "instances": c.instances,
                "repeated_instances": c.repeated_instances,
                "preceded_by": c.preceded_by.iter().map(|(t, n)| json!({ "touchpoint": t, "visits": n })).collect::<Value>(),
                "drivers": drivers(&c.drivers),
            })).collect::<Value>(),
        },
        "experience": {
            "journey": scores(&report.experience.journey),
            "low_instances": report.experience.low_instances,
            "low_drivers": drivers(&report.experience.low_drivers),
            "breach_share_low": report.experience.breach_share_low,
            "breach_share_other": report.experience.breach_share_other,
        },
        "moments_of_truth": {
            "method": "completion rate of closed instances that visited the touchpoint minus of those that did not",
            "touchpoints": report.moments.iter().map(|m| json!({
                "touchpoint": m.touchpoint,
                "influence": m.influence,
                "visited": m.visited,
                "designed": m.designed,
            })).collect::<Value>(),
        },
        "trend": report.trend.iter().map(|p| json!({
            "period": p.period,
            "instances": p.instances,
            "completed": p.completed,
            "completed_median_seconds": p.completed_median_seconds,
            "conformance_share": p.conformance_share,
            "contacts_per_instance": p.contacts_per_instance,
        })).collect::<Value>(),
        "segments": report.segments.iter().map(|s| json!({
            "value": s.value,
            "instances": s.instances,
            "completed": s.completed,
            "completed_median_seconds": s.completed_median_seconds,
            "conformance_share": s.conformance_share,
            "contacts_per_instance": s.contacts_per_instance,
        })).collect::<Value>(),
        "unmapped": report.unmapped.iter().map(|(a, n)| json!({ "activity": a, "events": n })).collect::<Value>(),
    })
}
