//! Survey throttling on PostgreSQL (see `surveys.rs`; the statements are shared).

use super::PgStore;
use crate::StoreError;
use crate::surveys::{ASK, LAST};

impl crate::SurveyAsks for PgStore {
    fn ask_survey(
        &self,
        person: &str,
        key: &str,
        at_us: i64,
        quiet_us: i64,
    ) -> Result<Option<i64>, StoreError> {
        let (person, key) = (person.to_string(), key.to_string());
        self.write(move |pool| async move {
            let mut client = pool.get().await?;
            let transaction = client.transaction().await?;
            let latest = at_us.saturating_sub(quiet_us);
            let taken = transaction
                .execute(
                    &transaction.prepare_cached(ASK).await?,
                    &[&person, &key, &at_us, &latest],
                )
                .await?;
            let answer = if taken > 0 {
                None
            } else {
                let row = transaction
                    .query_one(&transaction.prepare_cached(LAST).await?, &[&person])
                    .await?;
                Some(row.try_get(0)?)
            };
            transaction.commit().await?;
            Ok(answer)
        })
    }
}
