//! Working together on journeys, on PostgreSQL (see `talk.rs`; the statements are shared).

use super::PgStore;
use crate::StoreError;
use crate::talk::{
    ADD_COMMENT, CHANGES, COMMENTS, JourneyChange, JourneyComment, NOTE_CHANGE, NewComment,
    RESOLVE, change_row, comment_row,
};

impl crate::JourneyTalk for PgStore {
    fn note_change(&self, change: &JourneyChange) -> Result<(), StoreError> {
        let change = change.clone();
        self.write(move |pool| async move {
            let client = pool.get().await?;
            client
                .execute(
                    &client.prepare_cached(NOTE_CHANGE).await?,
                    &[
                        &change.journey,
                        &change.version,
                        &change.by,
                        &change.summary,
                        &change.at_us,
                    ],
                )
                .await?;
            Ok(())
        })
    }

    fn journey_changes(&self, journey: &str) -> Result<Vec<JourneyChange>, StoreError> {
        let journey = journey.to_string();
        self.run(move |pool| async move {
            let client = pool.get().await?;
            let rows = client
                .query(&client.prepare_cached(CHANGES).await?, &[&journey])
                .await?;
            rows.iter()
                .map(|r| {
                    Ok(change_row(
                        r.try_get(0)?,
                        r.try_get(1)?,
                        r.try_get(2)?,
                        r.try_get(3)?,
                        r.try_get(4)?,
                    ))
                })
                .collect()
        })
    }

    fn add_comment(&self, comment: &NewComment) -> Result<i64, StoreError> {
        let c = comment.clone();
        self.write(move |pool| async move {
            let client = pool.get().await?;
            let row = client
                .query_one(
                    &client.prepare_cached(ADD_COMMENT).await?,
                    &[
                        &c.journey, &c.target, &c.parent, &c.author, &c.body, &c.at_us,
                    ],
                )
                .await?;
            Ok(row.try_get(0)?)
        })
    }

    fn journey_comments(&self, journey: &str) -> Result<Vec<JourneyComment>, StoreError> {
        let journey = journey.to_string();
        self.run(move |pool| async move {
            let client = pool.get().await?;
            let rows = client
                .query(&client.prepare_cached(COMMENTS).await?, &[&journey])
                .await?;
            rows.iter()
                .map(|r| {
                    Ok(comment_row(
                        r.try_get(0)?,
                        r.try_get(1)?,
                        r.try_get(2)?,
                        r.try_get(3)?,
                        r.try_get(4)?,
                        r.try_get(5)?,
                        r.try_get(6)?,
                        r.try_get(7)?,
                        r.try_get(8)?,
                    ))
                })
                .collect()
        })
    }

    fn resolve_thread(
        &self,
        journey: &str,
        id: i64,
        by: Option<&str>,
        at_us: i64,
    ) -> Result<bool, StoreError> {
        let (journey, by) = (journey.to_string(), by.map(str::to_string));
        let at = by.as_ref().map(|_| at_us);
        self.write(move |pool| async move {
            let client = pool.get().await?;
            let changed = client
                .execute(
                    &client.prepare_cached(RESOLVE).await?,
                    &[&journey, &id, &by, &at],
                )
                .await?;
            Ok(changed > 0)
        })
    }
}
