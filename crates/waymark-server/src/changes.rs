//! The five questions as a gate: a to-be version becomes a journey's current version only once
//! its five change-impact answers are written and the journey's owner approved them.
//!
//! Every path that deploys a journey file (the API, the editor, `waymark journey deploy`, the
//! demo) asks [`gated`] first. A gated file is checked for its answers ([`unanswered`]), kept as
//! a proposal (store `Proposals`, out of the journey's versions) and a request of the built-in
//! process `waymark-journey-change` (`changes/process.yaml`) is started for the owner's approval
//! ([`propose`]). Once the owner decides, the request's last step is Waymark's own worker step:
//! [`settle`] publishes the version (only on top of the version it was proposed on) or marks the
//! proposal sent back, and emails the owners of the touchpoints that changed, with the diff.

use serde_json::{Map, Value, json};
use waymark_journey::{CHANGE_QUESTIONS, Diagnostic, Journey};
use waymark_store::Store;
use waymark_store::proposals::{NewProposal, Proposal, ProposalStatus, Publishing};
use waymark_store::workflow::{User, WorkflowError};
use waymark_workflow::engine::Command;

use crate::mail::Mailer;

/// The process approvals run as (a `waymark-…` id: Waymark's own).
pub const PROCESS: &str = "waymark-journey-change";
/// The collected event its start waits for (started by Waymark only).
pub const MESSAGE: &str = "Journey Change Proposed";
/// The worker topic of its last step, which Waymark itself carries out.
pub const TOPIC: &str = "waymark-journey-change";
/// The owner's form.
pub const APPROVE_FORM: &str = "waymark-journey-change-approve";
/// The owner's step, as the audit trail names it.
pub const APPROVAL: &str = "owner-approval";
const SOURCE: &str = include_str!("../changes/process.yaml");
const FORM: &str = include_str!("../changes/forms/waymark-journey-change-approve.form");

/// The lint codes that say the five answers are not all written and signed.
const UNANSWERED: [&str; 3] = [
    "change-impact-missing",
    "change-impact-incomplete",
    "change-impact-unsigned",
];

/// Why a change could not be proposed or decided.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    /// The five answers are not all written: the first problem, where it is, and what to do.
    #[error("{message}")]
    Unanswered {
        message: String,
        location: String,
        hint: String,
    },
    /// Nobody in the directory may approve it.
    #[error("{0}")]
    NoApprover(String),
    #[error(transparent)]
    Workflow(#[from] WorkflowError),
    #[error(transparent)]
    Store(#[from] waymark_store::StoreError),
}

/// Whether a version label says the version describes what happens today (`as-is`, `current`,
/// `current state`).
pub fn is_as_is(label: &str) -> bool {
    let normal: String = label
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect();
    matches!(normal.as_str(), "asis" | "current" | "currentstate")
}

/// Whether a journey file waits for its owner's approval before it becomes current: every version
/// but an as-is one deployed while the journey's current version is as-is too (or it has none).
/// A to-be, a version under any other label, and any version after a to-be went live change what
/// customers live through; relabelling one `as-is` does not let it pass either.
pub fn gated(journey: &Journey, current_label: Option<&str>) -> bool {
    !is_as_is(&journey.version) || current_label.is_some_and(|label| !is_as_is(label))
}

/// [`gated`], against the journey's current version in the store.
pub fn gated_in(store: &dyn Store, journey: &Journey) -> Result<bool, waymark_store::StoreError> {
    let current = store.journey(&journey.id, None)?;
    Ok(gated(journey, current.as_ref().map(|c| c.label.as_str())))
}

/// Why a gated file cannot be proposed yet, if it cannot: its five answers are not all written
/// and signed. `diagnostics` are the file's; the place of its `version:` line is read from
/// `source`.
pub fn unanswered(
    journey: &Journey,
    diagnostics: &[Diagnostic],
    source: &str,
) -> Option<ChangeError> {
    let rule = format!(
        "version `{}` becomes current only once the journey's owner approves its five change-impact answers, written and signed",
        journey.version
    );
    if journey.change.is_none() {
        let location = source
            .lines()
            .position(|line| line.starts_with("version:"))
            .map(|i| {
                let line = source.lines().nth(i).unwrap_or_default();
                let column = line.len() - line["version:".len()..].trim_start().len() + 1;
                format!("{}:{column}", i + 1)
            })
            .unwrap_or_else(|| "1:1".into());
        return Some(ChangeError::Unanswered {
            message: format!("{rule}, and it has no change-impact assessment"),
            location,
            hint: "add a `change:` section answering impact, standpoint, response, find_out and feedback, with its owner and date".into(),
        });
    }
    let d = diagnostics.iter().find(|d| UNANSWERED.contains(&d.code))?;
    Some(ChangeError::Unanswered {
        message: format!("{rule}: {}", d.message),
        location: d.location.to_string(),
        hint: d.hint.clone().unwrap_or_default(),
    })
}

/// What [`deploy`] did with a journey file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deployment {
    /// Deployed as it came: its version, and whether it is new.
    Deployed { version: i64, created: bool },
    /// Waiting for the owner's approval (or the current version already).
    Proposed(Proposed),
}

/// The one way a checked journey file is deployed (the API, `waymark journey deploy`, the demo):
/// as it comes when it is not [`gated`], else proposed, once its five answers are written.
pub fn deploy(
    store: &dyn Store,
    journey: &Journey,
    diagnostics: &[Diagnostic],
    source: &str,
    by: &str,
    now_us: i64,
) -> Result<Deployment, ChangeError> {
    if gated_in(store, journey)? {
        return Ok(Deployment::Proposed(propose_answered(
            store,
            journey,
            diagnostics,
            source,
            by,
            now_us,
        )?));
    }
    let (version, created) = store.deploy_journey(&journey.id, &journey.version, source, now_us)?;
    if created {
        crate::journeys::record_version(store, &journey.id, version, by, now_us);
    }
    Ok(Deployment::Deployed { version, created })
}

/// [`propose`], once the file's five answers are written and signed ([`unanswered`]).
pub fn propose_answered(
    store: &dyn Store,
    journey: &Journey,
    diagnostics: &[Diagnostic],
    source: &str,
    by: &str,
    now_us: i64,
) -> Result<Proposed, ChangeError> {
    if let Some(problem) = unanswered(journey, diagnostics, source) {
        return Err(problem);
    }
    propose(store, journey, source, by, now_us)
}

/// Deploys the approval process and its form: a new version only when they changed.
pub fn install(store: &dyn Store, now_us: i64) -> Result<(), waymark_store::StoreError> {
    store.put_form(APPROVE_FORM, FORM, now_us)?;
    store.deploy_process(PROCESS, "Approve a journey change", "yaml", SOURCE, now_us)?;
    Ok(())
}

use crate::followups::slug;

/// The people of a directory department (`department` as a slug) who answer for it: its leads
/// (the `manager` role), else everyone in it.
fn leads_of<'a>(people: &'a [User], department: &str) -> Vec<&'a User> {
    let members: Vec<&User> = people
        .iter()
        .filter(|u| {
            u.department
                .as_deref()
                .is_some_and(|d| slug(d) == department)
        })
        .collect();
    let leads: Vec<&User> = members
        .iter()
        .copied()
        .filter(|u| u.has_role("manager"))
        .collect();
    if leads.is_empty() { members } else { leads }
}

/// The variable of the approval request that carries a question's answer (the process file's
/// names are camelCase: `find_out` is `findOut`).
fn variable_of(question: &waymark_journey::ChangeQuestion) -> &'static str {
    if question.key == "find_out" {
        "findOut"
    } else {
        question.key
    }
}

/// Who approves a change to a journey owned by `owner` (its current version's owner: a proposal
/// cannot choose its own approver), proposed by `proposer`: the owner when it names a person (by
/// id, else email, else name; a name more than one person has is refused); for a department (or
/// a team named after one, as `HR Learning & Development` is of `HR`), its lead (someone there
/// with the `manager` role), else anyone there. Nobody approves their own proposal: when the
/// owner proposed it, another lead approves, else the proposer's manager.
pub fn approver(people: &[User], owner: &str, proposer: &str) -> Result<String, ChangeError> {
    let owner = owner.trim();
    let wanted = slug(owner);
    let by_id: Vec<&User> = people.iter().filter(|u| u.id == owner).collect();
    let by_email: Vec<&User> = people
        .iter()
        .filter(|u| {
            u.email
                .as_deref()
                .is_some_and(|e| e.eq_ignore_ascii_case(owner))
        })
        .collect();
    let by_name: Vec<&User> = people.iter().filter(|u| slug(&u.name) == wanted).collect();
    let mut named = if !by_id.is_empty() {
        by_id
    } else if !by_email.is_empty() {
        by_email
    } else {
        if by_name.len() > 1 {
            return Err(ChangeError::NoApprover(format!(
                "{} people in the directory are named `{owner}`, the journey's owner, so it is not clear who approves this change; write the owner's directory id under `owner:`",
                by_name.len()
            )));
        }
        by_name
    };
    if named.is_empty() {
        // The department named, else the one a team is named after (`HR Learning & Development`
        // is a team of `HR`): the longest department name the owner's starts with, word by word.
        let department = people
            .iter()
            .filter_map(|u| u.department.as_deref().map(slug))
            .filter(|d| *d == wanted || wanted.starts_with(&format!("{d}-")))
            .max_by_key(String::len);
        named = department.map_or_else(Vec::new, |d| leads_of(people, &d));
    }
    named.sort_by(|a, b| a.id.cmp(&b.id));
    if named.is_empty() {
        return Err(ChangeError::NoApprover(format!(
            "nobody in the directory answers for the journey's owner `{owner}`, so nobody can approve this change; write a person's id or email, or a directory department, under `owner:` (of the current version, when there is one), or add them to the directory (POST /v1/directory/users)"
        )));
    }
    if let Some(other) = named.iter().find(|u| u.id != proposer) {
        return Ok(other.id.clone());
    }
    let manager = people
        .iter()
        .find(|u| u.id == proposer)
        .and_then(|u| u.manager.clone())
        .filter(|m| m != proposer && people.iter().any(|u| &u.id == m));
    manager.ok_or_else(|| {
        ChangeError::NoApprover(format!(
            "`{proposer}` is the journey's only owner and has no manager in the directory to approve their own change; nobody decides on their own proposal"
        ))
    })
}

/// What proposing a change did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Proposed {
    /// The file is the journey's current version already: nothing to approve.
    Current { version: i64 },
    /// Kept as proposal `proposal`, waiting in request `request` for `approver`; the proposals it
    /// replaced were withdrawn (their requests cancelled).
    Waiting {
        proposal: i64,
        request: i64,
        approver: String,
        withdrawn: Vec<i64>,
    },
}

/// Proposes `journey` (read from `source`, a gated version whose answers are written) as the
/// next version of its journey, for `by` (a directory id, or what the access trail calls the
/// caller).
pub fn propose(
    store: &dyn Store,
    journey: &Journey,
    source: &str,
    by: &str,
    now_us: i64,
) -> Result<Proposed, ChangeError> {
    let current = store.journey(&journey.id, None)?;
    if let Some(current) = current.as_ref().filter(|c| c.source == source) {
        return Ok(Proposed::Current {
            version: current.version,
        });
    }
    let base = current.as_ref().map_or(0, |c| c.version);
    // The same file sent again (a client retrying) is the proposal already waiting.
    let waiting = store
        .proposals(Some(&journey.id), 1)?
        .into_iter()
        .find(|p| p.status == ProposalStatus::Waiting && p.source == source && p.base == base);
    if let Some(p) = waiting
        && let Some(request) = p.request
    {
        let approver = approver_of(store, &p)?
            .into_iter()
            .next()
            .unwrap_or_default();
        return Ok(Proposed::Waiting {
            proposal: p.id,
            request,
            approver,
            withdrawn: Vec::new(),
        });
    }
    let before = current
        .as_ref()
        .and_then(|c| waymark_journey::check(&c.source).journey);
    // The current version's owner approves: a proposal does not choose its own approver.
    let owner = before.as_ref().map_or(&journey.owner, |b| &b.owner);
    // A leaver approves nothing.
    let mut people = store.users()?;
    let mut left = Vec::new();
    for person in &people {
        if store.disabled(&person.id)? {
            left.push(person.id.clone());
        }
    }
    people.retain(|p| !left.contains(&p.id));
    let approver = approver(&people, owner, by)?;
    install(store, now_us)?;
    let (proposal, withdrawn) = store.propose_journey(&NewProposal {
        journey: journey.id.clone(),
        label: journey.version.clone(),
        source: source.to_string(),
        base,
        by: by.to_string(),
        at_us: now_us,
    })?;
    for old in &withdrawn {
        if let Some(request) = old.request {
            let cancelled = store.advance(
                request,
                Command::Cancel {
                    reason: format!("replaced by a newer proposal ({proposal})"),
                },
                by,
                now_us,
            );
            if let Err(error) = cancelled {
                tracing::warn!(request, %error, "the request of a replaced proposal could not be cancelled");
            }
        }
    }
    let mut variables = Map::new();
    let mut set = |k: &str, v: Value| {
        variables.insert(k.to_string(), v);
    };
    set("journey", json!(journey.id));
    set("title", json!(journey.title));
    set("label", json!(journey.version));
    set("proposal", json!(proposal));
    set("base", json!(base));
    set("owner", json!(owner));
    set("approver", json!(approver));
    set(
        "summary",
        json!(waymark_journey::diff::summary(before.as_ref(), journey)),
    );
    let change = journey
        .change
        .clone()
        .unwrap_or(waymark_journey::ChangeImpact {
            owner: None,
            date: None,
            impact: None,
            standpoint: None,
            response: None,
            find_out: None,
            feedback: None,
        });
    for (question, answer) in CHANGE_QUESTIONS.iter().zip(change.answers()) {
        set(variable_of(question), json!(answer.unwrap_or_default()));
    }
    set("answeredBy", json!(change.owner.unwrap_or_default()));
    set(
        "answeredOn",
        json!(change.date.map(|d| d.to_string()).unwrap_or_default()),
    );
    // Keyed `waymark-…`: no collected event's id can take the key first.
    let started = store.start_keyed(
        PROCESS,
        by,
        Some(MESSAGE),
        variables,
        Some(&format!("waymark-journey-change:{proposal}")),
        now_us,
    );
    let request = match started {
        Ok(Some(request)) => request,
        failed => {
            // Not left waiting for a request that never started.
            store.settle_proposal(
                proposal,
                ProposalStatus::Withdrawn,
                by,
                Some("its approval request could not be started"),
                now_us,
            )?;
            failed?;
            return Err(WorkflowError::UnknownProcess(PROCESS.into()).into());
        }
    };
    store.attach_request(proposal, request)?;
    tracing::info!(journey = %journey.id, proposal, request, %approver, "a journey change was proposed");
    Ok(Proposed::Waiting {
        proposal,
        request,
        approver,
        withdrawn: withdrawn.iter().map(|p| p.id).collect(),
    })
}

/// What [`settle`] did with one decided request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settled {
    pub proposal: i64,
    pub status: ProposalStatus,
    /// The version it became, when published.
    pub version: Option<i64>,
    /// How many people were emailed.
    pub emailed: usize,
}

/// Carries out the decided approvals: each open worker step of the approval process publishes
/// its proposal (approved) or sends it back, emails the people concerned (when mail is set up),
/// and completes the step. Safe to run at any time and on any node: a proposal is published at
/// most once, and a step completed by another node is skipped.
pub fn settle(store: &dyn Store, mailer: Option<&Mailer>, now_us: i64) -> Vec<Settled> {
    let mut settled = Vec::new();
    let mut after = None;
    loop {
        let (tasks, next) = match store.worker_tasks(Some(TOPIC), after, 100) {
            Ok(page) => page,
            Err(error) => {
                tracing::warn!(%error, "the decided journey changes could not be read; trying again later");
                return settled;
            }
        };
        for task in tasks {
            match settle_one(store, mailer, task.instance, task.task, now_us) {
                Ok(Some(done)) => settled.push(done),
                Ok(None) => {}
                Err(error) => {
                    tracing::warn!(request = task.instance, %error, "a decided journey change could not be carried out; trying again later");
                }
            }
        }
        match next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    if let Err(error) = withdraw_ended(store, now_us) {
        tracing::warn!(%error, "proposals whose approval request ended could not be withdrawn");
    }
    settled
}

/// Withdraws the waiting proposals whose approval request ended without a decision (an
/// administrator cancelled it): they would otherwise wait for nobody.
fn withdraw_ended(store: &dyn Store, now_us: i64) -> Result<(), ChangeError> {
    for p in store.proposals(None, 100)? {
        if p.status != ProposalStatus::Waiting {
            continue;
        }
        let Some(request) = p.request else { continue };
        let ended = store
            .instance(request)?
            .is_none_or(|row| row.status != "running");
        if ended {
            store.settle_proposal(
                p.id,
                ProposalStatus::Withdrawn,
                "system",
                Some("its approval request ended without a decision"),
                now_us,
            )?;
        }
    }
    Ok(())
}

fn settle_one(
    store: &dyn Store,
    mailer: Option<&Mailer>,
    instance: i64,
    task: u64,
    now_us: i64,
) -> Result<Option<Settled>, ChangeError> {
    let Some(row) = store.instance(instance)? else {
        return Ok(None);
    };
    if row.process != PROCESS {
        return Ok(None);
    }
    let variables = &row.state.variables;
    let Some(proposal_id) = variables.get("proposal").and_then(Value::as_i64) else {
        tracing::warn!(
            request = instance,
            "a journey change request names no proposal; it is left for an administrator"
        );
        return Ok(None);
    };
    let decider = store
        .instance_tasks(instance)?
        .into_iter()
        .rev()
        .find(|t| t.node == APPROVAL && t.status == "completed")
        .and_then(|t| t.completed_by)
        .unwrap_or_else(|| "system".into());
    // Only a person who is not the proposer approves (the engine lets nobody decide on their own
    // request; this holds whatever moved the step).
    let approved = variables.get("approved").and_then(Value::as_bool) == Some(true)
        && decider != "system"
        && decider != row.requester;
    let reason = variables
        .get("reason")
        .and_then(Value::as_str)
        .map(str::to_string);
    // `fresh`: this call decided it. Only what this call decided is mailed, so a step settled
    // twice (two nodes, or a retry) mails once; the activity entry is made good on a retry.
    // `fresh`: this call decided it. Only what this call decided is mailed, so a step settled
    // twice (two nodes, or a retry) mails once; the activity entry is made good on a retry.
    let (version, fresh) = if approved {
        match store.publish_proposal(proposal_id, &decider, now_us)? {
            Publishing::Published { version, fresh } => (Some(version), fresh),
            Publishing::Stale { .. } => (None, true),
            Publishing::Settled(_) | Publishing::Missing => (None, false),
        }
    } else {
        let decided = store.settle_proposal(
            proposal_id,
            ProposalStatus::SentBack,
            &decider,
            reason.as_deref(),
            now_us,
        )?;
        (None, decided)
    };
    // A decided proposal stays as decided: read once, it says where it stands.
    let proposal = store.proposal(proposal_id)?;
    let status = proposal
        .as_ref()
        .map_or(ProposalStatus::Withdrawn, |p| p.status);
    if let (Some(version), Some(p)) = (version, &proposal) {
        let recorded = store
            .journey_changes(&p.journey)?
            .iter()
            .any(|c| c.version == version);
        if !recorded {
            crate::journeys::record_version(store, &p.journey, version, &p.proposed_by, now_us);
        }
    }
    let emailed = match (&proposal, mailer) {
        (Some(p), Some(mailer)) if fresh => tell(store, mailer, p, &decider, reason.as_deref()),
        _ => 0,
    };
    let mut result = Map::new();
    result.insert(
        "published".into(),
        json!(status == ProposalStatus::Published),
    );
    result.insert("outcome".into(), json!(status.as_str()));
    if let Some(v) = version {
        result.insert("version".into(), json!(v));
    }
    store.advance(
        instance,
        Command::Complete {
            task,
            variables: result,
        },
        "system",
        now_us,
    )?;
    tracing::info!(
        proposal = proposal_id,
        request = instance,
        status = status.as_str(),
        "a journey change was decided"
    );
    Ok(Some(Settled {
        proposal: proposal_id,
        status,
        version,
        emailed,
    }))
}

/// The people a published change concerns: the leads of the departments owning the touchpoints
/// it added, removed or changed (else their members), and the proposer. For a change sent back
/// or stale, the proposer alone.
pub fn concerned(
    people: &[User],
    before: Option<&Journey>,
    after: &Journey,
    proposer: &str,
    published: bool,
) -> Vec<User> {
    let mut departments: Vec<String> = Vec::new();
    if published {
        for (_, touchpoint) in after.touchpoints() {
            let old = before.and_then(|b| b.touchpoint(&touchpoint.id));
            if old != Some(touchpoint) {
                departments.push(slug(&touchpoint.department));
            }
            if let Some(old) = old.filter(|o| o.department != touchpoint.department) {
                departments.push(slug(&old.department));
            }
        }
        for (_, touchpoint) in before.into_iter().flat_map(Journey::touchpoints) {
            if after.touchpoint(&touchpoint.id).is_none() {
                departments.push(slug(&touchpoint.department));
            }
        }
    }
    let mut chosen: Vec<User> = Vec::new();
    for department in departments {
        for user in leads_of(people, &department) {
            if !chosen.iter().any(|c| c.id == user.id) {
                chosen.push(user.clone());
            }
        }
    }
    if let Some(user) = people.iter().find(|u| u.id == proposer)
        && !chosen.iter().any(|c| c.id == user.id)
    {
        chosen.push(user.clone());
    }
    chosen
}

/// What changed, touchpoint by touchpoint, as plain text for an email.
pub fn diff_text(before: Option<&Journey>, after: &Journey) -> String {
    let Some(before) = before else {
        return waymark_journey::diff::summary(None, after);
    };
    let compared = waymark_journey::diff::diff(before, after);
    let mut lines = Vec::new();
    for t in &compared.added {
        lines.push(format!("+ added {} ({})", t.name, t.stage));
    }
    for t in &compared.removed {
        lines.push(format!("- removed {} ({})", t.name, t.stage));
    }
    for c in &compared.changed {
        lines.push(format!(
            "~ changed {} ({})",
            c.touchpoint.name, c.touchpoint.stage
        ));
        for f in &c.changes {
            lines.push(format!("    {}: {} → {}", f.field, f.before, f.after));
        }
    }
    lines.push(format!(
        "In words: {}",
        waymark_journey::diff::summary(Some(before), after)
    ));
    lines.join("\n")
}

/// Emails the people a decision concerns; how many were emailed. A failure is logged: the
/// decision stands.
fn tell(
    store: &dyn Store,
    mailer: &Mailer,
    proposal: &Proposal,
    decider: &str,
    reason: Option<&str>,
) -> usize {
    let Some(after) = waymark_journey::check(&proposal.source).journey else {
        return 0;
    };
    let before = store
        .journey(&proposal.journey, Some(proposal.base))
        .ok()
        .flatten()
        .filter(|_| proposal.base > 0)
        .and_then(|d| waymark_journey::check(&d.source).journey);
    let people = store.users().unwrap_or_default();
    let published = proposal.status == ProposalStatus::Published;
    let name = |id: &str| {
        people
            .iter()
            .find(|u| u.id == id)
            .map_or_else(|| id.to_string(), |u| u.name.clone())
    };
    let link = format!(
        "{}/journeys/{}/proposals/{}",
        mailer.public_url(),
        proposal.journey,
        proposal.id
    );
    let (subject, what) = match proposal.status {
        ProposalStatus::Published => (
            format!(
                "Published: {}, version {} ({})",
                after.title,
                proposal.version.unwrap_or_default(),
                proposal.label
            ),
            format!(
                "{} is now the current version of {}: proposed by {}, approved by {}.\n\nWhat changed against version {}:\n{}\n\n{}",
                proposal.label,
                after.title,
                name(&proposal.proposed_by),
                name(decider),
                proposal.base,
                diff_text(before.as_ref(), &after),
                answers_text(&after)
            ),
        ),
        ProposalStatus::SentBack => (
            format!("Sent back: the {} of {}", proposal.label, after.title),
            format!(
                "{} sent back the {} of {} you proposed; it is not published.\n\nWhat should change: {}",
                name(decider),
                proposal.label,
                after.title,
                reason.unwrap_or("(no reason given)")
            ),
        ),
        _ => (
            format!("Not published: the {} of {}", proposal.label, after.title),
            format!(
                "The {} of {} was approved by {}, but the journey got another version after you proposed it, so it was not published. Open the editor, check the change against the current version, and propose it again.",
                proposal.label,
                after.title,
                name(decider)
            ),
        ),
    };
    let mut emailed = 0;
    for user in concerned(
        &people,
        before.as_ref(),
        &after,
        &proposal.proposed_by,
        published,
    ) {
        if user.email.is_none() {
            continue;
        }
        let first = user.name.split_whitespace().next().unwrap_or(&user.name);
        let body = format!("Hello {first},\n\n{what}\n\nSee it here:\n{link}\n\n— Waymark\n");
        match mailer.send_to(&user, &subject, body) {
            Ok(()) => emailed += 1,
            Err(error) => {
                tracing::warn!(user = %user.id, %error, "a journey change email could not be sent");
            }
        }
    }
    emailed
}

/// The five questions with the file's answers, as text.
pub fn answers_text(journey: &Journey) -> String {
    let Some(change) = &journey.change else {
        return String::new();
    };
    let mut lines = vec![format!(
        "The five questions, answered by {} on {}:",
        change.owner.as_deref().unwrap_or("?"),
        change.date.map(|d| d.to_string()).unwrap_or_default()
    )];
    for (question, answer) in CHANGE_QUESTIONS.iter().zip(change.answers()) {
        lines.push(format!(
            "- {} {}",
            question.question,
            answer.unwrap_or("(not answered)")
        ));
    }
    lines.join("\n")
}

/// What the approval request's page shows, by label, from its variables.
pub fn facts(variables: &Map<String, Value>) -> Vec<(String, String)> {
    let text = |key: &str| {
        variables
            .get(key)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_string)
    };
    let mut facts = Vec::new();
    if let (Some(title), Some(label)) = (text("title"), text("label")) {
        facts.push(("Journey".to_string(), format!("{title} ({label})")));
    }
    if let Some(summary) = text("summary") {
        facts.push(("What changes".to_string(), summary));
    }
    for question in &CHANGE_QUESTIONS {
        if let Some(answer) = text(variable_of(question)) {
            facts.push((question.question.to_string(), answer));
        }
    }
    if let Some(by) = text("answeredBy") {
        facts.push((
            "Answered by".to_string(),
            format!(
                "{by}{}",
                text("answeredOn")
                    .map(|d| format!(" on {d}"))
                    .unwrap_or_default()
            ),
        ));
    }
    facts
}

/// Who was asked to approve a proposal: the approver its request named, and whoever the approval
/// step was moved to (delegated or reassigned) or was offered to, or completed it.
pub fn approver_of(
    store: &dyn Store,
    proposal: &Proposal,
) -> Result<Vec<String>, waymark_store::StoreError> {
    let Some(request) = proposal.request else {
        return Ok(Vec::new());
    };
    let row = match store.instance(request) {
        Ok(row) => row,
        Err(WorkflowError::Store(error)) => return Err(error),
        Err(other) => return Err(waymark_store::StoreError::Database(other.to_string())),
    };
    let mut people: Vec<String> = row
        .and_then(|r| {
            r.state
                .variables
                .get("approver")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .into_iter()
        .collect();
    for task in store.instance_tasks(request)? {
        if task.node != APPROVAL {
            continue;
        }
        let moved = task.assignee.into_iter().chain(task.completed_by);
        for person in moved.chain(task.candidate_users) {
            if !people.contains(&person) {
                people.push(person);
            }
        }
    }
    Ok(people)
}

/// Proposal `id` of `journey`, when `caller` may read it (`access::may_read_proposal`): else
/// none, as if it did not exist.
pub fn readable_proposal(
    store: &dyn Store,
    caller: &crate::access::Caller,
    journey: &str,
    id: i64,
) -> Result<Option<Proposal>, waymark_store::StoreError> {
    let Some(p) = store.proposal(id)?.filter(|p| p.journey == journey) else {
        return Ok(None);
    };
    let approvers = approver_of(store, &p)?;
    Ok(crate::access::may_read_proposal(caller, &p.proposed_by, &approvers).then_some(p))
}

/// Where the proposal a request is about is shown.
pub fn proposal_path(variables: &Map<String, Value>) -> Option<String> {
    let journey = variables.get("journey")?.as_str()?;
    let proposal = variables.get("proposal")?.as_i64()?;
    Some(format!("/journeys/{journey}/proposals/{proposal}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str, department: &str, manager: Option<&str>, roles: &[&str]) -> User {
        User {
            id: id.into(),
            name: format!("{id} Person"),
            email: Some(format!("{id}@example.com")),
            department: Some(department.into()),
            manager: manager.map(str::to_string),
            roles: roles.iter().map(|r| r.to_string()).collect(),
        }
    }

    #[test]
    fn the_owner_approves_and_never_their_own_proposal() {
        let people = vec![
            user("hana", "hr", Some("olivia"), &["manager"]),
            user("hugo", "hr", Some("hana"), &[]),
            user("harry", "hr-payroll", Some("olivia"), &["manager"]),
            user("olivia", "leadership", None, &["journey-owner"]),
            user("solo", "it", None, &[]),
        ];
        // A department, or a team named after one: its lead.
        assert_eq!(
            approver(&people, "HR", "olivia").expect("an approver"),
            "hana"
        );
        assert_eq!(
            approver(&people, "HR Learning & Development", "olivia").expect("an approver"),
            "hana"
        );
        assert_eq!(
            approver(&people, "HR Payroll", "olivia").expect("an approver"),
            "harry"
        );
        // The lead proposed it: the department has nobody else with the role, so their manager.
        assert_eq!(
            approver(&people, "HR Learning & Development", "hana").expect("an approver"),
            "olivia"
        );
        // A person, by id, email or name.
        assert_eq!(
            approver(&people, "hugo", "olivia").expect("an approver"),
            "hugo"
        );
        assert_eq!(
            approver(&people, "HUGO@example.com", "olivia").expect("an approver"),
            "hugo"
        );
        assert_eq!(
            approver(&people, "Hugo Person", "olivia").expect("an approver"),
            "hugo"
        );
        // A name two people have is not a choice; an id is.
        let mut twins = people.clone();
        twins.push(User {
            id: "hugo2".into(),
            ..user("hugo", "sales", None, &[])
        });
        assert!(matches!(
            approver(&twins, "Hugo Person", "olivia"),
            Err(ChangeError::NoApprover(m)) if m.contains("2 people")
        ));
        assert_eq!(approver(&twins, "hugo2", "olivia").expect("by id"), "hugo2");
        // Nobody answers for the owner, or the only owner has no manager.
        assert!(matches!(
            approver(&people, "Retail Lending", "olivia"),
            Err(ChangeError::NoApprover(m)) if m.contains("`Retail Lending`")
        ));
        assert!(matches!(
            approver(&people, "solo", "solo"),
            Err(ChangeError::NoApprover(m)) if m.contains("own")
        ));
    }

    #[test]
    fn only_an_as_is_version_after_an_as_is_one_passes_without_approval() {
        let journey = |label: &str| {
            let text = include_str!("../../../examples/training-request/as-is.yaml")
                .replace("version: as-is", &format!("version: {label}"));
            waymark_journey::check(&text).journey.expect("journey")
        };
        assert!(!gated(&journey("as-is"), None));
        assert!(!gated(&journey("As Is"), Some("as-is")));
        assert!(!gated(&journey("current state"), Some("as-is")));
        for label in ["to-be", "to-be-2", "v2", "future", "pilot"] {
            assert!(gated(&journey(label), None), "{label}");
            assert!(gated(&journey(label), Some("as-is")), "{label}");
        }
        // After a to-be went live, even an as-is version waits.
        assert!(gated(&journey("as-is"), Some("to-be")));
        // Without a change section: named at the version line.
        let text = include_str!("../../../examples/training-request/as-is.yaml")
            .replace("version: as-is", "version: v2");
        let checked = waymark_journey::check(&text);
        let journey = checked.journey.expect("journey");
        let line = text
            .lines()
            .position(|l| l.starts_with("version:"))
            .expect("version line");
        assert!(matches!(
            unanswered(&journey, &checked.diagnostics, &text),
            Some(ChangeError::Unanswered { location, message, .. })
                if location == format!("{}:10", line + 1) && message.contains("version `v2`")
        ));
    }

    #[test]
    fn the_owners_of_changed_touchpoints_are_told() {
        let before = waymark_journey::check(include_str!(
            "../../../examples/training-request/as-is.yaml"
        ))
        .journey
        .expect("as-is");
        let after = waymark_journey::check(include_str!(
            "../../../examples/training-request/to-be.yaml"
        ))
        .journey
        .expect("to-be");
        let people = vec![
            user("maria", "customer-success", Some("olivia"), &["manager"]),
            user("jennifer", "customer-success", Some("maria"), &[]),
            user("finn", "finance", Some("olivia"), &["finance"]),
            user("carl", "call-centre", Some("cleo"), &[]),
            user("olivia", "leadership", None, &["journey-owner"]),
        ];
        let told: Vec<String> = concerned(&people, Some(&before), &after, "olivia", true)
            .into_iter()
            .map(|u| u.id)
            .collect();
        // Customer Success's lead (not Jennifer), Finance's only member, the proposer; the call
        // centre owns none of it.
        assert!(told.contains(&"maria".to_string()), "{told:?}");
        assert!(told.contains(&"finn".to_string()), "{told:?}");
        assert!(told.contains(&"olivia".to_string()), "{told:?}");
        assert!(!told.contains(&"jennifer".to_string()), "{told:?}");
        assert!(!told.contains(&"carl".to_string()), "{told:?}");
        // Sent back: the proposer alone.
        let told: Vec<String> = concerned(&people, Some(&before), &after, "olivia", false)
            .into_iter()
            .map(|u| u.id)
            .collect();
        assert_eq!(told, ["olivia"]);
        // One Finance target changed: Finance and the proposer, nobody else.
        let at = include_str!("../../../examples/training-request/to-be.yaml")
            .find("Finance pays the training provider")
            .expect("payment");
        let text = include_str!("../../../examples/training-request/to-be.yaml");
        let faster = format!(
            "{}{}",
            &text[..at],
            text[at..].replacen("target: 2d", "target: 1d", 1)
        );
        let faster = waymark_journey::check(&faster).journey.expect("faster");
        let told: Vec<String> = concerned(&people, Some(&after), &faster, "olivia", true)
            .into_iter()
            .map(|u| u.id)
            .collect();
        assert_eq!(told, ["finn", "olivia"]);
        let text = diff_text(Some(&after), &faster);
        assert_eq!(text.matches("~ changed").count(), 1, "{text}");
        assert!(
            text.contains("target: 2d → 1d") || text.contains("target: 2.0d → 1.0d"),
            "{text}"
        );
        let text = diff_text(Some(&before), &after);
        assert!(
            text.contains("+ added") && text.contains("- removed"),
            "{text}"
        );
    }
}
