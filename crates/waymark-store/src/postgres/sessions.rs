//! Sessions and single-use tokens on PostgreSQL (see `sessions.rs` for what each call means).

use super::PgStore;
use super::directory::user_from;
use crate::sessions::Session;
use crate::workflow::USER_COLUMNS;
use crate::{StoreError, hash};

impl crate::Sessions for PgStore {
    fn create_session_by(
        &self,
        user: &str,
        key: Option<&str>,
        now_us: i64,
        ttl_us: i64,
    ) -> Result<(String, String), StoreError> {
        let id = format!("ws_{}", crate::keys::random_hex(32)?);
        let csrf = crate::keys::random_hex(16)?;
        let (user, key, hashed, token) = (
            user.to_string(),
            key.map(str::to_string),
            hash(&id),
            csrf.clone(),
        );
        self.write(move |pool| async move {
            let client = pool.get().await?;
            // Sessions that ended are cleared as new ones begin.
            client
                .execute(&client.prepare_cached("DELETE FROM sessions WHERE expires_us < $1").await?, &[&now_us])
                .await?;
            let mut expires = now_us.saturating_add(ttl_us);
            if let Some(key) = &key {
                let key_expires: Option<i64> = client
                    .query_opt(&client.prepare_cached("SELECT expires_us FROM keys WHERE id = $1").await?, &[key])
                    .await?
                    .map(|row| row.try_get(0))
                    .transpose()?
                    .flatten();
                if let Some(end) = key_expires {
                    expires = expires.min(end);
                }
            }
            client
                .execute(
                    &client.prepare_cached("INSERT INTO sessions (hash, user_id, csrf, created_us, expires_us, key_id) VALUES ($1, $2, $3, $4, $5, $6)").await?,
                    &[&hashed, &user, &token, &now_us, &expires, &key],
                )
                .await?;
            Ok(())
        })?;
        Ok((id, csrf))
    }

    fn session(&self, id: &str, now_us: i64) -> Result<Option<Session>, StoreError> {
        let hashed = hash(id);
        self.run(move |pool| async move {
            let client = pool.get().await?;
            let columns: String = USER_COLUMNS
                .split(", ")
                .map(|c| format!("u.{c}"))
                .collect::<Vec<_>>()
                .join(", ");
            let row = client
                .query_opt(
                    &client.prepare_cached(&format!(
                        "SELECT {columns}, s.csrf, s.expires_us FROM sessions s JOIN users u ON u.id = s.user_id
                         WHERE s.hash = $1 AND s.expires_us >= $2 AND u.disabled_us IS NULL
                           AND (s.key_id IS NULL OR EXISTS (SELECT 1 FROM keys k WHERE k.id = s.key_id
                                AND k.revoked_us IS NULL AND (k.expires_us IS NULL OR k.expires_us > $2)))"
                    )).await?,
                    &[&hashed, &now_us],
                )
                .await?;
            row.map(|row| {
                Ok(Session {
                    user: user_from(&row, 0)?,
                    csrf: row.try_get(6)?,
                    expires_us: row.try_get(7)?,
                })
            })
            .transpose()
        })
    }

    fn use_once(&self, token: &str, expires_us: i64, now_us: i64) -> Result<bool, StoreError> {
        let hashed = hash(token);
        self.write(move |pool| async move {
            let client = pool.get().await?;
            client
                .execute(&client.prepare_cached("DELETE FROM used_links WHERE expires_us < $1").await?, &[&now_us])
                .await?;
            let inserted = client
                .execute(
                    &client.prepare_cached("INSERT INTO used_links (hash, expires_us) VALUES ($1, $2) ON CONFLICT (hash) DO NOTHING").await?,
                    &[&hashed, &expires_us],
                )
                .await?;
            Ok(inserted == 1)
        })
    }

    fn end_session(&self, id: &str) -> Result<(), StoreError> {
        let hashed = hash(id);
        self.write(move |pool| async move {
            let client = pool.get().await?;
            client
                .execute(
                    &client
                        .prepare_cached("DELETE FROM sessions WHERE hash = $1")
                        .await?,
                    &[&hashed],
                )
                .await?;
            Ok(())
        })
    }
}
