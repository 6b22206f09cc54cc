//! The directory and credentials on PostgreSQL (see `keys.rs` for what each call means).

use deadpool_postgres::{GenericClient, Pool};
use serde_json::{Value as Json, json};
use tokio_postgres::Row;

use super::PgStore;
use crate::keys::{Holder, INFO_COLUMNS, KeyInfo, NewKey, prefix, public_id, random_hex};
use crate::workflow::{ACCESS_TRAIL, USER_COLUMNS, User};
use crate::{KeyKind, StoreError, hash, now_us};

fn list(text: &str) -> Vec<String> {
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// A directory person from `USER_COLUMNS` starting at column `at`.
pub(crate) fn user_from(row: &Row, at: usize) -> Result<User, StoreError> {
    let roles: String = row.try_get(at + 5)?;
    Ok(User {
        id: row.try_get(at)?,
        name: row.try_get(at + 1)?,
        email: row.try_get(at + 2)?,
        department: row.try_get(at + 3)?,
        manager: row.try_get(at + 4)?,
        roles: list(&roles),
    })
}

fn info_from(row: &Row) -> Result<KeyInfo, StoreError> {
    let topics: String = row.try_get(4)?;
    Ok(KeyInfo {
        id: row.try_get(0)?,
        kind: row.try_get(1)?,
        label: row.try_get(2)?,
        user: row.try_get(3)?,
        topics: list(&topics),
        created_us: row.try_get(5)?,
        expires_us: row.try_get(6)?,
        revoked_us: row.try_get(7)?,
    })
}

/// A line in an audit trail.
pub(crate) async fn audit(
    client: &impl GenericClient,
    instance: i64,
    at_us: i64,
    actor: &str,
    action: &str,
    node: Option<&str>,
    data: &Json,
) -> Result<(), StoreError> {
    client
        .execute(
            &client.prepare_cached("INSERT INTO audit (instance_id, at_us, actor, action, node, data) VALUES ($1, $2, $3, $4, $5, $6)").await?,
            &[&instance, &at_us, &actor, &action, &node, &data.to_string()],
        )
        .await?;
    Ok(())
}

/// A line in the access trail.
async fn audit_key(
    client: &impl GenericClient,
    at_us: i64,
    actor: &str,
    action: &str,
    data: &Json,
) -> Result<(), StoreError> {
    audit(client, ACCESS_TRAIL, at_us, actor, action, None, data).await
}

/// The holder of the token whose hash is `hash`, with its key's expiry.
async fn holder_of(
    pool: Pool,
    hash: String,
    now_us: i64,
) -> Result<Option<(Holder, Option<i64>)>, StoreError> {
    let client = pool.get().await?;
    // The key and, for a person's token, the person (when not disabled), in one query.
    let person = USER_COLUMNS
        .split(", ")
        .map(|c| format!("u.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let found = client
        .query_opt(
            &client
                .prepare_cached(&format!(
                    "SELECT k.id, k.kind, k.topics, k.expires_us, {person} FROM keys k
                     LEFT JOIN users u ON u.id = k.user_id AND u.disabled_us IS NULL
                     WHERE k.hash = $1 AND k.revoked_us IS NULL AND (k.expires_us IS NULL OR k.expires_us > $2)"
                ))
                .await?,
            &[&hash, &now_us],
        )
        .await?;
    let Some(row) = found else {
        return Ok(None);
    };
    let (id, kind, topics, expires): (String, String, String, Option<i64>) = (
        row.try_get(0)?,
        row.try_get(1)?,
        row.try_get(2)?,
        row.try_get(3)?,
    );
    if kind == "person" {
        let enabled: Option<String> = row.try_get(4)?;
        return Ok(match enabled {
            Some(_) => Some((
                Holder::Person {
                    id,
                    user: user_from(&row, 4)?,
                },
                expires,
            )),
            None => None,
        });
    }
    Ok(KeyKind::parse(&kind).map(|kind| {
        (
            Holder::Key {
                id,
                kind,
                topics: list(&topics),
            },
            expires,
        )
    }))
}

impl PgStore {
    /// A write to keys or people: once it is done, this node forgets the holders it kept
    /// (the other nodes hear of it through the trigger; `holders.rs`).
    fn write_directory<T, F>(&self, work: impl FnOnce(Pool) -> F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: std::future::Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        let outcome = self.write(work);
        self.holders.forget();
        outcome
    }
}

/// The value kept under `key` in `store_meta`, made from `fresh` the first time.
async fn kept_secret(pool: Pool, key: String, fresh: String) -> Result<String, StoreError> {
    let client = pool.get().await?;
    client
        .execute(
            &client.prepare_cached("INSERT INTO store_meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING").await?,
            &[&key, &fresh],
        )
        .await?;
    Ok(client
        .query_one(
            &client
                .prepare_cached("SELECT value FROM store_meta WHERE key = $1")
                .await?,
            &[&key],
        )
        .await?
        .try_get(0)?)
}

impl crate::Directory for PgStore {
    fn issue_key(
        &self,
        key: &NewKey,
        by: &str,
        now_us: i64,
    ) -> Result<(String, String), StoreError> {
        let secret = format!("{}{}", prefix(key.kind), random_hex(24)?);
        let hash = hash(&secret);
        let id = public_id(&hash);
        let (key, by, key_id) = (key.clone(), by.to_string(), id.clone());
        self.write_directory(move |pool| async move {
            let mut client = pool.get().await?;
            let transaction = client.transaction().await?;
            transaction
                .execute(
                    &transaction.prepare_cached("INSERT INTO keys (id, hash, kind, label, topics, created_us, expires_us) VALUES ($1, $2, $3, $4, $5, $6, $7)").await?,
                    &[&key_id, &hash, &key.kind.as_str(), &key.label, &key.topics.join(","), &now_us, &key.expires_us],
                )
                .await?;
            audit_key(
                &transaction,
                now_us,
                &by,
                "key issued",
                &json!({ "key": key_id, "kind": key.kind.as_str(), "label": key.label, "topics": key.topics, "expires_us": key.expires_us }),
            )
            .await?;
            transaction.commit().await?;
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
        let hash = hash(&secret);
        let id = public_id(&hash);
        let (user, label, by, key_id) = (
            user.to_string(),
            label.to_string(),
            by.to_string(),
            id.clone(),
        );
        self.write_directory(move |pool| async move {
            let mut client = pool.get().await?;
            let transaction = client.transaction().await?;
            transaction
                .execute(
                    &transaction.prepare_cached("INSERT INTO keys (id, hash, kind, user_id, label, created_us, expires_us) VALUES ($1, $2, 'person', $3, $4, $5, $6)").await?,
                    &[&key_id, &hash, &user, &label, &now_us, &expires_us],
                )
                .await?;
            audit_key(
                &transaction,
                now_us,
                &by,
                "token issued",
                &json!({ "key": key_id, "user": user, "expires_us": expires_us }),
            )
            .await?;
            transaction.commit().await?;
            Ok(())
        })?;
        Ok((id, secret))
    }

    fn holder(&self, token: &str, now_us: i64) -> Result<Option<Holder>, StoreError> {
        let hash = hash(token);
        if let Some(holder) = self.holders.get(&hash, now_us) {
            return Ok(Some(holder));
        }
        let epoch = self.holders.epoch();
        let reading = hash.clone();
        let found = self.run(move |pool| holder_of(pool, reading, now_us))?;
        Ok(found.map(|(holder, expires)| {
            if let Some(epoch) = epoch {
                self.holders.keep(epoch, hash, holder.clone(), expires);
            }
            holder
        }))
    }

    fn keys(&self) -> Result<Vec<KeyInfo>, StoreError> {
        self.run(|pool| async move {
            let client = pool.get().await?;
            let rows = client
                .query(
                    &client
                        .prepare_cached(&format!(
                            "SELECT {INFO_COLUMNS} FROM keys ORDER BY created_us DESC, id"
                        ))
                        .await?,
                    &[],
                )
                .await?;
            rows.iter().map(info_from).collect()
        })
    }

    fn revoke_key(&self, id: &str, by: &str, now_us: i64) -> Result<bool, StoreError> {
        let (id, by) = (id.to_string(), by.to_string());
        self.write_directory(move |pool| async move {
            let mut client = pool.get().await?;
            let transaction = client.transaction().await?;
            let changed = transaction
                .execute(
                    &transaction
                        .prepare_cached(
                            "UPDATE keys SET revoked_us = $2 WHERE id = $1 AND revoked_us IS NULL",
                        )
                        .await?,
                    &[&id, &now_us],
                )
                .await?;
            if changed == 1 {
                audit_key(
                    &transaction,
                    now_us,
                    &by,
                    "key revoked",
                    &json!({ "key": id }),
                )
                .await?;
            }
            transaction.commit().await?;
            Ok(changed == 1)
        })
    }

    fn disabled(&self, user: &str) -> Result<bool, StoreError> {
        let user = user.to_string();
        self.run(move |pool| async move {
            let client = pool.get().await?;
            Ok(client
                .query_opt(
                    &client
                        .prepare_cached("SELECT disabled_us IS NOT NULL FROM users WHERE id = $1")
                        .await?,
                    &[&user],
                )
                .await?
                .map(|row| row.try_get::<_, bool>(0))
                .transpose()?
                .unwrap_or(false))
        })
    }

    fn enable_user(&self, user: &str, by: &str, now_us: i64) -> Result<bool, StoreError> {
        let (user, by) = (user.to_string(), by.to_string());
        self.write_directory(move |pool| async move {
            let mut client = pool.get().await?;
            let transaction = client.transaction().await?;
            let changed = transaction
                .execute(
                    &transaction.prepare_cached("UPDATE users SET disabled_us = NULL WHERE id = $1 AND disabled_us IS NOT NULL").await?,
                    &[&user],
                )
                .await?;
            if changed == 1 {
                audit_key(
                    &transaction,
                    now_us,
                    &by,
                    "person enabled",
                    &json!({ "user": user }),
                )
                .await?;
            }
            transaction.commit().await?;
            Ok(changed == 1)
        })
    }

    fn disable_user(&self, user: &str, by: &str, now_us: i64) -> Result<bool, StoreError> {
        let (user, by) = (user.to_string(), by.to_string());
        self.write_directory(move |pool| async move {
            let mut client = pool.get().await?;
            let transaction = client.transaction().await?;
            let changed = transaction
                .execute(
                    &transaction.prepare_cached("UPDATE users SET disabled_us = $2 WHERE id = $1 AND disabled_us IS NULL").await?,
                    &[&user, &now_us],
                )
                .await?;
            if changed == 1 {
                let tokens = transaction
                    .execute(
                        &transaction.prepare_cached("UPDATE keys SET revoked_us = $2 WHERE user_id = $1 AND revoked_us IS NULL").await?,
                        &[&user, &now_us],
                    )
                    .await?;
                let sessions = transaction
                    .execute(&transaction.prepare_cached("DELETE FROM sessions WHERE user_id = $1").await?, &[&user])
                    .await?;
                audit_key(
                    &transaction,
                    now_us,
                    &by,
                    "person disabled",
                    &json!({ "user": user, "tokens_revoked": tokens, "sessions_ended": sessions }),
                )
                .await?;
            }
            transaction.commit().await?;
            Ok(changed == 1)
        })
    }

    fn put_users(&self, users: &[User]) -> Result<usize, StoreError> {
        let users = users.to_vec();
        self.write_directory(move |pool| async move {
            let mut client = pool.get().await?;
            let transaction = client.transaction().await?;
            let insert = transaction
                .prepare(
                    "INSERT INTO users (id, name, email, department, manager, roles) VALUES ($1, $2, $3, $4, $5, $6)
                     ON CONFLICT (id) DO UPDATE SET name = $2, email = $3, department = $4, manager = $5, roles = $6",
                )
                .await?;
            for u in &users {
                transaction
                    .execute(
                        &insert,
                        &[&u.id, &u.name, &u.email, &u.department, &u.manager, &u.roles.join(",")],
                    )
                    .await?;
            }
            transaction.commit().await?;
            Ok(users.len())
        })
    }

    fn put_user_by(&self, user: &User, by: &str, now_us: i64) -> Result<(), StoreError> {
        let (user, by) = (user.clone(), by.to_string());
        self.write_directory(move |pool| async move {
            let mut client = pool.get().await?;
            let transaction = client.transaction().await?;
            let before = transaction
                .query_opt(
                    &transaction
                        .prepare_cached(&format!(
                            "SELECT {USER_COLUMNS} FROM users WHERE id = $1 FOR UPDATE"
                        ))
                        .await?,
                    &[&user.id],
                )
                .await?
                .map(|row| user_from(&row, 0))
                .transpose()?;
            transaction
                .execute(
                    &transaction.prepare_cached(
                        "INSERT INTO users (id, name, email, department, manager, roles) VALUES ($1, $2, $3, $4, $5, $6)
                         ON CONFLICT (id) DO UPDATE SET name = $2, email = $3, department = $4, manager = $5, roles = $6",
                    ).await?,
                    &[&user.id, &user.name, &user.email, &user.department, &user.manager, &user.roles.join(",")],
                )
                .await?;
            let (action, data) = crate::workflow::person_changed(&user, before.as_ref());
            audit_key(&transaction, now_us, &by, action, &data).await?;
            transaction.commit().await?;
            Ok(())
        })
    }

    fn user(&self, id: &str) -> Result<Option<User>, StoreError> {
        let id = id.to_string();
        self.run(move |pool| async move {
            let client = pool.get().await?;
            client
                .query_opt(
                    &client
                        .prepare_cached(&format!(
                            "SELECT {USER_COLUMNS} FROM users WHERE id = $1 AND disabled_us IS NULL"
                        ))
                        .await?,
                    &[&id],
                )
                .await?
                .map(|row| user_from(&row, 0))
                .transpose()
        })
    }

    fn user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        let email = email.trim().to_string();
        self.run(move |pool| async move {
            let client = pool.get().await?;
            client
                .query_opt(
                    &client.prepare_cached(&format!(
                        "SELECT {USER_COLUMNS} FROM users WHERE lower(email) = lower($1) AND disabled_us IS NULL ORDER BY id LIMIT 1"
                    )).await?,
                    &[&email],
                )
                .await?
                .map(|row| user_from(&row, 0))
                .transpose()
        })
    }

    fn users(&self) -> Result<Vec<User>, StoreError> {
        self.run(|pool| async move {
            let client = pool.get().await?;
            let rows = client
                .query(
                    &client
                        .prepare_cached(&format!(
                            "SELECT {USER_COLUMNS} FROM users WHERE disabled_us IS NULL ORDER BY id"
                        ))
                        .await?,
                    &[],
                )
                .await?;
            rows.iter().map(|row| user_from(row, 0)).collect()
        })
    }

    fn secret(&self, name: &str) -> Result<String, StoreError> {
        let (key, fresh) = (format!("secret:{name}"), random_hex(32)?);
        self.write(move |pool| kept_secret(pool, key, fresh))
    }

    fn signing_keys(&self, name: &str) -> Result<Vec<(String, String)>, StoreError> {
        let first = self.secret(name)?;
        let name = name.to_string();
        self.run(move |pool| async move {
            let client = pool.get().await?;
            let prefix = format!("secret:{name}:v");
            let rows = client
                .query(
                    &client
                        .prepare_cached(
                            "SELECT key, value FROM store_meta WHERE starts_with(key, $1)",
                        )
                        .await?,
                    &[&prefix],
                )
                .await?;
            let mut keys: Vec<(i64, String)> = Vec::new();
            for row in rows {
                let (key, value): (String, String) = (row.try_get(0)?, row.try_get(1)?);
                if let Some(n) = key.strip_prefix(&prefix).and_then(|n| n.parse().ok()) {
                    keys.push((n, value));
                }
            }
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
        let (fresh, replacement) = (random_hex(32)?, random_hex(32)?);
        let name = name.to_string();
        let kid = format!("{name}-{next}");
        let made = kid.clone();
        self.write(move |pool| async move {
            let mut client = pool.get().await?;
            let transaction = client.transaction().await?;
            transaction
                .execute(
                    &transaction
                        .prepare_cached("INSERT INTO store_meta (key, value) VALUES ($1, $2)")
                        .await?,
                    &[&format!("secret:{name}:v{next}"), &fresh],
                )
                .await?;
            if retire {
                transaction
                    .execute(
                        &transaction
                            .prepare_cached("UPDATE store_meta SET value = $2 WHERE key = $1")
                            .await?,
                        &[&format!("secret:{name}"), &replacement],
                    )
                    .await?;
                transaction
                    .execute(
                        &transaction
                            .prepare_cached(
                                "DELETE FROM store_meta WHERE starts_with(key, $1) AND key <> $2",
                            )
                            .await?,
                        &[
                            &format!("secret:{name}:v"),
                            &format!("secret:{name}:v{next}"),
                        ],
                    )
                    .await?;
            }
            audit_key(
                &transaction,
                now_us(),
                "cli",
                "signing key rotated",
                &json!({ "links": name, "key": made, "older_retired": retire }),
            )
            .await?;
            transaction.commit().await?;
            Ok(())
        })?;
        Ok(kid)
    }

    fn ensure_key(&self, kind: KeyKind, token: &str) -> Result<(), StoreError> {
        let hash = hash(token);
        let now_us = now_us();
        self.write_directory(move |pool| async move {
            let mut client = pool.get().await?;
            let transaction = client.transaction().await?;
            let revoked: Option<Option<i64>> = transaction
                .query_opt(&transaction.prepare_cached("SELECT revoked_us FROM keys WHERE hash = $1").await?, &[&hash])
                .await?
                .map(|row| row.try_get(0))
                .transpose()?;
            if let Some(Some(_)) = revoked {
                return Err(StoreError::Refused(format!(
                    "the configured {} key was revoked ({}); configure a new one",
                    kind.as_str(),
                    public_id(&hash)
                )));
            }
            transaction
                .execute(
                    &transaction.prepare_cached("INSERT INTO keys (id, hash, kind, label, created_us) VALUES ($1, $2, $3, 'configured', $4)
                     ON CONFLICT (hash) DO UPDATE SET kind = excluded.kind").await?,
                    &[&public_id(&hash), &hash, &kind.as_str(), &now_us],
                )
                .await?;
            let rotated = transaction
                .execute(
                    &transaction.prepare_cached("UPDATE keys SET revoked_us = $3 WHERE kind = $1 AND label = 'configured' AND hash <> $2 AND revoked_us IS NULL").await?,
                    &[&kind.as_str(), &hash, &now_us],
                )
                .await?;
            if rotated > 0 {
                audit_key(
                    &transaction,
                    now_us,
                    "system",
                    "rotated",
                    &json!({ "kind": kind.as_str(), "ended": rotated }),
                )
                .await?;
            }
            transaction.commit().await?;
            Ok(())
        })
    }
}
