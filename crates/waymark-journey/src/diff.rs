//! Comparing two versions of a journey, and the customer-effort figures of each.

use std::collections::BTreeSet;

use crate::model::{Actor, Journey, Kind, Touchpoint};

/// How much a journey asks of the customer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Effort {
    /// Forms the customer fills in: touchpoints where the customer acts and the kind is `form`.
    pub customer_forms: usize,
    /// Approvals the customer waits on: touchpoints of kind `approval`.
    pub approvals: usize,
    /// Hand-offs the customer deals with: changes of owning department between consecutive
    /// customer-facing touchpoints, in journey order.
    pub handoffs: usize,
    /// Hand-offs behind the scenes too: changes of owning department between consecutive
    /// touchpoints of any visibility.
    pub internal_handoffs: usize,
    /// Departments the customer deals with: distinct owners of customer-facing touchpoints.
    pub departments: Vec<String>,
    /// Touchpoints the customer sees or does (front-stage).
    pub customer_touchpoints: usize,
    /// All touchpoints.
    pub touchpoints: usize,
    /// The sum of every touchpoint's target duration, in seconds.
    pub target_seconds: u64,
    /// The sum of the customer-facing touchpoints' target durations, in seconds.
    pub customer_target_seconds: u64,
}

/// Computes the customer-effort figures of a journey.
pub fn effort(journey: &Journey) -> Effort {
    let all: Vec<&Touchpoint> = journey.touchpoints().map(|(_, tp)| tp).collect();
    let facing: Vec<&Touchpoint> = all
        .iter()
        .copied()
        .filter(|tp| tp.is_customer_facing())
        .collect();
    let changes = |sequence: &[&Touchpoint]| {
        sequence
            .windows(2)
            .filter(|pair| pair[0].department != pair[1].department)
            .count()
    };
    let seconds = |sequence: &[&Touchpoint]| -> u64 {
        sequence
            .iter()
            .filter_map(|tp| tp.target)
            .map(|d| d.as_secs())
            .sum()
    };
    let departments: BTreeSet<&str> = facing.iter().map(|tp| tp.department.as_str()).collect();
    Effort {
        customer_forms: all
            .iter()
            .filter(|tp| tp.actor == Actor::Customer && tp.kind == Kind::Form)
            .count(),
        approvals: all.iter().filter(|tp| tp.kind == Kind::Approval).count(),
        handoffs: changes(&facing),
        internal_handoffs: changes(&all),
        departments: departments.into_iter().map(str::to_string).collect(),
        customer_touchpoints: facing.len(),
        touchpoints: all.len(),
        target_seconds: seconds(&all),
        customer_target_seconds: seconds(&facing),
    }
}

/// A touchpoint named in a diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TouchpointRef {
    pub id: String,
    pub name: String,
    pub stage: String,
}

/// One field that differs between two versions of a touchpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldChange {
    pub field: &'static str,
    pub before: String,
    pub after: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangedTouchpoint {
    pub touchpoint: TouchpointRef,
    pub changes: Vec<FieldChange>,
}

/// The difference between two versions of a journey. Touchpoints are matched by id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JourneyDiff {
    pub before_version: String,
    pub after_version: String,
    pub before: Effort,
    pub after: Effort,
    pub added: Vec<TouchpointRef>,
    pub removed: Vec<TouchpointRef>,
    pub changed: Vec<ChangedTouchpoint>,
    pub unchanged: usize,
    /// The journey's own KPIs added, removed or redefined, matched by id (a touchpoint's KPIs
    /// are among its field changes).
    pub kpis: Vec<KpiChange>,
}

/// A journey KPI as defined before and after (none: absent), each written as in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KpiChange {
    pub id: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// The journey KPIs that differ between two versions, in the order of `after` then `before`.
fn kpi_changes(before: &Journey, after: &Journey) -> Vec<KpiChange> {
    let find = |j: &Journey, id: &str| j.kpis.iter().find(|k| k.id == id).map(ToString::to_string);
    let mut ids: Vec<&str> = after.kpis.iter().map(|k| k.id.as_str()).collect();
    ids.extend(
        before
            .kpis
            .iter()
            .map(|k| k.id.as_str())
            .filter(|id| after.kpis.iter().all(|k| k.id != *id)),
    );
    ids.into_iter()
        .map(|id| KpiChange {
            id: id.to_string(),
            before: find(before, id),
            after: find(after, id),
        })
        .filter(|change| change.before != change.after)
        .collect()
}

/// Compares `before` (usually as-is) with `after` (usually to-be).
pub fn diff(before: &Journey, after: &Journey) -> JourneyDiff {
    let reference = |stage: &str, tp: &Touchpoint| TouchpointRef {
        id: tp.id.clone(),
        name: tp.name.clone(),
        stage: stage.to_string(),
    };
    let mut added = Vec::new();
    let mut changed = Vec::new();
    let mut unchanged = 0;
    for (stage, tp) in after.touchpoints() {
        match before.touchpoints().find(|(_, old)| old.id == tp.id) {
            None => added.push(reference(&stage.id, tp)),
            Some((old_stage, old)) => {
                let changes = field_changes(&old_stage.id, old, &stage.id, tp);
                if changes.is_empty() {
                    unchanged += 1;
                } else {
                    changed.push(ChangedTouchpoint {
                        touchpoint: reference(&stage.id, tp),
                        changes,
                    });
                }
            }
        }
    }
    let removed = before
        .touchpoints()
        .filter(|(_, old)| after.touchpoint(&old.id).is_none())
        .map(|(stage, old)| reference(&stage.id, old))
        .collect();
    JourneyDiff {
        before_version: before.version.clone(),
        after_version: after.version.clone(),
        before: effort(before),
        after: effort(after),
        added,
        removed,
        changed,
        unchanged,
        kpis: kpi_changes(before, after),
    }
}

/// A touchpoint's KPIs as written, `; ` between them, or `-`.
fn kpis(tp: &Touchpoint) -> String {
    if tp.kpis.is_empty() {
        return "-".to_string();
    }
    let lines: Vec<String> = tp.kpis.iter().map(ToString::to_string).collect();
    lines.join("; ")
}

fn field_changes(
    old_stage: &str,
    old: &Touchpoint,
    new_stage: &str,
    new: &Touchpoint,
) -> Vec<FieldChange> {
    let optional = |value: Option<String>| value.unwrap_or_else(|| "-".to_string());
    let target = |tp: &Touchpoint| optional(tp.target.map(crate::duration::format));
    let emotion = |tp: &Touchpoint| optional(tp.experience.emotion.map(|e| format!("{e:+}")));
    let events = |tp: &Touchpoint| {
        let names: Vec<String> = tp.events.iter().map(ToString::to_string).collect();
        if names.is_empty() {
            "-".to_string()
        } else {
            names.join(", ")
        }
    };
    let pairs: [(&'static str, String, String); 15] = [
        ("stage", old_stage.to_string(), new_stage.to_string()),
        ("name", old.name.clone(), new.name.clone()),
        ("channel", old.channel.to_string(), new.channel.to_string()),
        ("department", old.department.clone(), new.department.clone()),
        ("actor", old.actor.to_string(), new.actor.to_string()),
        ("kind", old.kind.to_string(), new.kind.to_string()),
        (
            "visibility",
            old.visibility.to_string(),
            new.visibility.to_string(),
        ),
        ("target", target(old), target(new)),
        (
            "feels",
            optional(old.experience.feels.clone()),
            optional(new.experience.feels.clone()),
        ),
        ("emotion", emotion(old), emotion(new)),
        (
            "moment_of_truth",
            old.moment_of_truth.to_string(),
            new.moment_of_truth.to_string(),
        ),
        (
            "optional",
            old.optional.to_string(),
            new.optional.to_string(),
        ),
        ("costly", old.costly.to_string(), new.costly.to_string()),
        ("kpis", kpis(old), kpis(new)),
        ("events", events(old), events(new)),
    ];
    pairs
        .into_iter()
        .filter(|(_, before, after)| before != after)
        .map(|(field, before, after)| FieldChange {
            field,
            before,
            after,
        })
        .collect()
}

/// What a version changed against the one before, in words, for a journey's activity: e.g.
/// "added Adjuster calls; removed Letter; changed Claim paid (channel, target); the title".
pub fn summary(before: Option<&Journey>, after: &Journey) -> String {
    let Some(before) = before else {
        return format!(
            "first version: {} stages, {} touchpoints",
            after.stages.len(),
            after.touchpoints().count()
        );
    };
    let compared = diff(before, after);
    let mut parts = Vec::new();
    let names = |list: &[TouchpointRef]| {
        list.iter()
            .map(|t| t.name.clone())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !compared.added.is_empty() {
        parts.push(format!("added {}", names(&compared.added)));
    }
    if !compared.removed.is_empty() {
        parts.push(format!("removed {}", names(&compared.removed)));
    }
    for changed in &compared.changed {
        let fields: Vec<&str> = changed.changes.iter().map(|c| c.field).collect();
        parts.push(format!(
            "changed {} ({})",
            changed.touchpoint.name,
            fields.join(", ")
        ));
    }
    // What the field comparison does not cover: the rest of a touchpoint (what the customer
    // thinks and does), and the journey's own fields.
    for (_, touchpoint) in after.touchpoints() {
        let listed = compared
            .changed
            .iter()
            .any(|c| c.touchpoint.id == touchpoint.id);
        if let Some(old) = before.touchpoint(&touchpoint.id)
            && !listed
            && old != touchpoint
        {
            parts.push(format!("changed {} (experience)", touchpoint.name));
        }
    }
    let stage_names = |j: &Journey| -> Vec<(String, String, Option<String>)> {
        j.stages
            .iter()
            .map(|s| (s.id.clone(), s.name.clone(), s.goal.clone()))
            .collect()
    };
    let journey_fields = [
        ("the title", before.title != after.title),
        ("the owner", before.owner != after.owner),
        ("the version label", before.version != after.version),
        ("the description", before.description != after.description),
        (
            "the personas",
            before.personas != after.personas || before.serves != after.serves,
        ),
        ("the stages", stage_names(before) != stage_names(after)),
        ("the links", before.links != after.links),
        ("the change-impact answers", before.change != after.change),
        ("how instances are cut", before.instances != after.instances),
        ("the journey's KPIs", before.kpis != after.kpis),
    ];
    for (name, differs) in journey_fields {
        if differs {
            parts.push(name.to_string());
        }
    }
    if parts.is_empty() {
        "no change".to_string()
    } else {
        parts.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_summary_names_what_changed() {
        let before = crate::template::universal("claim", "Make a claim");
        assert_eq!(
            summary(None, &before),
            "first version: 6 stages, 6 touchpoints"
        );
        let mut after = before.clone();
        after.title = "Claim".into();
        after.stages[0].touchpoints[0].channel = crate::Channel::Phone;
        after.stages[1].touchpoints[0].experience.thinks = Some("Which one?".into());
        let mut added = after.stages[2].touchpoints[0].clone();
        added.id = "call".into();
        added.name = "Adjuster calls".into();
        after.stages[2].touchpoints.push(added);
        after.stages[5].touchpoints.clear();
        assert_eq!(
            summary(Some(&before), &after),
            "added Adjuster calls; removed Renew / advocate: first touchpoint; changed Need: first touchpoint (channel); changed Evaluate options: first touchpoint (experience); the title"
        );
        assert_eq!(summary(Some(&before), &before), "no change");
    }
}
