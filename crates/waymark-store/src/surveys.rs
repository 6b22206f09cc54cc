//! When each person was last asked for feedback, so that nobody is asked more than once in a
//! while across all touchpoints (survey throttling). One row per person: asking again moves it,
//! only when the last ask is old enough, or when it is the same ask again (an email sent again
//! after a crash carries its survey again, without moving when the person was asked). The
//! statement is shared by both backends.

use rusqlite::params;

use crate::StoreError;

/// Takes the ask when the person's last one is at least `quiet_us` old (or none, or the same
/// `key`); `$1` person, `$2` key, `$3` now, `$4` the latest time a last ask may have.
pub(crate) const ASK: &str = "INSERT INTO survey_asks (person, key, asked_us) VALUES ($1, $2, $3)
    ON CONFLICT (person) DO UPDATE SET key = excluded.key,
        asked_us = CASE WHEN survey_asks.key = excluded.key THEN survey_asks.asked_us
                        ELSE excluded.asked_us END
    WHERE survey_asks.asked_us <= $4 OR survey_asks.key = excluded.key";
pub(crate) const LAST: &str = "SELECT asked_us FROM survey_asks WHERE person = $1";

fn q(sql: &str) -> String {
    sql.replace('$', "?")
}

impl crate::SurveyAsks for crate::SqliteStore {
    fn ask_survey(
        &self,
        person: &str,
        key: &str,
        at_us: i64,
        quiet_us: i64,
    ) -> Result<Option<i64>, StoreError> {
        self.write(|connection| {
            let transaction = connection.transaction()?;
            let taken = transaction.prepare_cached(&q(ASK))?.execute(params![
                person,
                key,
                at_us,
                at_us.saturating_sub(quiet_us)
            ])?;
            let answer = if taken > 0 {
                None
            } else {
                Some(
                    transaction
                        .prepare_cached(&q(LAST))?
                        .query_row(params![person], |r| r.get(0))?,
                )
            };
            transaction.commit()?;
            Ok(answer)
        })
    }
}
