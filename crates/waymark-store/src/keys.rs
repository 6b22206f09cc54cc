//! API keys and people's access tokens, in one table so that one place lists, expires and
//! revokes them: the admin token, the public write key, secret server keys, worker keys limited
//! to topics, and access tokens issued to people. Only a key's SHA-256 is kept; its public id
//! (`k_…`, from the hash) names it in lists, audits and revocations. Secrets come from the
//! operating system's random generator.

use rusqlite::{OptionalExtension as _, params};

use crate::workflow::audit_key;
use crate::workflow::{USER_COLUMNS, User, user_row};
use crate::{KeyKind, SqliteStore, StoreError, now_us};

/// A key as listed: never the secret itself.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct KeyInfo {
    pub id: String,
    /// `admin`, `write`, `server`, `worker` or `person`.
    pub kind: String,
    /// What it is for, as the issuer wrote it (`configured` for the keys given to `serve`).
    pub label: String,
    /// For a person's access token: whose.
    pub user: Option<String>,
    /// For a worker key: the topics it may work.
    pub topics: Vec<String>,
    pub created_us: i64,
    pub expires_us: Option<i64>,
    pub revoked_us: Option<i64>,
}

/// A key presented with a call, once found live (not revoked, not expired).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holder {
    Key {
        id: String,
        kind: KeyKind,
        topics: Vec<String>,
    },
    Person {
        id: String,
        user: User,
    },
}

/// What to issue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewKey {
    pub kind: KeyKind,
    pub label: String,
    pub topics: Vec<String>,
    pub expires_us: Option<i64>,
}

/// The public id of a key: from its hash, so it can be computed again but tells nothing of the
/// secret.
pub(crate) fn public_id(hash: &str) -> String {
    format!("k_{}", &hash[..16])
}

/// `bytes` random bytes from the operating system, as lowercase hex.
pub fn random_hex(bytes: usize) -> Result<String, StoreError> {
    let mut buffer = vec![0u8; bytes];
    getrandom::fill(&mut buffer)
        .map_err(|e| StoreError::Random(format!("the operating system gave no randomness: {e}")))?;
    Ok(buffer.iter().map(|b| format!("{b:02x}")).collect())
}

pub(crate) fn prefix(kind: KeyKind) -> &'static str {
    match kind {
        KeyKind::Admin => "wa_",
        KeyKind::Write => "ww_",
        KeyKind::Server => "wsk_",
        KeyKind::Worker => "wk_",
    }
}

fn info_row(row: &rusqlite::Row) -> rusqlite::Result<KeyInfo> {
    let topics: String = row.get(4)?;
    Ok(KeyInfo {
        id: row.get(0)?,
        kind: row.get(1)?,
        label: row.get(2)?,
        user: row.get(3)?,
        topics: topics
            .split(',')
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect(),
        created_us: row.get(5)?,
        expires_us: row.get(6)?,
        revoked_us: row.get(7)?,
    })
}

pub(crate) const INFO_COLUMNS: &str =
    "id, kind, label, user_id, topics, created_us, expires_us, revoked_us";

impl SqliteStore {
    /// Makes sure a configured key (`serve --admin-token`, `--write-key`, `--server-key`)
    /// works, and ends any other configured key of that kind: changing the setting rotates it.
    pub(crate) fn ensure_configured(
        &self,
        kind: KeyKind,
        token: &str,
        now_us: i64,
    ) -> Result<(), StoreError> {
        let hash = crate::hash(token);
        self.write(|connection| {
            let transaction = connection.transaction()?;
            let revoked: Option<Option<i64>> = transaction
                .query_row(
                    "SELECT revoked_us FROM keys WHERE hash = ?1",
                    params![hash],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(Some(_)) = revoked {
                return Err(StoreError::Refused(format!(
                    "the configured {} key was revoked ({}); configure a new one",
                    kind.as_str(),
                    public_id(&hash)
                )));
            }
            transaction.execute(
                "INSERT INTO keys (id, hash, kind, label, created_us) VALUES (?1, ?2, ?3, 'configured', ?4)
                 ON CONFLICT (hash) DO UPDATE SET kind = excluded.kind",
                params![public_id(&hash), hash, kind.as_str(), now_us],
            )?;
            let rotated = transaction.execute(
                "UPDATE keys SET revoked_us = ?3 WHERE kind = ?1 AND label = 'configured' AND hash != ?2 AND revoked_us IS NULL",
                params![kind.as_str(), hash, now_us],
            )?;
            if rotated > 0 {
                crate::workflow::audit_key(
                    &transaction,
                    now_us,
                    "system",
                    "rotated",
                    &serde_json::json!({ "kind": kind.as_str(), "ended": rotated }),
                )?;
            }
            transaction.commit()?;
            Ok(())
        })
    }
}

impl crate::Directory for SqliteStore {
    fn issue_key(
        &self,
        key: &NewKey,
        by: &str,
        now_us: i64,
    ) -> Result<(String, String), StoreError> {
        let secret = format!("{}{}", prefix(key.kind), random_hex(24)?);
        let hash = crate::hash(&secret);
        let id = public_id(&hash);
        self.write(|connection| {
            let transaction = connection.transaction()?;
            transaction.execute(
                "INSERT INTO keys (id, hash, kind, label, topics, created_us, expires_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![id, hash, key.kind.as_str(), key.label, key.topics.join(","), now_us, key.expires_us],
            )?;
            crate::workflow::audit_key(
                &transaction,
                now_us,
                by,
                "key issued",
                &serde_json::json!({ "key": id, "kind": key.kind.as_str(), "label": key.label, "topics": key.topics, "expires_us": key.expires_us }),
            )?;
            transaction.commit()?;
            Ok(())
        })?;
        Ok((id, secret))
    }

    fn issue_person_token(
        &self,
        user: &str,
        label: &str,
        expires_us: Option<i64>,
        by: &str,
        now_us: i64,
    ) -> Result<(String, String), StoreError> {
        let secret = format!("wu_{}", random_hex(24)?);
        let hash = crate::hash(&secret);
        let id = public_id(&hash);
        self.write(|connection| {
            let transaction = connection.transaction()?;
            transaction.execute(
                "INSERT INTO keys (id, hash, kind, user_id, label, created_us, expires_us) VALUES (?1, ?2, 'person', ?3, ?4, ?5, ?6)",
                params![id, hash, user, label, now_us, expires_us],
            )?;
            crate::workflow::audit_key(
                &transaction,
                now_us,
                by,
                "token issued",
                &serde_json::json!({ "key": id, "user": user, "expires_us": expires_us }),
            )?;
            transaction.commit()?;
            Ok(())
        })?;
        Ok((id, secret))
    }

    fn holder(&self, token: &str, now_us: i64) -> Result<Option<Holder>, StoreError> {
        let hash = crate::hash(token);
        self.with(|connection| {
            let found: Option<(String, String, Option<String>, String)> = connection
                .prepare_cached(
                    "SELECT id, kind, user_id, topics FROM keys
                     WHERE hash = ?1 AND revoked_us IS NULL AND (expires_us IS NULL OR expires_us > ?2)",
                )?
                .query_row(params![hash, now_us], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })
                .optional()?;
            let Some((id, kind, user, topics)) = found else {
                return Ok(None);
            };
            if kind == "person" {
                let user = connection
                    .prepare_cached(&format!(
                        "SELECT {USER_COLUMNS} FROM users WHERE id = ?1 AND disabled_us IS NULL"
                    ))?
                    .query_row(params![user.unwrap_or_default()], user_row)
                    .optional()?;
                return Ok(user.map(|user| Holder::Person { id, user }));
            }
            Ok(KeyKind::parse(&kind).map(|kind| Holder::Key {
                id,
                kind,
                topics: topics
                    .split(',')
                    .filter(|t| !t.is_empty())
                    .map(str::to_string)
                    .collect(),
            }))
        })
    }

    fn keys(&self) -> Result<Vec<KeyInfo>, StoreError> {
        self.with(|connection| {
            let mut query = connection.prepare_cached(&format!(
                "SELECT {INFO_COLUMNS} FROM keys ORDER BY created_us DESC, id"
            ))?;
            let rows = query.query_map([], info_row)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    fn revoke_key(&self, id: &str, by: &str, now_us: i64) -> Result<bool, StoreError> {
        self.write(|connection| {
            let transaction = connection.transaction()?;
            let changed = transaction.execute(
                "UPDATE keys SET revoked_us = ?2 WHERE id = ?1 AND revoked_us IS NULL",
                params![id, now_us],
            )?;
            if changed == 1 {
                crate::workflow::audit_key(
                    &transaction,
                    now_us,
                    by,
                    "key revoked",
                    &serde_json::json!({ "key": id }),
                )?;
            }
            transaction.commit()?;
            Ok(changed == 1)
        })
    }

    fn disabled(&self, user: &str) -> Result<bool, StoreError> {
        self.with(|connection| {
            Ok(connection
                .prepare_cached("SELECT disabled_us IS NOT NULL FROM users WHERE id = ?1")?
                .query_row(params![user], |r| r.get(0))
                .optional()?
                .unwrap_or(false))
        })
    }

    fn enable_user(&self, user: &str, by: &str, now_us: i64) -> Result<bool, StoreError> {
        self.write(|connection| {
            let transaction = connection.transaction()?;
            let changed = transaction.execute(
                "UPDATE users SET disabled_us = NULL WHERE id = ?1 AND disabled_us IS NOT NULL",
                params![user],
            )?;
            if changed == 1 {
                crate::workflow::audit_key(
                    &transaction,
                    now_us,
                    by,
                    "person enabled",
                    &serde_json::json!({ "user": user }),
                )?;
            }
            transaction.commit()?;
            Ok(changed == 1)
        })
    }

    fn disable_user(&self, user: &str, by: &str, now_us: i64) -> Result<bool, StoreError> {
        self.write(|connection| {
            let transaction = connection.transaction()?;
            let changed = transaction.execute(
                "UPDATE users SET disabled_us = ?2 WHERE id = ?1 AND disabled_us IS NULL",
                params![user, now_us],
            )?;
            if changed == 1 {
                let tokens = transaction.execute(
                    "UPDATE keys SET revoked_us = ?2 WHERE user_id = ?1 AND revoked_us IS NULL",
                    params![user, now_us],
                )?;
                let sessions =
                    transaction.execute("DELETE FROM sessions WHERE user_id = ?1", params![user])?;
                crate::workflow::audit_key(
                    &transaction,
                    now_us,
                    by,
                    "person disabled",
                    &serde_json::json!({ "user": user, "tokens_revoked": tokens, "sessions_ended": sessions }),
                )?;
            }
            transaction.commit()?;
            Ok(changed == 1)
        })
    }

    fn put_users(&self, users: &[User]) -> Result<usize, StoreError> {
        self.write(|connection| {
            let transaction = connection.transaction()?;
            {
                let mut insert = transaction.prepare_cached(
                    "INSERT INTO users (id, name, email, department, manager, roles) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT (id) DO UPDATE SET name = ?2, email = ?3, department = ?4, manager = ?5, roles = ?6",
                )?;
                for u in users {
                    insert.execute(params![u.id, u.name, u.email, u.department, u.manager, u.roles.join(",")])?;
                }
            }
            transaction.commit()?;
            Ok(users.len())
        })
    }

    fn put_user_by(&self, user: &User, by: &str, now_us: i64) -> Result<(), StoreError> {
        self.write(|connection| {
            let transaction = connection.transaction()?;
            let before = transaction
                .prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"))?
                .query_row(params![user.id], user_row)
                .optional()?;
            transaction.execute(
                "INSERT INTO users (id, name, email, department, manager, roles) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (id) DO UPDATE SET name = ?2, email = ?3, department = ?4, manager = ?5, roles = ?6",
                params![user.id, user.name, user.email, user.department, user.manager, user.roles.join(",")],
            )?;
            let (action, data) = crate::workflow::person_changed(user, before.as_ref());
            crate::workflow::audit_key(&transaction, now_us, by, action, &data)?;
            transaction.commit()?;
            Ok(())
        })
    }

    fn user(&self, id: &str) -> Result<Option<User>, StoreError> {
        self.with(|connection| {
            Ok(connection
                .prepare_cached(&format!(
                    "SELECT {USER_COLUMNS} FROM users WHERE id = ?1 AND disabled_us IS NULL"
                ))?
                .query_row(params![id], user_row)
                .optional()?)
        })
    }

    fn user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        self.with(|connection| {
            Ok(connection
                .prepare_cached(&format!(
                    "SELECT {USER_COLUMNS} FROM users WHERE lower(email) = lower(?1) AND disabled_us IS NULL ORDER BY id LIMIT 1"
                ))?
                .query_row(params![email.trim()], user_row)
                .optional()?)
        })
    }

    fn users(&self) -> Result<Vec<User>, StoreError> {
        self.with(|connection| {
            let mut query = connection.prepare_cached(&format!(
                "SELECT {USER_COLUMNS} FROM users WHERE disabled_us IS NULL ORDER BY id"
            ))?;
            let rows = query.query_map([], user_row)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    fn secret(&self, name: &str) -> Result<String, StoreError> {
        let fresh = crate::keys::random_hex(32)?;
        self.write(|connection| {
            connection.execute(
                "INSERT OR IGNORE INTO store_meta (key, value) VALUES (?1, ?2)",
                params![format!("secret:{name}"), fresh],
            )?;
            Ok(connection.query_row(
                "SELECT value FROM store_meta WHERE key = ?1",
                params![format!("secret:{name}")],
                |r| r.get(0),
            )?)
        })
    }

    fn signing_keys(&self, name: &str) -> Result<Vec<(String, String)>, StoreError> {
        let first = self.secret(name)?;
        self.with(|connection| {
            let mut query = connection.prepare_cached(
                "SELECT key, value FROM store_meta WHERE key LIKE ?1 ESCAPE '\\'",
            )?;
            let prefix = format!("secret:{}:v%", name.replace('%', "\\%").replace('_', "\\_"));
            let mut keys: Vec<(i64, String)> = query
                .query_map(params![prefix], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                })?
                .filter_map(Result::ok)
                .filter_map(|(key, value)| {
                    key.rsplit_once(":v")
                        .and_then(|(_, n)| n.parse().ok())
                        .map(|n| (n, value))
                })
                .collect();
            keys.push((1, first));
            keys.sort_by_key(|(n, _)| std::cmp::Reverse(*n));
            Ok(keys
                .into_iter()
                .map(|(n, secret)| (format!("{name}-{n}"), secret))
                .collect())
        })
    }

    fn rotate_signing_key(&self, name: &str, retire: bool) -> Result<String, StoreError> {
        let newest = self
            .signing_keys(name)?
            .first()
            .and_then(|(kid, _)| {
                kid.rsplit_once('-')
                    .and_then(|(_, n)| n.parse::<i64>().ok())
            })
            .unwrap_or(1);
        let next = newest + 1;
        let fresh = crate::keys::random_hex(32)?;
        self.write(|connection| {
            let transaction = connection.transaction()?;
            transaction.execute(
                "INSERT INTO store_meta (key, value) VALUES (?1, ?2)",
                params![format!("secret:{name}:v{next}"), fresh],
            )?;
            if retire {
                transaction.execute(
                    "UPDATE store_meta SET value = ?2 WHERE key = ?1",
                    params![format!("secret:{name}"), crate::keys::random_hex(32)?],
                )?;
                transaction.execute(
                    "DELETE FROM store_meta WHERE key LIKE ?1 AND key != ?2",
                    params![format!("secret:{name}:v%"), format!("secret:{name}:v{next}")],
                )?;
            }
            audit_key(
                &transaction,
                crate::now_us(),
                "cli",
                "signing key rotated",
                &serde_json::json!({ "links": name, "key": format!("{name}-{next}"), "older_retired": retire }),
            )?;
            transaction.commit()?;
            Ok(())
        })?;
        Ok(format!("{name}-{next}"))
    }

    fn ensure_key(&self, kind: KeyKind, token: &str) -> Result<(), StoreError> {
        self.ensure_configured(kind, token, now_us())
    }
}
