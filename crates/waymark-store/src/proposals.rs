//! Proposed journey versions: a to-be version waits here, out of the journey's versions, until
//! the journey's owner approves its change-impact answers; publishing it makes it the next
//! version in the same transaction that checks nobody deployed another version meanwhile. One
//! proposal per journey waits at a time: a newer one withdraws the older. The statements are
//! shared by both backends (`$n`; SQLite reads `?n`).

use rusqlite::{OptionalExtension as _, params};

use crate::StoreError;

/// Where a proposal stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProposalStatus {
    /// Waiting for the owner's decision.
    Waiting,
    /// Approved, and made the journey's current version.
    Published,
    /// The owner sent it back unpublished.
    SentBack,
    /// A newer proposal for the same journey replaced it.
    Withdrawn,
    /// Approved, but another version was deployed after it was proposed: propose it again on
    /// top of that one.
    Stale,
}

impl ProposalStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ProposalStatus::Waiting => "waiting",
            ProposalStatus::Published => "published",
            ProposalStatus::SentBack => "sent-back",
            ProposalStatus::Withdrawn => "withdrawn",
            ProposalStatus::Stale => "stale",
        }
    }

    fn parse(text: &str) -> Result<Self, StoreError> {
        Ok(match text {
            "waiting" => ProposalStatus::Waiting,
            "published" => ProposalStatus::Published,
            "sent-back" => ProposalStatus::SentBack,
            "withdrawn" => ProposalStatus::Withdrawn,
            "stale" => ProposalStatus::Stale,
            other => {
                return Err(StoreError::Database(format!(
                    "a stored proposal with unknown status {other:?}"
                )));
            }
        })
    }
}

/// A journey file proposed as the next version of its journey.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProposal {
    pub journey: String,
    /// The file's version label (`to-be`).
    pub label: String,
    pub source: String,
    /// The journey's current version when it was proposed (0: none yet): it is published only
    /// on top of that one.
    pub base: i64,
    pub by: String,
    pub at_us: i64,
}

/// A kept proposal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal {
    pub id: i64,
    pub journey: String,
    pub label: String,
    pub source: String,
    pub base: i64,
    pub proposed_by: String,
    pub proposed_us: i64,
    /// The workflow request that asks for the owner's approval.
    pub request: Option<i64>,
    pub status: ProposalStatus,
    pub decided_by: Option<String>,
    pub decided_us: Option<i64>,
    /// Why it was decided so, in words.
    pub note: Option<String>,
    /// The journey version it became, once published.
    pub version: Option<i64>,
}

/// What publishing a proposal did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Publishing {
    /// It is the journey's version `version` (`fresh`: by this call).
    Published { version: i64, fresh: bool },
    /// Another version (`latest`) was deployed after it was proposed: it is now stale.
    Stale { latest: i64 },
    /// It was decided before: sent back, withdrawn or stale.
    Settled(ProposalStatus),
    /// No such proposal.
    Missing,
}

pub(crate) const ADD: &str = "INSERT INTO journey_proposals
    (journey, label, source, base, proposed_by, proposed_us, status)
    VALUES ($1, $2, $3, $4, $5, $6, 'waiting') RETURNING id";
/// Withdraws the waiting proposals of journey `$1` but `$2`: `$3` by, `$4` at, `$5` the note.
pub(crate) const WITHDRAW: &str = "UPDATE journey_proposals
    SET status = 'withdrawn', decided_by = $3, decided_us = $4, note = $5
    WHERE journey = $1 AND id <> $2 AND status = 'waiting'
    RETURNING id, journey, label, source, base, proposed_by, proposed_us, request, status,
              decided_by, decided_us, note, version";
pub(crate) const ATTACH: &str = "UPDATE journey_proposals SET request = $2 WHERE id = $1";
const COLUMNS: &str = "id, journey, label, source, base, proposed_by, proposed_us, request, status,
    decided_by, decided_us, note, version";
pub(crate) fn by_id() -> String {
    format!("SELECT {COLUMNS} FROM journey_proposals WHERE id = $1")
}
/// Newest first, of journey `$1` (all when NULL), at most `$2`.
pub(crate) fn listed() -> String {
    format!(
        "SELECT {COLUMNS} FROM journey_proposals WHERE (CAST($1 AS TEXT) IS NULL OR journey = $1)
         ORDER BY id DESC LIMIT $2"
    )
}
/// Decides waiting proposal `$1`: `$2` status, `$3` by, `$4` at, `$5` note, `$6` version.
pub(crate) const DECIDE: &str = "UPDATE journey_proposals
    SET status = $2, decided_by = $3, decided_us = $4, note = $5, version = $6
    WHERE id = $1 AND status = 'waiting'";

/// A proposal's columns as read, in [`COLUMNS`] order.
pub(crate) type ProposalColumns = (
    i64,
    String,
    String,
    String,
    i64,
    String,
    i64,
    Option<i64>,
    String,
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<i64>,
);

pub(crate) fn proposal_row(c: ProposalColumns) -> Result<Proposal, StoreError> {
    Ok(Proposal {
        id: c.0,
        journey: c.1,
        label: c.2,
        source: c.3,
        base: c.4,
        proposed_by: c.5,
        proposed_us: c.6,
        request: c.7,
        status: ProposalStatus::parse(&c.8)?,
        decided_by: c.9,
        decided_us: c.10,
        note: c.11,
        version: c.12,
    })
}

/// What publishing decides from the proposal and the journey's latest version, before any
/// write: `Ok(None)` means go on and keep it as the next version.
pub(crate) fn before_publishing(
    found: Option<&Proposal>,
    latest: i64,
) -> Result<Option<Publishing>, ()> {
    let Some(proposal) = found else {
        return Ok(Some(Publishing::Missing));
    };
    match proposal.status {
        ProposalStatus::Published => Ok(Some(Publishing::Published {
            version: proposal.version.unwrap_or_default(),
            fresh: false,
        })),
        ProposalStatus::Waiting if latest != proposal.base => Err(()),
        ProposalStatus::Waiting => Ok(None),
        other => Ok(Some(Publishing::Settled(other))),
    }
}

/// The note a stale proposal gets.
pub(crate) fn stale_note(latest: i64, base: i64) -> String {
    format!("version {latest} was deployed after this was proposed on top of version {base}")
}

fn q(sql: &str) -> String {
    sql.replace('$', "?")
}

fn sqlite_columns(r: &rusqlite::Row) -> rusqlite::Result<ProposalColumns> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
        r.get(9)?,
        r.get(10)?,
        r.get(11)?,
        r.get(12)?,
    ))
}

fn read_one(connection: &rusqlite::Connection, id: i64) -> Result<Option<Proposal>, StoreError> {
    connection
        .prepare_cached(&q(&by_id()))?
        .query_row(params![id], sqlite_columns)
        .optional()?
        .map(proposal_row)
        .transpose()
}

impl crate::Proposals for crate::SqliteStore {
    fn propose_journey(&self, new: &NewProposal) -> Result<(i64, Vec<Proposal>), StoreError> {
        self.write(|connection| {
            let transaction = connection.transaction()?;
            let id: i64 = transaction.prepare_cached(&q(ADD))?.query_row(
                params![
                    new.journey,
                    new.label,
                    new.source,
                    new.base,
                    new.by,
                    new.at_us
                ],
                |r| r.get(0),
            )?;
            let note = format!("replaced by proposal {id}");
            let withdrawn = transaction
                .prepare_cached(&q(WITHDRAW))?
                .query_map(
                    params![new.journey, id, new.by, new.at_us, note],
                    sqlite_columns,
                )?
                .collect::<Result<Vec<_>, _>>()?
                .into_iter()
                .map(proposal_row)
                .collect::<Result<Vec<_>, _>>()?;
            transaction.commit()?;
            Ok((id, withdrawn))
        })
    }

    fn attach_request(&self, id: i64, request: i64) -> Result<(), StoreError> {
        self.write(|connection| {
            connection
                .prepare_cached(&q(ATTACH))?
                .execute(params![id, request])?;
            Ok(())
        })
    }

    fn proposals(&self, journey: Option<&str>, limit: usize) -> Result<Vec<Proposal>, StoreError> {
        self.with(|connection| {
            connection
                .prepare_cached(&q(&listed()))?
                .query_map(params![journey, limit as i64], sqlite_columns)?
                .collect::<Result<Vec<_>, _>>()?
                .into_iter()
                .map(proposal_row)
                .collect()
        })
    }

    fn proposal(&self, id: i64) -> Result<Option<Proposal>, StoreError> {
        self.with(|connection| read_one(connection, id))
    }

    fn publish_proposal(&self, id: i64, by: &str, at_us: i64) -> Result<Publishing, StoreError> {
        self.write(|connection| {
            let transaction = connection.transaction()?;
            let found = read_one(&transaction, id)?;
            let latest: i64 = match &found {
                Some(p) => transaction.query_row(
                    "SELECT coalesce(max(version), 0) FROM journeys WHERE id = ?1",
                    params![p.journey],
                    |r| r.get(0),
                )?,
                None => 0,
            };
            let outcome = match (before_publishing(found.as_ref(), latest), &found) {
                (Ok(Some(decided)), _) => decided,
                (Err(()), Some(p)) => {
                    transaction.prepare_cached(&q(DECIDE))?.execute(params![
                        id,
                        ProposalStatus::Stale.as_str(),
                        by,
                        at_us,
                        stale_note(latest, p.base),
                        None::<i64>
                    ])?;
                    Publishing::Stale { latest }
                }
                (_, Some(p)) => {
                    let (version, _) = crate::keep_version(
                        &transaction,
                        "SELECT version, source FROM journeys WHERE id = ?1 ORDER BY version DESC LIMIT 1",
                        &p.journey,
                        &p.source,
                        |version| {
                            transaction.execute(
                                "INSERT INTO journeys (id, version, label, source, deployed_us) VALUES (?1, ?2, ?3, ?4, ?5)",
                                params![p.journey, version, p.label, p.source, at_us],
                            )
                        },
                    )?;
                    transaction.prepare_cached(&q(DECIDE))?.execute(params![
                        id,
                        ProposalStatus::Published.as_str(),
                        by,
                        at_us,
                        None::<String>,
                        version
                    ])?;
                    Publishing::Published {
                        version,
                        fresh: true,
                    }
                }
                (_, None) => Publishing::Missing,
            };
            transaction.commit()?;
            Ok(outcome)
        })
    }

    fn settle_proposal(
        &self,
        id: i64,
        status: ProposalStatus,
        by: &str,
        note: Option<&str>,
        at_us: i64,
    ) -> Result<bool, StoreError> {
        self.write(|connection| {
            let changed = connection.prepare_cached(&q(DECIDE))?.execute(params![
                id,
                status.as_str(),
                by,
                at_us,
                note,
                None::<i64>
            ])?;
            Ok(changed > 0)
        })
    }
}
