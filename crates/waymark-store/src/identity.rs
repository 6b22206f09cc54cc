//! The identity graph and customer profiles.
//!
//! Every identifier (`user:ID`, `anon:ID`, and the configured identifier traits such as
//! `email:…` and `phone:…`) belongs to exactly one profile. An event that carries several
//! identifiers (a `userId` with an `anonymousId`, an `alias`, an `identify` with an email) links
//! them: their profiles merge into the oldest one, so merges are transitive and anonymous events
//! from before identification join the profile. The graph is updated in the same transaction as
//! the events, so it is never behind what was acknowledged.

use std::collections::BTreeMap;

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde_json::Value as Json;
use waymark_eventlog::jsonl::text;

use crate::{NewEvent, StoreError, StoredEvent};

/// A customer profile: everything known about one person across identifiers and channels.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    pub id: i64,
    /// `user:…`, `anon:…`, `email:…`, … in the order they were first seen.
    pub identifiers: Vec<String>,
    /// Each trait's latest value (by event time), as JSON text.
    pub traits: BTreeMap<String, String>,
    /// Every value each trait had, oldest first: (name, value as JSON text, µs).
    pub trait_history: Vec<(String, String, i64)>,
    /// The time of the profile's first and last events.
    pub first_seen_us: i64,
    pub last_seen_us: i64,
    /// Events per channel (`web`, `app`, `server`, … from the event's `channel` or its kind).
    pub channels: BTreeMap<String, u64>,
    /// Events per event name (or call type when there is none).
    pub event_counts: BTreeMap<String, u64>,
    pub events: u64,
}

/// How identifier traits are normalised, so that `Jennifer@Example.com ` and
/// `jennifer@example.com` are one person.
pub(crate) fn normalise(trait_name: &str, value: &str) -> String {
    match trait_name {
        "email" => value.trim().to_lowercase(),
        "phone" => value
            .chars()
            .filter(|c| c.is_ascii_digit() || *c == '+')
            .collect(),
        _ => value.trim().to_string(),
    }
}

/// The traits an event sets: `traits`, else `context.traits` (RudderStack).
pub(crate) fn traits(body: &Json) -> Option<&serde_json::Map<String, Json>> {
    body.get("traits")
        .and_then(Json::as_object)
        .or_else(|| body.get("context")?.get("traits")?.as_object())
}

/// The identifiers an event carries (an alias's previous id is handled in [`link`]).
pub(crate) fn identifiers(
    event: &NewEvent,
    body: &Json,
    identifier_traits: &[String],
) -> Vec<String> {
    let mut found = Vec::new();
    if let Some(user) = &event.user_id {
        found.push(format!("user:{user}"));
    }
    if let Some(anonymous) = &event.anonymous_id {
        found.push(format!("anon:{anonymous}"));
    }
    if let Some(traits) = traits(body) {
        for name in identifier_traits {
            if let Some(value) = traits.get(name).and_then(text) {
                let value = normalise(name, &value);
                if !value.is_empty() {
                    found.push(format!("{name}:{value}"));
                }
            }
        }
    }
    found
}

/// The profile an identifier (with its kind, `user:u1`) belongs to.
fn profile_of(connection: &Connection, identifier: &str) -> Result<Option<i64>, StoreError> {
    Ok(connection
        .prepare_cached("SELECT profile_id FROM identities WHERE identifier = ?1")?
        .query_row(params![identifier], |r| r.get(0))
        .optional()?)
}

/// What the writer knows of the identity graph: identifier → profile, for identifiers linked
/// recently. It mirrors the `identities` table (merges move entries along), so the common case,
/// another event of a known person without traits, costs no query at all. The writer clears it
/// when a transaction fails, since the rolled-back links may be in it.
#[derive(Debug, Default)]
pub(crate) struct Known {
    profiles: std::collections::HashMap<String, i64>,
}

impl Known {
    /// At most this many identifiers are remembered; past that the cache starts over (with a
    /// fresh table: a cleared one would keep its memory). About 5 MB at most: a million
    /// identifiers held 80–100 MB under a long load of new people, and stayed held.
    const CAPACITY: usize = 1 << 16;

    pub(crate) fn clear(&mut self) {
        self.profiles.clear();
    }

    fn insert(&mut self, identifier: &str, profile: i64) {
        if self.profiles.len() >= Self::CAPACITY {
            self.profiles = std::collections::HashMap::new();
        }
        match self.profiles.get_mut(identifier) {
            Some(known) => *known = profile,
            None => {
                self.profiles.insert(identifier.to_string(), profile);
            }
        }
    }

    /// The one profile all of `ids` are known to belong to.
    fn common(&self, ids: &[String]) -> Option<i64> {
        let first = *self.profiles.get(ids.first()?)?;
        ids.iter()
            .all(|id| self.profiles.get(id) == Some(&first))
            .then_some(first)
    }
}

/// Records the traits an event sets in its profile's history.
fn record_traits(
    tx: &Transaction,
    profile: i64,
    traits: &serde_json::Map<String, Json>,
    at_us: i64,
) -> Result<(), StoreError> {
    let mut insert = tx.prepare_cached(
        "INSERT INTO profile_traits (profile_id, name, value, at_us) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for (name, value) in traits {
        insert.execute(params![profile, name, value.to_string(), at_us])?;
    }
    Ok(())
}

/// Links a newly stored event's identifiers into one profile (merging the profiles it joins)
/// and records the traits it sets.
pub(crate) fn link(
    tx: &Transaction,
    event: &NewEvent,
    identifier_traits: &[String],
    known: &mut Known,
) -> Result<(), StoreError> {
    // Only identify-like events carry traits or a previous id; the others are not parsed.
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
        let known: Vec<String> = [format!("user:{previous}"), format!("anon:{previous}")]
            .into_iter()
            .filter(|id| profile_of(tx, id).ok().flatten().is_some())
            .collect();
        if known.is_empty() {
            ids.push(format!("anon:{previous}"));
        } else {
            ids.extend(known);
        }
    }
    if ids.is_empty() {
        return Ok(());
    }
    let set = traits(&body).filter(|t| !t.is_empty());
    if let Some(profile) = known.common(&ids) {
        return match set {
            Some(set) => record_traits(tx, profile, set, event.timestamp_us),
            None => Ok(()),
        };
    }
    let mut profiles: Vec<i64> = Vec::new();
    for id in &ids {
        if let Some(profile) = profile_of(tx, id)?
            && !profiles.contains(&profile)
        {
            profiles.push(profile);
        }
    }
    profiles.sort_unstable();
    let survivor = match profiles.first() {
        Some(&oldest) => oldest,
        None => {
            // Never an id used before: SQLite would give the largest id again once its
            // profile was merged away, and a profile's id names one person for good (the
            // merges readers replay, the events in ClickHouse).
            tx.prepare_cached(
                "INSERT INTO profiles (id) VALUES (max(
                    (SELECT coalesce(max(id), 0) FROM profiles),
                    (SELECT coalesce(max(merged), 0) FROM profile_merges)) + 1)",
            )?
            .execute([])?;
            tx.last_insert_rowid()
        }
    };
    for &merged in profiles.iter().skip(1) {
        for moved in ids_of(tx, merged)? {
            known.insert(&moved, survivor);
        }
        tx.prepare_cached("UPDATE identities SET profile_id = ?1 WHERE profile_id = ?2")?
            .execute(params![survivor, merged])?;
        tx.prepare_cached("UPDATE profile_traits SET profile_id = ?1 WHERE profile_id = ?2")?
            .execute(params![survivor, merged])?;
        tx.prepare_cached("DELETE FROM profiles WHERE id = ?1")?
            .execute(params![merged])?;
        crate::facts::record_merge(tx, merged, survivor)?;
    }
    let mut insert =
        tx.prepare_cached("INSERT INTO identities (identifier, profile_id) VALUES (?1, ?2) ON CONFLICT (identifier) DO NOTHING")?;
    for id in &ids {
        insert.execute(params![id, survivor])?;
        known.insert(id, survivor);
    }
    match set {
        Some(set) => record_traits(tx, survivor, set, event.timestamp_us),
        None => Ok(()),
    }
}

/// A person found by part of what identifies them (`Identities::find_people`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonFound {
    pub profile: i64,
    /// Their latest name and email, when they gave them.
    pub name: Option<String>,
    pub email: Option<String>,
    /// `user:…`, `anon:…`, `email:…`, … in the order they were first seen.
    pub identifiers: Vec<String>,
}

/// The traits people are found by, besides their identifiers.
pub(crate) const FOUND_BY: &str = "'name', 'firstName', 'lastName', 'email', 'phone'";

/// What to look for: trimmed; nothing when blank.
pub(crate) fn needle(text: &str) -> Option<&str> {
    let text = text.trim();
    (!text.is_empty()).then_some(text)
}

/// A trait's value as stored (JSON text) as people read it.
pub(crate) fn plain(stored: &str) -> String {
    serde_json::from_str::<Json>(stored)
        .ok()
        .and_then(|v| text(&v))
        .unwrap_or_else(|| stored.to_string())
}

pub(crate) fn find_people(
    connection: &Connection,
    text: &str,
    limit: usize,
) -> Result<Vec<PersonFound>, StoreError> {
    // SQLite's `lower()` folds ASCII letters only: so does the text looked for.
    let Some(needle) = needle(text).map(str::to_ascii_lowercase) else {
        return Ok(Vec::new());
    };
    // A merge moves identities and traits to the profile that stays, so every id found is live.
    let mut query = connection.prepare_cached(&format!(
        "SELECT profile_id FROM identities WHERE instr(lower(identifier), ?1) > 0
         UNION
         SELECT profile_id FROM profile_traits WHERE name IN ({FOUND_BY}) AND instr(lower(value), ?1) > 0
         ORDER BY profile_id LIMIT ?2"
    ))?;
    let ids = query
        .query_map(params![needle, limit as i64], |r| r.get::<_, i64>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    let mut latest = connection.prepare_cached(
        "SELECT name, value FROM profile_traits WHERE profile_id = ?1 AND name IN ('name', 'email')
         ORDER BY at_us, rowid",
    )?;
    let mut found = Vec::new();
    for profile in ids {
        let (mut name, mut email) = (None, None);
        let rows = latest.query_map(params![profile], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?;
        for row in rows {
            let (trait_name, value) = row?;
            match trait_name.as_str() {
                "name" => name = Some(plain(&value)),
                _ => email = Some(plain(&value)),
            }
        }
        found.push(PersonFound {
            profile,
            name,
            email,
            identifiers: ids_of(connection, profile)?,
        });
    }
    Ok(found)
}

/// The profile an identifier belongs to. `identifier` may be written plainly (`u1`,
/// `jennifer@example.com`), or with its kind (`user:u1`).
pub(crate) fn find(
    connection: &Connection,
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
        let found = profile_of(connection, &candidate)?;
        if found.is_some() {
            return Ok(found);
        }
    }
    Ok(None)
}

fn ids_of(connection: &Connection, profile: i64) -> Result<Vec<String>, StoreError> {
    let mut query = connection
        .prepare_cached("SELECT identifier FROM identities WHERE profile_id = ?1 ORDER BY rowid")?;
    let ids = query
        .query_map(params![profile], |r| r.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ids)
}

/// The events of a profile across its user and anonymous ids, collected and imported, newest
/// first, after the event `before_seq` in that order, at most `limit`.
pub(crate) fn timeline(
    connection: &Connection,
    index: &crate::index::EventIndex,
    profile: i64,
    before_seq: Option<i64>,
    limit: usize,
) -> Result<Vec<StoredEvent>, StoreError> {
    let ids: Vec<String> = ids_of(connection, profile)?
        .into_iter()
        .filter(|i| i.starts_with("user:") || i.starts_with("anon:"))
        .collect();
    let before = match before_seq {
        Some(seq) => {
            let time: Option<i64> = if seq < 0 {
                crate::traces::time_of(connection, seq)?
            } else {
                connection
                    .prepare_cached("SELECT timestamp_us FROM events WHERE seq = ?1")?
                    .query_row(params![seq], |r| r.get(0))
                    .optional()?
            };
            match time {
                Some(time) => Some((time, seq)),
                None => return Ok(Vec::new()),
            }
        }
        None => None,
    };
    // The index orders seqs as unsigned numbers and holds only collected events (positive
    // seqs): below an imported event's cursor are the collected events of earlier times.
    let found = index.person_events(&ids, before.map(|(time, seq)| (time, seq.max(0))), limit)?;
    let mut merged: Vec<(i64, i64, Option<StoredEvent>)> = found
        .into_iter()
        .map(|(time, seq)| (time, seq, None))
        .collect();
    for user in ids.iter().filter_map(|i| i.strip_prefix("user:")) {
        let until = before.map_or(i64::MAX, |(time, _)| time);
        for event in crate::traces::of_user(connection, user, Some(profile), until)? {
            let at = (event.event.timestamp_us, event.seq);
            if before.is_none_or(|b| at < b) {
                merged.push((at.0, at.1, Some(event)));
            }
        }
    }
    merged.sort_unstable_by_key(|&(time, seq, _)| std::cmp::Reverse((time, seq)));
    merged.truncate(limit);
    let mut query = connection.prepare_cached(
        "SELECT seq, message_id, kind, name, user_id, anonymous_id, timestamp_us, received_us, body, ?2
         FROM events WHERE seq = ?1",
    )?;
    let mut events = Vec::with_capacity(merged.len());
    for (_, seq, imported) in merged {
        match imported {
            Some(event) => events.push(event),
            None => {
                if let Some(event) = query
                    .query_row(params![seq, profile], crate::row_to_event)
                    .optional()?
                {
                    events.push(event);
                }
            }
        }
    }
    Ok(events)
}

/// The channel an event came through: its `channel` (top level, context or properties), else
/// `web` for pages, `app` for screens and `server` for the rest.
pub fn channel(event: &StoredEvent) -> String {
    let body: Json = serde_json::from_str(&event.event.body).unwrap_or(Json::Null);
    body.get("channel")
        .or_else(|| body.get("context").and_then(|c| c.get("channel")))
        .or_else(|| body.get("properties").and_then(|p| p.get("channel")))
        .and_then(text)
        .unwrap_or_else(|| match event.event.kind.as_str() {
            "page" => "web".to_string(),
            "screen" => "app".to_string(),
            _ => "server".to_string(),
        })
}

/// Everything about one profile.
pub(crate) fn profile(
    connection: &Connection,
    index: &crate::index::EventIndex,
    id: i64,
) -> Result<Option<Profile>, StoreError> {
    let exists: Option<i64> = connection
        .prepare_cached("SELECT id FROM profiles WHERE id = ?1")?
        .query_row(params![id], |r| r.get(0))
        .optional()?;
    if exists.is_none() {
        return Ok(None);
    }
    let mut query = connection.prepare_cached(
        "SELECT name, value, at_us FROM profile_traits WHERE profile_id = ?1 ORDER BY at_us, rowid",
    )?;
    let trait_history = query
        .query_map(params![id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
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
        let page = timeline(connection, index, id, before, 10_000)?;
        let Some(last) = page.last() else { break };
        before = Some(last.seq);
        for event in &page {
            events += 1;
            first_seen_us = first_seen_us.min(event.event.timestamp_us);
            last_seen_us = last_seen_us.max(event.event.timestamp_us);
            *channels.entry(channel(event)).or_insert(0) += 1;
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
        identifiers: ids_of(connection, id)?,
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
pub(crate) fn search(
    connection: &Connection,
    name: &str,
    value: &str,
) -> Result<Vec<i64>, StoreError> {
    let mut query = connection.prepare_cached(
        "SELECT profile_id, value FROM profile_traits t WHERE name = ?1 AND rowid = (
            SELECT rowid FROM profile_traits u WHERE u.profile_id = t.profile_id AND u.name = t.name ORDER BY at_us DESC, rowid DESC LIMIT 1)
         ORDER BY profile_id",
    )?;
    let rows = query.query_map(params![name], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
    })?;
    let mut found = Vec::new();
    for row in rows {
        let (profile, stored) = row?;
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
