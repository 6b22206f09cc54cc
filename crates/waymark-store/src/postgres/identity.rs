//! The identity graph and profiles on PostgreSQL (see `identity.rs` for the rules: identifiers,
//! merges into the oldest profile, traits by event time).
//!
//! Links are written in the event's transaction, which holds the events lock (see `events.rs`):
//! two nodes merging the same people at once take turns, so a merge never reads a graph another
//! merge is rewriting.

use std::collections::BTreeMap;

use deadpool_postgres::GenericClient;
use serde_json::Value as Json;
use waymark_eventlog::jsonl::text;

use super::events::{EVENT_COLUMNS, event_from};
use crate::identity::{identifiers, normalise, traits};
use crate::{NewEvent, PersonFound, Profile, StoreError, StoredEvent};

async fn profile_of(
    client: &impl GenericClient,
    identifier: &str,
) -> Result<Option<i64>, StoreError> {
    Ok(client
        .query_opt(
            &client
                .prepare_cached("SELECT profile_id FROM identities WHERE identifier = $1")
                .await?,
            &[&identifier],
        )
        .await?
        .map(|row| row.try_get(0))
        .transpose()?)
}

/// Links a newly stored event's identifiers into one profile (merging the profiles it joins)
/// and records the traits it sets.
pub(crate) async fn link(
    client: &impl GenericClient,
    event: &NewEvent,
    identifier_traits: &[String],
) -> Result<(), StoreError> {
    let needs_body = event.kind == "alias" || event.body.contains("\"traits\"");
    let body: Json = if needs_body {
        serde_json::from_str(&event.body).unwrap_or(Json::Null)
    } else {
        Json::Null
    };
    let mut ids = identifiers(event, &body, identifier_traits);
    if event.kind == "alias"
        && let Some(previous) = body.get("previousId").and_then(text)
    {
        // The previous id was a user id or an anonymous id: whichever is known, else anonymous.
        let mut known = Vec::new();
        for id in [format!("user:{previous}"), format!("anon:{previous}")] {
            if profile_of(client, &id).await?.is_some() {
                known.push(id);
            }
        }
        if known.is_empty() {
            ids.push(format!("anon:{previous}"));
        } else {
            ids.extend(known);
        }
    }
    if ids.is_empty() {
        return Ok(());
    }
    let profiles: Vec<i64> = client
        .query(
            &client.prepare_cached("SELECT DISTINCT profile_id FROM identities WHERE identifier = ANY($1) ORDER BY profile_id").await?,
            &[&ids],
        )
        .await?
        .iter()
        .map(|row| row.try_get(0))
        .collect::<Result<_, _>>()?;
    let survivor = match profiles.first() {
        Some(&oldest) => oldest,
        None => client
            .query_one(
                &client
                    .prepare_cached("INSERT INTO profiles DEFAULT VALUES RETURNING id")
                    .await?,
                &[],
            )
            .await?
            .try_get(0)?,
    };
    for &merged in profiles.iter().skip(1) {
        client
            .execute(
                &client
                    .prepare_cached("UPDATE identities SET profile_id = $1 WHERE profile_id = $2")
                    .await?,
                &[&survivor, &merged],
            )
            .await?;
        client
            .execute(
                &client
                    .prepare_cached(
                        "UPDATE profile_traits SET profile_id = $1 WHERE profile_id = $2",
                    )
                    .await?,
                &[&survivor, &merged],
            )
            .await?;
        client
            .execute(
                &client
                    .prepare_cached("DELETE FROM profiles WHERE id = $1")
                    .await?,
                &[&merged],
            )
            .await?;
        client
            .execute(
                &client
                    .prepare_cached("INSERT INTO profile_merges (merged, survivor) VALUES ($1, $2)")
                    .await?,
                &[&merged, &survivor],
            )
            .await?;
    }
    for id in &ids {
        client
            .execute(
                &client.prepare_cached("INSERT INTO identities (identifier, profile_id) VALUES ($1, $2) ON CONFLICT (identifier) DO NOTHING").await?,
                &[id, &survivor],
            )
            .await?;
    }
    if let Some(set) = traits(&body).filter(|t| !t.is_empty()) {
        for (name, value) in set {
            client
                .execute(
                    &client.prepare_cached("INSERT INTO profile_traits (profile_id, name, value, at_us) VALUES ($1, $2, $3, $4)").await?,
                    &[&survivor, name, &value.to_string(), &event.timestamp_us],
                )
                .await?;
        }
    }
    Ok(())
}

/// Whether an event needs no identity written when it is new: neither an alias nor traits.
fn plain(event: &NewEvent) -> bool {
    event.kind != "alias" && !event.body.contains("\"traits\"")
}

/// The profiles of the user and anonymous ids that plain events name, in one query (see
/// `link_all`).
pub(crate) async fn known(
    client: &impl GenericClient,
    events: &[NewEvent],
) -> Result<std::collections::HashMap<String, i64>, StoreError> {
    let mut ids: Vec<String> = Vec::new();
    for event in events.iter().filter(|e| plain(e)) {
        ids.extend(event.user_id.iter().map(|u| format!("user:{u}")));
        ids.extend(event.anonymous_id.iter().map(|a| format!("anon:{a}")));
    }
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Ok(Default::default());
    }
    client
        .query(
            &client
                .prepare_cached(
                    "SELECT identifier, profile_id FROM identities WHERE identifier = ANY($1)",
                )
                .await?,
            &[&ids],
        )
        .await?
        .iter()
        .map(|row| Ok::<_, StoreError>((row.try_get(0)?, row.try_get(1)?)))
        .collect()
}

/// Links the identifiers of newly stored events, in order. An event whose user and anonymous
/// ids already belong to one person (`known`; read before the events lock is fine, as settled
/// stays settled), and which
/// sets no traits and links nothing (most events: another click of someone known), needs
/// nothing written; only the others are linked one by one.
pub(crate) async fn link_all(
    client: &impl GenericClient,
    events: &[&NewEvent],
    known: &std::collections::HashMap<String, i64>,
    identifier_traits: &[String],
) -> Result<(), StoreError> {
    // Once anything was linked in this batch, `known` may be stale: link the rest one by one.
    let mut linked = false;
    for event in events {
        if !linked && settled(event, known) {
            continue;
        }
        link(client, event, identifier_traits).await?;
        linked = true;
    }
    Ok(())
}

/// Whether storing `event` writes nothing about people, given the profiles `known` of the ids
/// it names: it is plain and names no one, or only ids of one person. Identities are never
/// deleted and merges only join profiles, so what is settled stays settled.
pub(crate) fn settled(event: &NewEvent, known: &std::collections::HashMap<String, i64>) -> bool {
    if !plain(event) {
        return false;
    }
    let mut profiles = event
        .user_id
        .iter()
        .map(|u| known.get(&format!("user:{u}")))
        .chain(
            event
                .anonymous_id
                .iter()
                .map(|a| known.get(&format!("anon:{a}"))),
        );
    let first = profiles.next().flatten();
    if first.is_some() && profiles.all(|p| p == first) {
        return true;
    }
    first.is_none() && event.user_id.is_none() && event.anonymous_id.is_none()
}

/// The profile an identifier belongs to, written plainly or with its kind.
pub(crate) async fn find(
    client: &impl GenericClient,
    identifier: &str,
    identifier_traits: &[String],
) -> Result<Option<i64>, StoreError> {
    let mut candidates = vec![
        identifier.to_string(),
        format!("user:{identifier}"),
        format!("anon:{identifier}"),
    ];
    for name in identifier_traits {
        candidates.push(format!("{name}:{}", normalise(name, identifier)));
    }
    for candidate in candidates {
        if let Some(found) = profile_of(client, &candidate).await? {
            return Ok(Some(found));
        }
    }
    Ok(None)
}

/// People found by part of an identifier or of a name, email or phone (see the SQLite twin).
pub(crate) async fn find_people(
    client: &impl GenericClient,
    text: &str,
    limit: usize,
) -> Result<Vec<PersonFound>, StoreError> {
    let Some(needle) = crate::identity::needle(text).map(str::to_lowercase) else {
        return Ok(Vec::new());
    };
    let found = client
        .query(
            &client
                .prepare_cached(&format!(
                    "SELECT profile_id FROM identities WHERE strpos(lower(identifier), $1) > 0
                     UNION
                     SELECT profile_id FROM profile_traits WHERE name IN ({}) AND strpos(lower(value), $1) > 0
                     ORDER BY profile_id LIMIT $2",
                    crate::identity::FOUND_BY
                ))
                .await?,
            &[&needle, &(limit as i64)],
        )
        .await?;
    let latest = client
        .prepare_cached(
            "SELECT name, value FROM profile_traits WHERE profile_id = $1 AND name IN ('name', 'email')
             ORDER BY at_us, id",
        )
        .await?;
    let mut people = Vec::new();
    for row in found {
        let profile: i64 = row.try_get(0)?;
        let (mut name, mut email) = (None, None);
        for row in client.query(&latest, &[&profile]).await? {
            let (trait_name, value): (String, String) = (row.try_get(0)?, row.try_get(1)?);
            match trait_name.as_str() {
                "name" => name = Some(crate::identity::plain(&value)),
                _ => email = Some(crate::identity::plain(&value)),
            }
        }
        people.push(PersonFound {
            profile,
            name,
            email,
            identifiers: ids_of(client, profile).await?,
        });
    }
    Ok(people)
}

async fn ids_of(client: &impl GenericClient, profile: i64) -> Result<Vec<String>, StoreError> {
    client
        .query(
            &client
                .prepare_cached(
                    "SELECT identifier FROM identities WHERE profile_id = $1 ORDER BY seen",
                )
                .await?,
            &[&profile],
        )
        .await?
        .iter()
        .map(|row| Ok(row.try_get(0)?))
        .collect()
}

/// The time of the imported event with this (negative) seq.
async fn imported_time(client: &impl GenericClient, seq: i64) -> Result<Option<i64>, StoreError> {
    let (id, place) = crate::traces::place_of(seq);
    let body: Option<Vec<u8>> = client
        .query_opt(
            &client
                .prepare_cached("SELECT body FROM traces WHERE id = $1")
                .await?,
            &[&id],
        )
        .await?
        .map(|row| row.try_get(0))
        .transpose()?;
    match body {
        Some(body) => Ok(crate::traces::decode(&body)?
            .get(place)
            .map(|e| e.timestamp_us)),
        None => Ok(None),
    }
}

/// A profile's events, collected and imported, newest first, after `before_seq` in that order.
pub(crate) async fn timeline(
    client: &impl GenericClient,
    profile: i64,
    before_seq: Option<i64>,
    limit: usize,
) -> Result<Vec<StoredEvent>, StoreError> {
    let ids = ids_of(client, profile).await?;
    let users: Vec<String> = ids
        .iter()
        .filter_map(|i| i.strip_prefix("user:"))
        .map(str::to_string)
        .collect();
    let anonymous: Vec<String> = ids
        .iter()
        .filter_map(|i| i.strip_prefix("anon:"))
        .map(str::to_string)
        .collect();
    let before = match before_seq {
        Some(seq) => {
            let time = if seq < 0 {
                imported_time(client, seq).await?
            } else {
                client
                    .query_opt(
                        &client
                            .prepare_cached("SELECT timestamp_us FROM events WHERE seq = $1")
                            .await?,
                        &[&seq],
                    )
                    .await?
                    .map(|row| row.try_get(0))
                    .transpose()?
            };
            match time {
                Some(time) => Some((time, seq)),
                None => return Ok(Vec::new()),
            }
        }
        None => None,
    };
    let (time, seq) = before.map_or((None, None), |(time, seq)| (Some(time), Some(seq.max(0))));
    let limit_rows = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = client
        .query(
            &client
                .prepare_cached(&format!(
                    "SELECT {EVENT_COLUMNS}, $6::BIGINT FROM events
                 WHERE (user_id = ANY($1) OR anonymous_id = ANY($2))
                   AND ($3::BIGINT IS NULL OR (timestamp_us, seq) < ($3, $4::BIGINT))
                 ORDER BY timestamp_us DESC, seq DESC LIMIT $5"
                ))
                .await?,
            &[&users, &anonymous, &time, &seq, &limit_rows, &profile],
        )
        .await?;
    let mut events: Vec<StoredEvent> = rows.iter().map(event_from).collect::<Result<_, _>>()?;
    let until = before.map_or(i64::MAX, |(time, _)| time);
    for user in &users {
        let blocks = client
            .query(
                &client
                    .prepare_cached(
                        "SELECT id, body FROM traces WHERE user_id = $1 AND first_us <= $2",
                    )
                    .await?,
                &[user, &until],
            )
            .await?;
        for row in blocks {
            let (id, body): (i64, Vec<u8>) = (row.try_get(0)?, row.try_get(1)?);
            for event in crate::traces::read_block(id, user, Some(profile), &body)? {
                let at = (event.event.timestamp_us, event.seq);
                if before.is_none_or(|b| at < b) {
                    events.push(event);
                }
            }
        }
    }
    events.sort_unstable_by_key(|e| std::cmp::Reverse((e.event.timestamp_us, e.seq)));
    events.truncate(limit);
    Ok(events)
}

/// Everything about one profile.
pub(crate) async fn profile(
    client: &impl GenericClient,
    id: i64,
) -> Result<Option<Profile>, StoreError> {
    if client
        .query_opt(
            &client
                .prepare_cached("SELECT id FROM profiles WHERE id = $1")
                .await?,
            &[&id],
        )
        .await?
        .is_none()
    {
        return Ok(None);
    }
    let trait_history: Vec<(String, String, i64)> = client
        .query(
            &client.prepare_cached("SELECT name, value, at_us FROM profile_traits WHERE profile_id = $1 ORDER BY at_us, id").await?,
            &[&id],
        )
        .await?
        .iter()
        .map(|row| Ok::<_, StoreError>((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?)))
        .collect::<Result<_, _>>()?;
    let traits = trait_history
        .iter()
        .map(|(name, value, _)| (name.clone(), value.clone()))
        .collect();
    let mut channels = BTreeMap::new();
    let mut event_counts = BTreeMap::new();
    let mut events = 0;
    let (mut first_seen_us, mut last_seen_us) = (i64::MAX, i64::MIN);
    let mut before = None;
    loop {
        let page = timeline(client, id, before, 10_000).await?;
        let Some(last) = page.last() else { break };
        before = Some(last.seq);
        for event in &page {
            events += 1;
            first_seen_us = first_seen_us.min(event.event.timestamp_us);
            last_seen_us = last_seen_us.max(event.event.timestamp_us);
            *channels.entry(crate::channel(event)).or_insert(0) += 1;
            let name = event
                .event
                .name
                .clone()
                .unwrap_or_else(|| event.event.kind.clone());
            *event_counts.entry(name).or_insert(0) += 1;
        }
        if page.len() < 10_000 {
            break;
        }
    }
    Ok(Some(Profile {
        id,
        identifiers: ids_of(client, id).await?,
        traits,
        trait_history,
        first_seen_us,
        last_seen_us,
        channels,
        event_counts,
        events,
    }))
}

/// Profiles whose latest value of `name` is `value` (compared as text; JSON strings unquoted).
pub(crate) async fn search(
    client: &impl GenericClient,
    name: &str,
    value: &str,
) -> Result<Vec<i64>, StoreError> {
    let rows = client
        .query(
            &client
                .prepare_cached(
                    "SELECT DISTINCT ON (profile_id) profile_id, value FROM profile_traits
             WHERE name = $1 ORDER BY profile_id, at_us DESC, id DESC",
                )
                .await?,
            &[&name],
        )
        .await?;
    let mut found = Vec::new();
    for row in rows {
        let (profile, stored): (i64, String) = (row.try_get(0)?, row.try_get(1)?);
        let plain = serde_json::from_str::<Json>(&stored)
            .ok()
            .and_then(|v| text(&v))
            .unwrap_or(stored);
        if plain == value || normalise(name, &plain) == normalise(name, value) {
            found.push(profile);
        }
    }
    Ok(found)
}

/// What this node has seen settled (see `settled`): the ids, or pairs of ids, whose plain events
/// need nothing written about people. Settled stays settled (identities are never deleted and
/// merges only join profiles), so a node keeps what it learnt and skips the lookup next time.
/// Bounded: emptied when full.
#[derive(Default)]
pub(crate) struct Settled(std::sync::Mutex<std::collections::HashSet<People>>);

/// An event's user id and anonymous id.
type People = (Option<String>, Option<String>);

impl Settled {
    const MOST: usize = 1 << 20;

    /// Who an event names, for a plain one.
    fn key(event: &NewEvent) -> Option<People> {
        plain(event).then(|| (event.user_id.clone(), event.anonymous_id.clone()))
    }

    /// Whether every event is known to be settled, without asking the database.
    pub(crate) fn all(&self, events: &[NewEvent]) -> bool {
        let seen = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        events.iter().all(|event| {
            Self::key(event).is_some_and(|key| key == (None, None) || seen.contains(&key))
        })
    }

    /// Keeps the events that `known` shows settled.
    pub(crate) fn learn(
        &self,
        events: &[NewEvent],
        known: &std::collections::HashMap<String, i64>,
    ) {
        let mut seen = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for event in events.iter().filter(|e| settled(e, known)) {
            if seen.len() >= Self::MOST {
                seen.clear();
            }
            if let Some(key) = Self::key(event) {
                seen.insert(key);
            }
        }
    }
}
