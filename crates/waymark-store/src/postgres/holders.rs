//! Who holds each token, kept per node so that a call does not read the directory each time.
//!
//! What is kept is only ever what the database said, and it is forgotten as soon as any node
//! changes a key or a person:
//! - the database notifies `waymark_directory` on every write to `keys` or `users` (a trigger,
//!   schema step 4), and every node's listening connection forgets all it kept when it hears it;
//! - this node also forgets at once after its own directory writes, before it answers them;
//! - nothing is kept while the node is not listening (at start, or when the listening connection
//!   dropped), and what was read while a change was heard is not kept (an epoch);
//! - an entry lives at most [`Holders::LONGEST`] (by a monotonic clock), and never past its key's
//!   expiry.
//!
//! Unknown tokens are never kept: guessing fills nothing.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::keys::Holder;

#[derive(Default)]
pub(crate) struct Holders(Mutex<Kept>);

#[derive(Default)]
struct Kept {
    /// Whether this node hears the directory's changes.
    listening: bool,
    /// Counts the forgettings: a read that began in an earlier epoch is not kept.
    epoch: u64,
    /// By token hash: the holder, when it was read (a monotonic clock, so a clock set back
    /// keeps nothing longer), and its key's expiry (µs).
    holders: HashMap<String, (Holder, Instant, Option<i64>)>,
}

impl Holders {
    /// How long an entry is used at most, even when no change is heard: the bound on a change
    /// missed by a node whose listening connection was cut without its knowing.
    pub(crate) const LONGEST: Duration = Duration::from_secs(10);
    /// How many entries are kept; when full, all are dropped.
    const MOST: usize = 16_384;

    fn kept(&self) -> std::sync::MutexGuard<'_, Kept> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The holder kept for `hash`, still usable at `now_us`.
    pub(crate) fn get(&self, hash: &str, now_us: i64) -> Option<Holder> {
        let kept = self.kept();
        match kept.holders.get(hash) {
            Some((holder, read, expires))
                if kept.listening
                    && read.elapsed() < Self::LONGEST
                    && expires.is_none_or(|e| now_us < e) =>
            {
                Some(holder.clone())
            }
            _ => None,
        }
    }

    /// The epoch a read begins in, or `None` when what it reads may not be kept.
    pub(crate) fn epoch(&self) -> Option<u64> {
        let kept = self.kept();
        kept.listening.then_some(kept.epoch)
    }

    /// Keeps what a read that began in `epoch` found, unless a change was heard since.
    pub(crate) fn keep(&self, epoch: u64, hash: String, holder: Holder, expires_us: Option<i64>) {
        let mut kept = self.kept();
        if !kept.listening || kept.epoch != epoch {
            return;
        }
        if kept.holders.len() >= Self::MOST {
            kept.holders.clear();
        }
        kept.holders
            .insert(hash, (holder, Instant::now(), expires_us));
    }

    /// Forgets everything: the directory changed.
    pub(crate) fn forget(&self) {
        let mut kept = self.kept();
        kept.epoch += 1;
        kept.holders.clear();
    }

    /// Whether this node now hears the directory's changes; either way, forgets everything.
    pub(crate) fn listening(&self, on: bool) {
        let mut kept = self.kept();
        kept.listening = on;
        kept.epoch += 1;
        kept.holders.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str) -> Holder {
        Holder::Key {
            id: id.into(),
            kind: crate::KeyKind::Admin,
            topics: vec![],
        }
    }

    #[test]
    fn nothing_is_kept_unless_listening_and_unchanged() {
        let holders = Holders::default();
        assert_eq!(holders.epoch(), None, "not listening yet");
        holders.listening(true);
        let epoch = holders.epoch().expect("listening");
        holders.keep(epoch, "h".into(), key("k1"), None);
        assert_eq!(holders.get("h", 1), Some(key("k1")));
        holders.forget();
        assert_eq!(holders.get("h", 1), None, "forgotten on a change");
        holders.keep(epoch, "h".into(), key("k1"), None);
        assert_eq!(
            holders.get("h", 1),
            None,
            "read before the change: not kept"
        );
        let epoch = holders.epoch().expect("listening");
        holders.keep(epoch, "h".into(), key("k1"), None);
        holders.listening(false);
        assert_eq!(holders.get("h", 1), None, "not listening: nothing used");
    }

    #[test]
    fn an_entry_ends_with_its_key_or_after_the_longest_time() {
        let holders = Holders::default();
        holders.listening(true);
        let epoch = holders.epoch().expect("listening");
        holders.keep(epoch, "soon".into(), key("k1"), Some(100));
        holders.keep(epoch, "never".into(), key("k2"), None);
        assert_eq!(holders.get("soon", 99), Some(key("k1")));
        assert_eq!(holders.get("soon", 100), None, "expired");
        assert_eq!(
            holders.get("never", i64::MAX),
            Some(key("k2")),
            "whatever the wall clock says"
        );
        // Read longer ago than the longest time: read again.
        if let Some(entry) = holders.kept().holders.get_mut("never") {
            entry.1 -= Holders::LONGEST;
        }
        assert_eq!(holders.get("never", 0), None);
    }

    /// Two nodes on one database: what one keeps is forgotten when the other revokes the key,
    /// disables the person or changes their roles, at once or within a moment (when it hears).
    #[test]
    fn a_node_forgets_a_holder_when_another_node_changes_the_directory() {
        use crate::prelude::*;
        let Some(url) = crate::testing::fresh_postgres() else {
            return;
        };
        let (one, two) = (
            super::super::PgStore::open(&url, vec![]).expect("one"),
            super::super::PgStore::open(&url, vec![]).expect("two"),
        );
        let listening = |store: &super::super::PgStore| {
            let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while store.holders.epoch().is_none() {
                assert!(std::time::Instant::now() < until, "the node never listened");
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        };
        listening(&one);
        let maria = |roles: &[&str]| crate::workflow::User {
            id: "maria".into(),
            name: "Maria".into(),
            email: None,
            department: None,
            manager: None,
            roles: roles.iter().map(|r| r.to_string()).collect(),
        };
        two.put_users(&[maria(&["finance"])]).expect("maria");
        let (id, token) = two
            .issue_person_token("maria", "phone", None, "admin", 1)
            .expect("a token");
        let roles = |store: &super::super::PgStore| match store.holder(&token, 2).expect("read") {
            Some(Holder::Person { user, .. }) => Some(user.roles),
            Some(other) => panic!("{other:?}"),
            None => None,
        };
        // Within a moment: node one hears node two's change through the database.
        let soon = |expected: Option<Vec<String>>| {
            let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
            while roles(&one) != expected {
                assert!(
                    std::time::Instant::now() < until,
                    "node one still sees {:?}",
                    roles(&one)
                );
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        };
        soon(Some(vec!["finance".into()]));
        // Kept: node one answers without the database (once the notices of node two's writes
        // have arrived, a read is kept).
        let hash = crate::hash(&token);
        let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while one.holders.get(&hash, 2).is_none() {
            assert!(
                std::time::Instant::now() < until,
                "node one never keeps the holder"
            );
            let _ = one.holder(&token, 2).expect("read");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        two.put_users(&[maria(&["finance", "hr"])])
            .expect("new roles");
        soon(Some(vec!["finance".into(), "hr".into()]));
        two.revoke_key(&id, "admin", 3).expect("revoke");
        soon(None);
        let (_, again) = two
            .issue_person_token("maria", "laptop", None, "admin", 4)
            .expect("another");
        assert!(one.holder(&again, 5).expect("read").is_some());
        two.disable_user("maria", "admin", 6).expect("disable");
        let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while one.holder(&again, 7).expect("read").is_some() {
            assert!(
                std::time::Instant::now() < until,
                "a disabled person's token still works"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        // On the node that made the change, at once.
        let (kid, key) = one
            .issue_key(
                &crate::keys::NewKey {
                    kind: crate::KeyKind::Admin,
                    label: "ops".into(),
                    topics: vec![],
                    expires_us: None,
                },
                "admin",
                8,
            )
            .expect("a key");
        assert!(one.holder(&key, 9).expect("read").is_some());
        one.revoke_key(&kid, "admin", 10).expect("revoke");
        assert_eq!(
            one.holder(&key, 11).expect("read"),
            None,
            "revoked here: at once"
        );
    }
}
