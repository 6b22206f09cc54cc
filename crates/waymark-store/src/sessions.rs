//! Browser sessions of people in the directory: a random id in a cookie (only its hash is
//! kept), the person, a CSRF token for their forms, and when it ends.

use rusqlite::{OptionalExtension as _, params};

use crate::workflow::{USER_COLUMNS, User, user_row};
use crate::{SqliteStore, StoreError};

/// A signed-in browser.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub user: User,
    /// Sent back in every form the person submits.
    pub csrf: String,
    pub expires_us: i64,
}

impl crate::Sessions for SqliteStore {
    fn create_session_by(
        &self,
        user: &str,
        key: Option<&str>,
        now_us: i64,
        ttl_us: i64,
    ) -> Result<(String, String), StoreError> {
        let key = key.map(str::to_string);
        let id = format!("ws_{}", crate::keys::random_hex(32)?);
        let csrf = crate::keys::random_hex(16)?;
        self.write(|connection| {
            // Sessions that ended are cleared as new ones begin.
            connection.execute("DELETE FROM sessions WHERE expires_us < ?1", params![now_us])?;
            let mut expires = now_us.saturating_add(ttl_us);
            if let Some(key) = &key {
                let key_expires: Option<i64> = connection
                    .query_row(
                        "SELECT expires_us FROM keys WHERE id = ?1",
                        params![key],
                        |r| r.get(0),
                    )
                    .optional()?
                    .flatten();
                if let Some(end) = key_expires {
                    expires = expires.min(end);
                }
            }
            connection.execute(
                "INSERT INTO sessions (hash, user_id, csrf, created_us, expires_us, key_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![crate::hash(&id), user, csrf, now_us, expires, key],
            )?;
            Ok((id, csrf))
        })
    }

    fn session(&self, id: &str, now_us: i64) -> Result<Option<Session>, StoreError> {
        self.with(|connection| {
            let columns: String = USER_COLUMNS
                .split(", ")
                .map(|c| format!("u.{c}"))
                .collect::<Vec<_>>()
                .join(", ");
            Ok(connection
                .prepare_cached(&format!(
                    "SELECT {columns}, s.csrf, s.expires_us FROM sessions s JOIN users u ON u.id = s.user_id
                     WHERE s.hash = ?1 AND s.expires_us >= ?2 AND u.disabled_us IS NULL
                       AND (s.key_id IS NULL OR EXISTS (SELECT 1 FROM keys k WHERE k.id = s.key_id
                            AND k.revoked_us IS NULL AND (k.expires_us IS NULL OR k.expires_us > ?2)))"
                ))?
                .query_row(params![crate::hash(id), now_us], |r| {
                    Ok(Session {
                        user: user_row(r)?,
                        csrf: r.get(6)?,
                        expires_us: r.get(7)?,
                    })
                })
                .optional()?)
        })
    }

    fn use_once(&self, token: &str, expires_us: i64, now_us: i64) -> Result<bool, StoreError> {
        self.write(|connection| {
            connection.execute(
                "DELETE FROM used_links WHERE expires_us < ?1",
                params![now_us],
            )?;
            let inserted = connection.execute(
                "INSERT OR IGNORE INTO used_links (hash, expires_us) VALUES (?1, ?2)",
                params![crate::hash(token), expires_us],
            )?;
            Ok(inserted == 1)
        })
    }

    fn end_session(&self, id: &str) -> Result<(), StoreError> {
        self.write(|connection| {
            connection.execute(
                "DELETE FROM sessions WHERE hash = ?1",
                params![crate::hash(id)],
            )?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::SqliteStore;
    use crate::prelude::*;
    use crate::workflow::User;

    #[test]
    fn a_one_time_link_works_once() {
        let dir = std::env::temp_dir().join(format!("waymark-once-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let store = SqliteStore::open(&dir.join("o.db")).expect("store");
        assert!(store.use_once("t1", 100, 10).expect("first"));
        assert!(!store.use_once("t1", 100, 20).expect("again"));
        assert!(store.use_once("t2", 100, 20).expect("another"));
    }

    #[test]
    fn a_session_lasts_until_it_ends_or_expires() {
        let dir = std::env::temp_dir().join(format!("waymark-sessions-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let store = SqliteStore::open(&dir.join("s.db")).expect("store");
        store
            .put_users(&[User {
                id: "ava".into(),
                name: "Ava".into(),
                email: Some("ava@example.com".into()),
                department: None,
                manager: None,
                roles: Vec::new(),
            }])
            .expect("users");
        let (id, csrf) = store.create_session("ava", 0, 100).expect("session");
        let (other, _) = store.create_session("ava", 0, 100).expect("session");
        assert_ne!(id, other, "ids are random");
        let session = store.session(&id, 50).expect("read").expect("open");
        assert_eq!(
            (session.user.id.as_str(), session.csrf.as_str()),
            ("ava", csrf.as_str())
        );
        assert!(store.session(&id, 101).expect("read").is_none(), "expired");
        assert!(store.session("ws_forged", 50).expect("read").is_none());
        store.end_session(&id).expect("end");
        assert!(
            store.session(&id, 50).expect("read").is_none(),
            "signed out"
        );
        assert!(
            store.session(&other, 50).expect("read").is_some(),
            "the other browser stays"
        );
    }
}
