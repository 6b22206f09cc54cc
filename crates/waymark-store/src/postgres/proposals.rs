//! Journey versions proposed for approval, on PostgreSQL (see `proposals.rs`; the statements are
//! shared).

use super::PgStore;
use super::journeys::keep_version;
use crate::StoreError;
use crate::proposals::{
    ADD, ATTACH, DECIDE, NewProposal, Proposal, ProposalColumns, ProposalStatus, Publishing,
    WITHDRAW, before_publishing, by_id, listed, proposal_row, stale_note,
};

fn pg_columns(r: &tokio_postgres::Row) -> Result<ProposalColumns, StoreError> {
    Ok((
        r.try_get(0)?,
        r.try_get(1)?,
        r.try_get(2)?,
        r.try_get(3)?,
        r.try_get(4)?,
        r.try_get(5)?,
        r.try_get(6)?,
        r.try_get(7)?,
        r.try_get(8)?,
        r.try_get(9)?,
        r.try_get(10)?,
        r.try_get(11)?,
        r.try_get(12)?,
    ))
}

fn rows(rows: &[tokio_postgres::Row]) -> Result<Vec<Proposal>, StoreError> {
    rows.iter()
        .map(|r| pg_columns(r).and_then(proposal_row))
        .collect()
}

impl crate::Proposals for PgStore {
    fn propose_journey(&self, new: &NewProposal) -> Result<(i64, Vec<Proposal>), StoreError> {
        let new = new.clone();
        self.write(move |pool| async move {
            let mut client = pool.get().await?;
            let transaction = client.transaction().await?;
            // One proposal of a journey at a time: two nodes proposing at once take turns, so the
            // second withdraws the first.
            transaction
                .execute(
                    &transaction
                        .prepare_cached("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
                        .await?,
                    &[&format!("proposals:{}", new.journey)],
                )
                .await?;
            let id: i64 = transaction
                .query_one(
                    &transaction.prepare_cached(ADD).await?,
                    &[
                        &new.journey,
                        &new.label,
                        &new.source,
                        &new.base,
                        &new.by,
                        &new.at_us,
                    ],
                )
                .await?
                .try_get(0)?;
            let note = format!("replaced by proposal {id}");
            let withdrawn = transaction
                .query(
                    &transaction.prepare_cached(WITHDRAW).await?,
                    &[&new.journey, &id, &new.by, &new.at_us, &note],
                )
                .await?;
            let withdrawn = rows(&withdrawn)?;
            transaction.commit().await?;
            Ok((id, withdrawn))
        })
    }

    fn attach_request(&self, id: i64, request: i64) -> Result<(), StoreError> {
        self.write(move |pool| async move {
            let client = pool.get().await?;
            client
                .execute(&client.prepare_cached(ATTACH).await?, &[&id, &request])
                .await?;
            Ok(())
        })
    }

    fn proposals(&self, journey: Option<&str>, limit: usize) -> Result<Vec<Proposal>, StoreError> {
        let journey = journey.map(str::to_string);
        let limit = limit as i64;
        self.run(move |pool| async move {
            let client = pool.get().await?;
            let found = client
                .query(
                    &client.prepare_cached(&listed()).await?,
                    &[&journey, &limit],
                )
                .await?;
            rows(&found)
        })
    }

    fn proposal(&self, id: i64) -> Result<Option<Proposal>, StoreError> {
        self.run(move |pool| async move {
            let client = pool.get().await?;
            let found = client
                .query(&client.prepare_cached(&by_id()).await?, &[&id])
                .await?;
            Ok(rows(&found)?.into_iter().next())
        })
    }

    fn publish_proposal(&self, id: i64, by: &str, at_us: i64) -> Result<Publishing, StoreError> {
        let by = by.to_string();
        self.write(move |pool| async move {
            let mut client = pool.get().await?;
            let transaction = client.transaction().await?;
            let found = transaction
                .query(&transaction.prepare_cached(&by_id()).await?, &[&id])
                .await?;
            let Some(proposal) = rows(&found)?.into_iter().next() else {
                return Ok(Publishing::Missing);
            };
            // The lock deploying takes: the check and the insert are one turn. The proposal is
            // read again under it: another node may have published it meanwhile.
            transaction
                .execute(
                    &transaction
                        .prepare_cached("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
                        .await?,
                    &[&format!("journeys:{}", proposal.journey)],
                )
                .await?;
            let again = transaction
                .query(&transaction.prepare_cached(&by_id()).await?, &[&id])
                .await?;
            let Some(proposal) = rows(&again)?.into_iter().next() else {
                return Ok(Publishing::Missing);
            };
            let latest: i64 = transaction
                .query_one(
                    &transaction
                        .prepare_cached("SELECT coalesce(max(version), 0) FROM journeys WHERE id = $1")
                        .await?,
                    &[&proposal.journey],
                )
                .await?
                .try_get(0)?;
            let no_version: Option<i64> = None;
            let outcome = match before_publishing(Some(&proposal), latest) {
                Ok(Some(decided)) => decided,
                Err(()) => {
                    transaction
                        .execute(
                            &transaction.prepare_cached(DECIDE).await?,
                            &[
                                &id,
                                &ProposalStatus::Stale.as_str(),
                                &by,
                                &at_us,
                                &Some(stale_note(latest, proposal.base)),
                                &no_version,
                            ],
                        )
                        .await?;
                    Publishing::Stale { latest }
                }
                Ok(None) => {
                    let (version, _) = keep_version(
                        &transaction,
                        "journeys",
                        &proposal.journey,
                        &proposal.source,
                        "INSERT INTO journeys (version, id, label, source, deployed_us) VALUES ($1, $2, $3, $4, $5)",
                        &[&proposal.journey, &proposal.label, &proposal.source, &at_us],
                    )
                    .await?;
                    let no_note: Option<String> = None;
                    transaction
                        .execute(
                            &transaction.prepare_cached(DECIDE).await?,
                            &[
                                &id,
                                &ProposalStatus::Published.as_str(),
                                &by,
                                &at_us,
                                &no_note,
                                &Some(version),
                            ],
                        )
                        .await?;
                    Publishing::Published {
                        version,
                        fresh: true,
                    }
                }
            };
            transaction.commit().await?;
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
        let (by, note) = (by.to_string(), note.map(str::to_string));
        self.write(move |pool| async move {
            let client = pool.get().await?;
            let no_version: Option<i64> = None;
            let changed = client
                .execute(
                    &client.prepare_cached(DECIDE).await?,
                    &[&id, &status.as_str(), &by, &at_us, &note, &no_version],
                )
                .await?;
            Ok(changed > 0)
        })
    }
}
