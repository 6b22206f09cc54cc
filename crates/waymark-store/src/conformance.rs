//! One suite of storage behaviours, each written once and run on every backend: SQLite, and
//! PostgreSQL when the test command started one (`WAYMARK_TEST_POSTGRES`, an admin URL; each
//! test gets a database of its own). With `CI=true` a missing PostgreSQL fails the run.

use crate::keys::{Holder, NewKey};
use crate::mailbox::Mail;
use crate::postgres::PgStore;
use crate::prelude::*;
use crate::views::NewView;
use crate::workflow::User;
use crate::{KeyKind, NewEvent, SqliteStore, StoreError};

fn postgres() -> Option<PgStore> {
    let url = crate::testing::fresh_postgres()?;
    Some(PgStore::open(&url, crate::default_identifier_traits()).expect("open PostgreSQL"))
}

fn sqlite() -> SqliteStore {
    SqliteStore::open_in_memory().expect("open SQLite")
}

/// Each behaviour as a `#[test]` per backend: `sqlite::NAME` and `postgres::NAME`.
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[test]
                fn $name() {
                    super::$name(&super::sqlite());
                }
            )*
        }
        mod postgres {
            $(
                #[test]
                fn $name() {
                    if let Some(store) = super::postgres() {
                        super::$name(&store);
                    }
                }
            )*
        }
    };
}

on_every_backend!(
    people_are_found_by_id_and_email_and_a_disabled_one_by_neither,
    keys_are_hashed_listed_expired_and_revoked,
    a_configured_key_rotates_and_a_revoked_one_is_refused,
    signing_keys_rotate_newest_first_and_retire,
    sessions_expire_and_end_with_their_key_or_person,
    a_one_time_token_works_once,
    journeys_are_versioned_by_their_text,
    mail_is_kept_once_per_message_id,
    the_schema_is_brought_up_to_date_once,
    people_are_found_by_part_of_a_name_an_email_or_an_identifier,
    saved_views_are_kept_listed_by_owner_and_forgotten,
    deployments_list_each_process_and_form_with_its_versions,
    lookups_are_logged_and_the_latest_come_first_once_each,
    a_person_changed_by_an_administrator_is_in_the_access_trail,
    journey_changes_and_comment_threads_are_kept,
    a_journey_is_deployed_after_a_version_only_while_it_is_the_latest,
    alert_rules_are_checked_once_and_their_firings_grouped,
    plans_are_kept_and_changed_only_on_the_revision_read,
    a_person_is_asked_for_feedback_at_most_once_in_a_while,
    a_proposal_is_published_only_on_the_version_it_was_proposed_on,
    a_proposal_published_twice_at_once_is_published_once,
);

const HOUR: i64 = 3_600_000_000;

fn person(id: &str, email: &str) -> User {
    User {
        id: id.into(),
        name: format!("Person {id}"),
        email: Some(email.into()),
        department: Some("finance".into()),
        manager: Some("boss".into()),
        roles: vec!["approver".into(), "cx".into()],
    }
}

fn people_are_found_by_id_and_email_and_a_disabled_one_by_neither<S: Directory>(store: &S) {
    let maria = person("maria", "Maria.Lopez@Example.com");
    assert_eq!(
        store
            .put_users(&[maria.clone(), person("tom", "tom@example.com")])
            .expect("put"),
        2
    );
    assert_eq!(store.user("maria").expect("read"), Some(maria.clone()));
    assert_eq!(
        store
            .user_by_email("  maria.lopez@example.COM ")
            .expect("read"),
        Some(maria.clone()),
        "emails match without case or surrounding spaces"
    );
    let mut renamed = maria.clone();
    renamed.name = "Maria L.".into();
    renamed.roles = vec![];
    store.put_users(&[renamed.clone()]).expect("replace");
    assert_eq!(store.user("maria").expect("read"), Some(renamed));
    let (_, token) = store
        .issue_person_token("maria", "phone", None, "admin", 1)
        .expect("token");
    assert!(store.disable_user("maria", "admin", 2).expect("disable"));
    assert!(
        !store.disable_user("maria", "admin", 3).expect("again"),
        "once"
    );
    assert!(store.disabled("maria").expect("read"));
    assert_eq!(store.user("maria").expect("read"), None);
    assert_eq!(
        store
            .user_by_email("maria.lopez@example.com")
            .expect("read"),
        None
    );
    assert_eq!(
        store.holder(&token, 4).expect("read"),
        None,
        "her token ended"
    );
    assert_eq!(
        store
            .users()
            .expect("list")
            .iter()
            .map(|u| u.id.as_str())
            .collect::<Vec<_>>(),
        ["tom"]
    );
    assert!(store.enable_user("maria", "admin", 5).expect("enable"));
    assert!(store.user("maria").expect("read").is_some());
    assert_eq!(
        store.holder(&token, 6).expect("read"),
        None,
        "enabling does not bring back revoked tokens"
    );
}

fn keys_are_hashed_listed_expired_and_revoked<S: Directory>(store: &S) {
    store
        .put_users(&[person("ada", "ada@example.com")])
        .expect("put");
    let (worker_id, worker) = store
        .issue_key(
            &NewKey {
                kind: KeyKind::Worker,
                label: "budget".into(),
                topics: vec!["budget-check".into(), "po".into()],
                expires_us: Some(10 * HOUR),
            },
            "admin",
            HOUR,
        )
        .expect("issue");
    assert!(worker.starts_with("wk_") && worker_id.starts_with("k_"));
    assert_eq!(
        store.holder(&worker, 2 * HOUR).expect("read"),
        Some(Holder::Key {
            id: worker_id.clone(),
            kind: KeyKind::Worker,
            topics: vec!["budget-check".into(), "po".into()],
        })
    );
    assert_eq!(
        store.holder(&worker, 10 * HOUR).expect("read"),
        None,
        "ended"
    );
    let (person_id, token) = store
        .issue_person_token("ada", "laptop", None, "admin", 2 * HOUR)
        .expect("issue");
    match store.holder(&token, 3 * HOUR).expect("read") {
        Some(Holder::Person { id, user }) => {
            assert_eq!((id, user.id), (person_id.clone(), "ada".into()))
        }
        other => panic!("ada's token: {other:?}"),
    }
    assert_eq!(
        store.token_user(&token).expect("read").map(|u| u.id),
        Some("ada".into())
    );
    let listed = store.keys().expect("list");
    assert_eq!(
        listed.iter().map(|k| k.id.as_str()).collect::<Vec<_>>(),
        [person_id.as_str(), worker_id.as_str()],
        "newest first"
    );
    assert!(
        listed
            .iter()
            .all(|k| !format!("{k:?}").contains(&token[3..])),
        "never the secret"
    );
    assert!(
        store
            .revoke_key(&person_id, "admin", 4 * HOUR)
            .expect("revoke")
    );
    assert!(
        !store
            .revoke_key(&person_id, "admin", 5 * HOUR)
            .expect("again"),
        "once"
    );
    assert_eq!(store.holder(&token, 5 * HOUR).expect("read"), None);
    assert_eq!(store.holder("wk_not-a-key", 5 * HOUR).expect("read"), None);
}

fn a_configured_key_rotates_and_a_revoked_one_is_refused<S: Directory>(store: &S) {
    store
        .ensure_key(KeyKind::Write, "ww_first")
        .expect("ensure");
    store.ensure_key(KeyKind::Write, "ww_first").expect("again");
    assert_eq!(
        store.key_kind("ww_first").expect("read"),
        Some(KeyKind::Write)
    );
    store
        .ensure_key(KeyKind::Write, "ww_second")
        .expect("rotate");
    assert_eq!(
        store.key_kind("ww_first").expect("read"),
        None,
        "rotated out"
    );
    assert_eq!(
        store.key_kind("ww_second").expect("read"),
        Some(KeyKind::Write)
    );
    let second = store
        .keys()
        .expect("list")
        .into_iter()
        .find(|k| k.revoked_us.is_none())
        .expect("the live key");
    assert!(store.revoke_key(&second.id, "admin", 1).expect("revoke"));
    match store.ensure_key(KeyKind::Write, "ww_second") {
        Err(StoreError::Refused(why)) => assert!(why.contains("revoked"), "{why}"),
        other => panic!("a revoked configured key must be refused: {other:?}"),
    }
}

fn signing_keys_rotate_newest_first_and_retire<S: Directory>(store: &S) {
    let first = store.signing_keys("links").expect("keys");
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].0, "links-1");
    assert_eq!(first[0].1.len(), 64, "256 random bits");
    assert_eq!(store.signing_keys("links").expect("again"), first, "kept");
    assert_ne!(store.secret("surveys").expect("other"), first[0].1);
    assert_eq!(
        store.rotate_signing_key("links", false).expect("rotate"),
        "links-2"
    );
    let two = store.signing_keys("links").expect("keys");
    assert_eq!(
        two.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
        ["links-2", "links-1"]
    );
    assert_eq!(two[1], first[0], "the older one still verifies");
    assert_eq!(
        store.rotate_signing_key("links", true).expect("retire"),
        "links-3"
    );
    let three = store.signing_keys("links").expect("keys");
    assert_eq!(
        three.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
        ["links-3", "links-1"]
    );
    assert_ne!(three[1].1, first[0].1, "the first key was replaced");
}

fn sessions_expire_and_end_with_their_key_or_person<S: Directory + Sessions>(store: &S) {
    store
        .put_users(&[
            person("olivia", "olivia@example.com"),
            person("chris", "c@example.com"),
        ])
        .expect("put");
    let (id, csrf) = store
        .create_session("olivia", HOUR, 2 * HOUR)
        .expect("create");
    let found = store.session(&id, 2 * HOUR).expect("read").expect("live");
    assert_eq!(
        (
            found.user.id.as_str(),
            found.csrf.as_str(),
            found.expires_us
        ),
        ("olivia", csrf.as_str(), 3 * HOUR)
    );
    assert!(
        store.session(&id, 3 * HOUR + 1).expect("read").is_none(),
        "expired"
    );
    assert!(store.session("ws_unknown", HOUR).expect("read").is_none());
    // A session begun with an access token ends with the token, and never outlives it.
    let (key, _) = store
        .issue_person_token("chris", "t", Some(5 * HOUR), "admin", HOUR)
        .expect("token");
    let (by_key, _) = store
        .create_session_by("chris", Some(&key), HOUR, 24 * HOUR)
        .expect("create");
    assert_eq!(
        store
            .session(&by_key, 2 * HOUR)
            .expect("read")
            .map(|s| s.expires_us),
        Some(5 * HOUR)
    );
    assert!(store.revoke_key(&key, "admin", 3 * HOUR).expect("revoke"));
    assert!(store.session(&by_key, 3 * HOUR).expect("read").is_none());
    // Signing out, and disabling the person, end sessions.
    let (again, _) = store
        .create_session("olivia", 4 * HOUR, HOUR)
        .expect("create");
    store.end_session(&again).expect("end");
    assert!(store.session(&again, 4 * HOUR).expect("read").is_none());
    let (last, _) = store
        .create_session("olivia", 4 * HOUR, HOUR)
        .expect("create");
    assert!(
        store
            .disable_user("olivia", "admin", 4 * HOUR)
            .expect("disable")
    );
    assert!(store.session(&last, 4 * HOUR).expect("read").is_none());
}

fn a_one_time_token_works_once<S: Sessions>(store: &S) {
    assert!(store.use_once("link-a", 10, 1).expect("first"));
    assert!(!store.use_once("link-a", 10, 2).expect("second"));
    assert!(store.use_once("link-b", 10, 2).expect("another"));
    // Once it expired it is forgotten; a link checks its own expiry before it gets here.
    assert!(
        store
            .use_once("link-a", 30, 11)
            .expect("after it was cleared")
    );
}

fn journeys_are_versioned_by_their_text<S: Journeys>(store: &S) {
    assert_eq!(
        store
            .deploy_journey("training", "as-is", "a: 1", 1)
            .expect("deploy"),
        (1, true)
    );
    assert_eq!(
        store
            .deploy_journey("training", "as-is", "a: 1", 2)
            .expect("same"),
        (1, false)
    );
    assert_eq!(
        store
            .deploy_journey("training", "to-be", "a: 2", 3)
            .expect("new"),
        (2, true)
    );
    assert_eq!(
        store.deploy_journey("loan", "v1", "b", 4).expect("other"),
        (1, true)
    );
    let latest = store.journeys().expect("list");
    assert_eq!(
        latest
            .iter()
            .map(|j| (j.id.as_str(), j.version, j.label.as_str()))
            .collect::<Vec<_>>(),
        [("loan", 1, "v1"), ("training", 2, "to-be")]
    );
    assert_eq!(
        store
            .journey_versions("training")
            .expect("versions")
            .iter()
            .map(|j| (j.version, j.source.as_str(), j.deployed_us))
            .collect::<Vec<_>>(),
        [(1, "a: 1", 1), (2, "a: 2", 3)]
    );
    assert_eq!(
        store
            .journey("training", Some(1))
            .expect("one")
            .map(|j| j.label),
        Some("as-is".into())
    );
    assert_eq!(
        store
            .journey("training", None)
            .expect("latest")
            .map(|j| j.version),
        Some(2)
    );
    assert_eq!(store.journey("training", Some(9)).expect("none"), None);
    assert_eq!(store.journey("nope", None).expect("none"), None);
}

fn mail_is_kept_once_per_message_id<S: Mailbox>(store: &S) {
    let mail = |n: i64, user: &str| Mail {
        id: 0,
        user: user.into(),
        address: format!("{user}@example.com"),
        subject: format!("Step {n}"),
        body: "Open the link".into(),
        message_id: format!("<m{n}@waymark>"),
        sent_us: n,
    };
    store.deliver(&mail(1, "maria")).expect("deliver");
    store.deliver(&mail(1, "maria")).expect("again");
    store.deliver(&mail(2, "tom")).expect("deliver");
    store.deliver(&mail(3, "maria")).expect("deliver");
    let hers = store.mails(Some("maria"), 10).expect("list");
    assert_eq!(
        hers.iter().map(|m| m.subject.as_str()).collect::<Vec<_>>(),
        ["Step 3", "Step 1"],
        "newest first, once each"
    );
    assert_eq!(store.mails(None, 2).expect("all").len(), 2, "limited");
    let one = store.mail(hers[1].id).expect("read").expect("kept");
    assert_eq!(
        (one.user.as_str(), one.message_id.as_str()),
        ("maria", "<m1@waymark>")
    );
    assert_eq!(store.mail(-1).expect("read"), None);
}

fn a_person_changed_by_an_administrator_is_in_the_access_trail<S: Directory + Work>(store: &S) {
    let mut sam = person("sam", "sam@example.com");
    sam.roles = vec!["agent".into()];
    store.put_user_by(&sam, "ada", 10).expect("add");
    sam.roles = vec!["agent".into(), "admin".into()];
    sam.department = Some("support".into());
    store.put_user_by(&sam, "ada", 20).expect("change");
    assert_eq!(store.user("sam").expect("read"), Some(sam.clone()));
    let trail = store
        .audit_trail(crate::workflow::ACCESS_TRAIL)
        .expect("trail");
    let lines: Vec<(&str, &str, serde_json::Value)> = trail
        .iter()
        .filter(|a| a.data["user"] == "sam")
        .map(|a| (a.action.as_str(), a.actor.as_str(), a.data.clone()))
        .collect();
    assert_eq!(
        lines,
        [
            (
                "person added",
                "ada",
                serde_json::json!({ "user": "sam", "roles": ["agent"] })
            ),
            (
                "person changed",
                "ada",
                serde_json::json!({ "user": "sam", "roles": ["agent", "admin"], "roles_before": ["agent"] })
            ),
        ]
    );
}

fn lookups_are_logged_and_the_latest_come_first_once_each<S: Identities>(store: &S) {
    store
        .note_lookup("alex", "dana@example.com", "Dana Reyes", 1)
        .expect("note");
    store.note_lookup("alex", "c7", "c7", 2).expect("note");
    store.note_lookup("chris", "c9", "c9", 3).expect("note");
    store
        .note_lookup("alex", "dana@example.com", "Dana Reyes", 4)
        .expect("again");
    let seen: Vec<(String, i64)> = store
        .recent_lookups("alex", 10)
        .expect("recent")
        .into_iter()
        .map(|l| (l.identifier, l.at_us))
        .collect();
    assert_eq!(
        seen,
        [("dana@example.com".to_string(), 4), ("c7".to_string(), 2)],
        "newest first, each once, only Alex's"
    );
    assert_eq!(store.recent_lookups("alex", 1).expect("recent").len(), 1);
    assert!(
        store
            .recent_lookups("nobody", 5)
            .expect("recent")
            .is_empty()
    );
}

fn deployments_list_each_process_and_form_with_its_versions<S: Processes>(store: &S) {
    let process = |url: &str| {
        format!(
            "process: ping\nname: Ping the budget system\nsteps:\n  - id: ping\n    webhook: {url}\n"
        )
    };
    store
        .deploy_process(
            "ping",
            "Ping the budget system",
            "yaml",
            &process("http://a.example/"),
            10,
        )
        .expect("deploy");
    store
        .deploy_process(
            "ping",
            "Ping the budget system",
            "yaml",
            &process("http://b.example/"),
            20,
        )
        .expect("deploy again");
    store
        .deploy_process(
            "approve",
            "Approve a purchase",
            "yaml",
            &process("http://c.example/"),
            30,
        )
        .expect("deploy");
    store
        .put_form("request-training", "{\"components\": []}", 40)
        .expect("form");
    let listed: Vec<(&str, String, String, i64, i64, i64)> = store
        .deployments()
        .expect("list")
        .into_iter()
        .map(|d| (d.kind, d.id, d.name, d.version, d.versions, d.deployed_us))
        .collect();
    assert_eq!(
        listed,
        [
            (
                "process",
                "approve".into(),
                "Approve a purchase".into(),
                1,
                1,
                30
            ),
            (
                "process",
                "ping".into(),
                "Ping the budget system".into(),
                2,
                2,
                20
            ),
            (
                "form",
                "request-training".into(),
                "request-training".into(),
                1,
                1,
                40
            ),
        ]
    );
}

fn saved_views_are_kept_listed_by_owner_and_forgotten<S: SavedViews>(store: &S) {
    let view = |owner: &str, name: &str| NewView {
        owner: owner.into(),
        name: name.into(),
        kind: "funnel".into(),
        journey: "training-request".into(),
        query: "step=a&step=b&window=7d&order=ordered".into(),
        created_us: 5,
    };
    let first = store.save_view(&view("chris", "Approvals")).expect("save");
    let second = store.save_view(&view("olivia", "Drop-offs")).expect("save");
    let third = store.save_view(&view("chris", "Payments")).expect("save");
    assert!(first < second && second < third, "ids grow");
    let names = |owner| -> Vec<String> {
        store
            .saved_views(owner, 10)
            .expect("list")
            .into_iter()
            .map(|v| v.view.name)
            .collect()
    };
    assert_eq!(
        names(Some("chris")),
        ["Payments", "Approvals"],
        "newest first"
    );
    assert_eq!(names(None), ["Payments", "Drop-offs", "Approvals"]);
    assert_eq!(
        store.saved_views(None, 1).expect("list").len(),
        1,
        "limited"
    );
    let kept = store.saved_view(second).expect("read").expect("kept");
    assert_eq!(kept.view, view("olivia", "Drop-offs"), "read back whole");
    assert!(store.delete_view(second).expect("delete"));
    assert!(!store.delete_view(second).expect("again"), "gone");
    assert_eq!(store.saved_view(second).expect("read"), None);
}

fn people_are_found_by_part_of_a_name_an_email_or_an_identifier<S: Events + Identities>(store: &S) {
    let identify = |n: i64, user: &str, traits: serde_json::Value| NewEvent {
        message_id: format!("find-{n}"),
        kind: "identify".into(),
        name: None,
        user_id: Some(user.into()),
        anonymous_id: None,
        timestamp_us: n,
        received_us: n,
        body: serde_json::json!({ "type": "identify", "userId": user, "traits": traits })
            .to_string(),
    };
    store
        .append(vec![
            identify(
                1,
                "u-jen",
                serde_json::json!({ "name": "Jennifer Lee", "email": "Jennifer@Example.com" }),
            ),
            identify(2, "u-tom", serde_json::json!({ "name": "Tom Jenkins" })),
            identify(
                3,
                "u-ana",
                serde_json::json!({ "name": "Ana Silva", "phone": "+351 912 345 678" }),
            ),
            identify(4, "u-ana", serde_json::json!({ "name": "Ana Silva Costa" })),
            identify(5, "visitor_100%", serde_json::json!({ "plan": "Jennifer" })),
        ])
        .expect("append");
    let found = |text: &str, limit: usize| -> Vec<(Option<String>, Vec<String>)> {
        store
            .find_people(text, limit)
            .expect("find")
            .into_iter()
            .map(|p| (p.name, p.identifiers))
            .collect()
    };
    let names = |text: &str| -> Vec<Option<String>> {
        found(text, 10).into_iter().map(|(n, _)| n).collect()
    };
    // Part of a name, in any case; a trait that is not a name, email or phone does not count.
    assert_eq!(
        names("JEN"),
        [
            Some("Jennifer Lee".to_string()),
            Some("Tom Jenkins".to_string())
        ]
    );
    // Part of an email, and of an identifier.
    assert_eq!(names("example.com"), [Some("Jennifer Lee".to_string())]);
    assert_eq!(names("u-tom"), [Some("Tom Jenkins".to_string())]);
    // A name they had before, shown with the latest one; a phone as written.
    assert_eq!(names("silva"), [Some("Ana Silva Costa".to_string())]);
    assert_eq!(names("912 345"), [Some("Ana Silva Costa".to_string())]);
    // What looks like a pattern is looked for as written.
    assert_eq!(found("100%", 10).len(), 1);
    assert_eq!(
        found("_", 10).len(),
        1,
        "only visitor_100% has an underscore"
    );
    // At most `limit`, the earliest first; nothing for a blank or an unknown text.
    assert_eq!(found("u-", 2).len(), 2);
    assert!(found("   ", 10).is_empty());
    assert!(found("nobody-like-this", 10).is_empty());
    let jen = store.find_people("jennifer lee", 10).expect("find");
    assert_eq!(jen.len(), 1);
    assert_eq!(jen[0].email.as_deref(), Some("Jennifer@Example.com"));
    assert!(
        jen[0].identifiers.contains(&"user:u-jen".to_string()),
        "{:?}",
        jen[0].identifiers
    );
}

fn the_schema_is_brought_up_to_date_once<S: HealthCheck + Journeys>(store: &S) {
    assert!(store.health().ok(), "{:?}", store.health());
    store.deploy_journey("j", "v", "x", 1).expect("a write");
    assert!(store.health().ok());
}

/// PostgreSQL only: a database is migrated from empty once, opening again changes nothing and
/// keeps what was stored, and a database newer than this build is refused.
#[test]
fn postgres_migrations_run_once_and_refuse_a_newer_schema() {
    let Some(url) = crate::testing::fresh_postgres() else {
        return;
    };
    let first = PgStore::open(&url, vec![]).expect("from empty");
    first.deploy_journey("j", "v", "x", 1).expect("write");
    drop(first);
    let again = PgStore::open(&url, vec![]).expect("again");
    assert_eq!(again.journeys().expect("kept").len(), 1);
    let latest = crate::postgres::schema::STEPS.len() as i64;
    again
        .run(move |pool| async move {
            let client = pool.get().await?;
            let versions: i64 = client
                .query_one("SELECT count(*) FROM schema_migrations", &[])
                .await?
                .try_get(0)?;
            assert_eq!(versions, latest, "each step once");
            client
                .execute(
                    "INSERT INTO schema_migrations (version, applied_us) VALUES ($1, 0)",
                    &[&(latest + 1)],
                )
                .await?;
            Ok(())
        })
        .expect("a newer schema");
    drop(again);
    match PgStore::open(&url, vec![]) {
        Err(StoreError::Migration(why)) => assert!(why.contains("newer"), "{why}"),
        other => panic!("a newer schema must be refused: {other:?}"),
    }
}

/// PostgreSQL only: a database at the first schema (before jobs) with a waiting timer, an open
/// email task and a form offered to a group is brought up to date at open, through every later
/// step: the timer and the email become jobs a node can claim, and the form is in the group's
/// inbox.
#[test]
fn postgres_migrates_from_an_older_schema() {
    let Some(url) = crate::testing::fresh_postgres() else {
        return;
    };
    let previous = 1;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .expect("connect");
        tokio::spawn(connection);
        client
            .batch_execute(
                "CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, applied_us BIGINT NOT NULL)",
            )
            .await
            .expect("versions");
        for (index, step) in crate::postgres::schema::STEPS[..previous].iter().enumerate() {
            client.batch_execute(step).await.expect("an older step");
            client
                .execute(
                    "INSERT INTO schema_migrations VALUES ($1, 0)",
                    &[&(index as i64 + 1)],
                )
                .await
                .expect("its version");
        }
        client
            .batch_execute(
                "INSERT INTO timers VALUES (7, 1, 500);
                 INSERT INTO tasks (instance_id, task_id, node, name, kind, topic, candidate_groups, candidate_users, status, created_us)
                 VALUES (7, 3, 'mail', 'Mail', 'worker', 'email:approved', '', '', 'open', 1),
                        (7, 4, 'form', 'Form', 'user', NULL, 'Finance', '', 'open', 1);",
            )
            .await
            .expect("rows of the older schema");
    });
    let store = PgStore::open(&url, vec![]).expect("upgrade");
    use crate::workflow::JobKind;
    let claim = |kind| store.claim_jobs(kind, 10_000, 1_000, 10).expect("claim");
    assert_eq!(
        claim(JobKind::Timer)
            .iter()
            .map(|j| (j.instance, j.item))
            .collect::<Vec<_>>(),
        [(7, 1)]
    );
    assert_eq!(
        claim(JobKind::Mail)
            .iter()
            .map(|j| (j.instance, j.item))
            .collect::<Vec<_>>(),
        [(7, 3)]
    );
    assert!(claim(JobKind::Webhook).is_empty(), "a form is no job");
    let maria = User {
        id: "maria".into(),
        name: "Maria".into(),
        email: None,
        department: Some("Finance".into()),
        manager: None,
        roles: vec![],
    };
    let (inbox, _) = store.tasks_for_page(&maria, None, 10).expect("inbox");
    assert_eq!(
        inbox
            .iter()
            .map(|t| (t.instance, t.task))
            .collect::<Vec<_>>(),
        [(7, 4)]
    );
}

fn journey_changes_and_comment_threads_are_kept<S: JourneyTalk>(store: &S) {
    let change = |version: i64, by: &str| crate::JourneyChange {
        journey: "claims".into(),
        version,
        by: by.into(),
        summary: format!("version {version}"),
        at_us: version * HOUR,
    };
    store.note_change(&change(1, "olivia")).expect("note");
    store.note_change(&change(2, "chris")).expect("note");
    // The first record of a version stays.
    store
        .note_change(&change(2, "mallory"))
        .expect("note again");
    assert_eq!(
        store.journey_changes("claims").expect("changes"),
        vec![change(2, "chris"), change(1, "olivia")],
        "newest version first"
    );
    assert!(store.journey_changes("other").expect("changes").is_empty());

    let comment = |parent: Option<i64>, author: &str, body: &str| crate::NewComment {
        journey: "claims".into(),
        target: "touchpoint:assess".into(),
        parent,
        author: author.into(),
        body: body.into(),
        at_us: HOUR,
    };
    let thread = store
        .add_comment(&comment(None, "olivia", "@chris is this the slow step?"))
        .expect("add");
    let reply = store
        .add_comment(&comment(Some(thread), "chris", "Yes: 2 days"))
        .expect("reply");
    assert!(reply > thread);
    let other = crate::NewComment {
        journey: "other".into(),
        ..comment(None, "ada", "elsewhere")
    };
    store.add_comment(&other).expect("add");
    let kept = store.journey_comments("claims").expect("comments");
    assert_eq!(kept.len(), 2);
    assert_eq!(
        (kept[0].id, &kept[0].comment),
        (
            thread,
            &comment(None, "olivia", "@chris is this the slow step?")
        )
    );
    assert_eq!(kept[1].comment.parent, Some(thread));
    assert_eq!(kept[0].resolved, None);

    // A reply is not a thread: only the thread's first comment resolves.
    assert!(
        !store
            .resolve_thread("claims", reply, Some("olivia"), 2 * HOUR)
            .expect("resolve")
    );
    assert!(
        !store
            .resolve_thread("other", thread, Some("olivia"), 2 * HOUR)
            .expect("resolve")
    );
    assert!(
        store
            .resolve_thread("claims", thread, Some("olivia"), 2 * HOUR)
            .expect("resolve")
    );
    assert_eq!(
        store.journey_comments("claims").expect("comments")[0].resolved,
        Some(("olivia".to_string(), 2 * HOUR))
    );
    assert!(
        store
            .resolve_thread("claims", thread, None, 3 * HOUR)
            .expect("reopen")
    );
    assert_eq!(
        store.journey_comments("claims").expect("comments")[0].resolved,
        None
    );
}

fn a_journey_is_deployed_after_a_version_only_while_it_is_the_latest<S: Journeys>(store: &S) {
    // A new id: only "after none".
    assert_eq!(
        store
            .deploy_journey_after("claims", "as-is", "id: claims", 1, 1)
            .expect("deploy"),
        None
    );
    assert_eq!(
        store
            .deploy_journey_after("claims", "as-is", "id: claims", 1, 0)
            .expect("deploy"),
        Some((1, true))
    );
    // Two saves that both started from version 1: the second is told another came first.
    assert_eq!(
        store
            .deploy_journey_after("claims", "as-is", "id: claims\n# a", 2, 1)
            .expect("deploy"),
        Some((2, true))
    );
    assert_eq!(
        store
            .deploy_journey_after("claims", "as-is", "id: claims\n# b", 3, 1)
            .expect("deploy"),
        None
    );
    assert_eq!(store.journey_versions("claims").expect("versions").len(), 2);
    // The same text again after the latest: no new version.
    assert_eq!(
        store
            .deploy_journey_after("claims", "as-is", "id: claims\n# a", 4, 2)
            .expect("deploy"),
        Some((2, false))
    );
}

fn alert_rules_are_checked_once_and_their_firings_grouped<S: Alerts>(store: &S) {
    use crate::alerts::{Firing, NewAlertRule};
    let rule = NewAlertRule {
        journey: "claims".into(),
        kpi: "completion".into(),
        rule: "anomaly".into(),
        webhook: Some("http://127.0.0.1:9/hook".into()),
        author: "olivia".into(),
        created_us: HOUR,
    };
    let id = store.add_alert_rule(&rule).expect("add");
    let other = store
        .add_alert_rule(&NewAlertRule {
            kpi: "time".into(),
            webhook: None,
            ..rule.clone()
        })
        .expect("add");
    let rules = store.alert_rules().expect("rules");
    assert_eq!(rules.len(), 2);
    assert_eq!(
        (rules[0].id, &rules[0].rule, rules[0].checked_us),
        (id, &rule, None)
    );

    // The mark moves for the caller that read it as it was, once.
    assert!(store.claim_alert_check(id, None, 10 * HOUR).expect("claim"));
    assert!(
        !store.claim_alert_check(id, None, 11 * HOUR).expect("again"),
        "a second node read the same mark"
    );
    assert!(
        store
            .claim_alert_check(id, Some(10 * HOUR), 20 * HOUR)
            .expect("next")
    );
    assert_eq!(
        store.alert_rules().expect("rules")[0].checked_us,
        Some(20 * HOUR)
    );

    // Buckets in a row are one alert; after a quiet stretch, a new one.
    let firing = |bucket: i64, detail: &str| Firing {
        rule: id,
        journey: "claims".into(),
        kpi: "completion".into(),
        bucket_us: bucket * HOUR,
        detail: detail.into(),
        quiet_us: 3 * HOUR,
    };
    let (first, new) = store
        .raise_alert(&firing(1, "{\"worst\":0.5}"))
        .expect("raise");
    assert!(new);
    assert_eq!(
        store
            .raise_alert(&firing(2, "{\"worst\":0.4}"))
            .expect("raise"),
        (first, false)
    );
    assert_eq!(
        store
            .raise_alert(&firing(4, "{\"worst\":0.45}"))
            .expect("raise"),
        (first, false)
    );
    // The same bucket again (a retry) adds nothing.
    assert_eq!(
        store
            .raise_alert(&firing(4, "{\"worst\":0.45}"))
            .expect("raise"),
        (first, false)
    );
    let alert = store.alert(first).expect("read").expect("kept");
    assert_eq!(
        (alert.opened_us, alert.last_us, alert.buckets),
        (HOUR, 4 * HOUR, 3)
    );
    assert_eq!(alert.detail, "{\"worst\":0.45}");
    assert!(alert.is_open() && alert.acknowledged.is_none() && alert.notified_us.is_none());
    let (second, new) = store.raise_alert(&firing(9, "{}")).expect("raise");
    assert!(
        new && second > first,
        "after three quiet hours, a new alert"
    );
    let open: Vec<i64> = store
        .open_alerts(id)
        .expect("open")
        .iter()
        .map(|a| a.id)
        .collect();
    assert_eq!(open, vec![second, first], "both unresolved, newest first");
    assert!(store.open_alerts(other).expect("open").is_empty());

    // Acknowledged alerts still take repeats; resolved ones do not.
    assert!(
        store
            .acknowledge_alert(second, "maria", 10 * HOUR)
            .expect("ack")
    );
    assert!(
        !store
            .acknowledge_alert(second, "finn", 11 * HOUR)
            .expect("ack again")
    );
    assert_eq!(
        store.raise_alert(&firing(10, "{}")).expect("raise"),
        (second, false)
    );
    store.alert_notified(second, 10 * HOUR).expect("notified");
    store
        .alert_notified(second, 12 * HOUR)
        .expect("notified again");
    assert!(
        store
            .resolve_alert(second, "maria", 12 * HOUR)
            .expect("resolve")
    );
    assert!(
        !store
            .resolve_alert(second, "maria", 13 * HOUR)
            .expect("resolve again")
    );
    assert!(
        !store
            .acknowledge_alert(second, "maria", 13 * HOUR)
            .expect("ack a resolved one")
    );
    let kept = store.alert(second).expect("read").expect("kept");
    assert_eq!(kept.acknowledged, Some(("maria".into(), 10 * HOUR)));
    assert_eq!(kept.resolved, Some(("maria".into(), 12 * HOUR)));
    assert_eq!(kept.notified_us, Some(10 * HOUR), "the first notice stays");
    let (third, new) = store.raise_alert(&firing(11, "{}")).expect("raise");
    assert!(new && third > second);

    let newest: Vec<i64> = store
        .alerts(10)
        .expect("alerts")
        .iter()
        .map(|a| a.id)
        .collect();
    assert_eq!(newest, vec![third, second, first]);
    assert_eq!(store.alerts(1).expect("alerts").len(), 1);
    assert!(store.alert(9_999).expect("read").is_none());

    assert!(store.remove_alert_rule(other, 30 * HOUR).expect("remove"));
    assert!(!store.remove_alert_rule(other, 31 * HOUR).expect("again"));
    assert_eq!(store.alert_rules().expect("rules").len(), 1);
    assert!(
        !store
            .claim_alert_check(other, None, HOUR)
            .expect("a removed rule is not checked")
    );
}

fn plans_are_kept_and_changed_only_on_the_revision_read<S: crate::Plans>(store: &S) {
    use crate::plans::{PlanKind, PlanText};
    let text = PlanText {
        title: "Pre-approval form is hard to find".into(),
        owner: "olivia".into(),
        status: "open".into(),
        body: r#"{"links":[]}"#.into(),
    };
    let a = store
        .add_plan(PlanKind::Opportunity, &text, "maria", HOUR)
        .expect("add");
    let b = store
        .add_plan(PlanKind::Initiative, &text, "maria", 2 * HOUR)
        .expect("add");
    assert_ne!(a, b);
    let kept = store.plan(a).expect("read").expect("kept");
    assert_eq!(
        (
            kept.kind,
            &kept.text,
            kept.revision,
            kept.created_by.as_str(),
            kept.created_us
        ),
        (PlanKind::Opportunity, &text, 1, "maria", HOUR)
    );
    assert_eq!(
        store
            .plans(PlanKind::Opportunity)
            .expect("list")
            .iter()
            .map(|p| p.id)
            .collect::<Vec<_>>(),
        vec![a],
        "listed by kind"
    );
    let mut changed = text.clone();
    changed.status = "planned".into();
    assert!(
        store
            .change_plan(a, 1, &changed, "olivia", 3 * HOUR)
            .expect("change")
    );
    assert!(
        !store
            .change_plan(a, 1, &text, "maria", 4 * HOUR)
            .expect("stale"),
        "a change made on an old revision is refused"
    );
    assert!(
        !store
            .change_plan(999, 1, &text, "maria", 4 * HOUR)
            .expect("none")
    );
    let kept = store.plan(a).expect("read").expect("kept");
    assert_eq!(
        (
            &kept.text,
            kept.revision,
            kept.updated_by.as_str(),
            kept.updated_us
        ),
        (&changed, 2, "olivia", 3 * HOUR)
    );
    assert_eq!(store.plan(999).expect("read"), None);
}

fn a_person_is_asked_for_feedback_at_most_once_in_a_while<S: crate::SurveyAsks>(store: &S) {
    let day = 24 * HOUR;
    assert_eq!(
        store.ask_survey("u1", "a", 0, 30 * day).expect("ask"),
        None,
        "first ask"
    );
    assert_eq!(
        store.ask_survey("u1", "a", day, 30 * day).expect("again"),
        None,
        "the same ask again (an email sent again) is taken, and does not move the last ask"
    );
    assert_eq!(
        store
            .ask_survey("u1", "b", 29 * day, 30 * day)
            .expect("too soon"),
        Some(0),
        "another ask within 30 days is not; it says when the last was"
    );
    assert_eq!(
        store
            .ask_survey("u2", "b", 29 * day, 30 * day)
            .expect("other"),
        None
    );
    assert_eq!(
        store
            .ask_survey("u1", "c", 31 * day, 30 * day)
            .expect("later"),
        None
    );
    assert_eq!(
        store
            .ask_survey("u1", "a", 32 * day, 30 * day)
            .expect("old key"),
        Some(31 * day)
    );
}

fn a_proposal_is_published_only_on_the_version_it_was_proposed_on<
    S: Journeys + crate::Proposals,
>(
    store: &S,
) {
    use crate::proposals::{NewProposal, ProposalStatus, Publishing};
    store
        .deploy_journey("claims", "as-is", "id: claims", HOUR)
        .expect("as-is");
    let propose = |source: &str, base: i64, at: i64| {
        store
            .propose_journey(&NewProposal {
                journey: "claims".into(),
                label: "to-be".into(),
                source: source.into(),
                base,
                by: "olivia".into(),
                at_us: at,
            })
            .expect("propose")
    };
    let (first, withdrawn) = propose("id: claims\nversion: to-be", 1, 2 * HOUR);
    assert!(withdrawn.is_empty());
    assert_eq!(
        store.journeys().expect("list")[0].version,
        1,
        "a proposal is not a version"
    );
    // A newer proposal withdraws the one waiting.
    let (second, withdrawn) = propose("id: claims\nversion: to-be\n# 2", 1, 3 * HOUR);
    assert_eq!(withdrawn.len(), 1);
    assert_eq!(
        (
            withdrawn[0].id,
            withdrawn[0].status,
            withdrawn[0].note.clone()
        ),
        (
            first,
            ProposalStatus::Withdrawn,
            Some(format!("replaced by proposal {second}"))
        )
    );
    store.attach_request(second, 77).expect("attach");
    let kept = store.proposal(second).expect("read").expect("kept");
    assert_eq!(
        (
            kept.request,
            kept.status,
            kept.base,
            kept.proposed_by.as_str(),
            kept.proposed_us
        ),
        (Some(77), ProposalStatus::Waiting, 1, "olivia", 3 * HOUR)
    );
    assert_eq!(
        store
            .publish_proposal(first, "hana", 4 * HOUR)
            .expect("publish"),
        Publishing::Settled(ProposalStatus::Withdrawn)
    );
    assert_eq!(
        store
            .publish_proposal(second, "hana", 4 * HOUR)
            .expect("publish"),
        Publishing::Published {
            version: 2,
            fresh: true
        }
    );
    assert_eq!(
        store
            .publish_proposal(second, "hana", 5 * HOUR)
            .expect("again"),
        Publishing::Published {
            version: 2,
            fresh: false
        },
        "publishing twice (a retry) keeps one version"
    );
    let current = store
        .journey("claims", None)
        .expect("read")
        .expect("current");
    assert_eq!(
        (current.version, current.label.as_str(), current.deployed_us),
        (2, "to-be", 4 * HOUR)
    );
    // Proposed on version 2, but version 3 came first: stale, nothing deployed.
    let (third, _) = propose("id: claims\nversion: to-be\n# 3", 2, 6 * HOUR);
    store
        .deploy_journey("claims", "as-is", "id: claims\n# fixed", 7 * HOUR)
        .expect("v3");
    assert_eq!(
        store
            .publish_proposal(third, "hana", 8 * HOUR)
            .expect("stale"),
        Publishing::Stale { latest: 3 }
    );
    let stale = store.proposal(third).expect("read").expect("kept");
    assert_eq!(stale.status, ProposalStatus::Stale);
    assert_eq!(store.journey_versions("claims").expect("versions").len(), 3);
    // Sent back: only while waiting.
    let (fourth, _) = propose("id: claims\nversion: to-be\n# 4", 3, 9 * HOUR);
    assert!(
        store
            .settle_proposal(
                fourth,
                ProposalStatus::SentBack,
                "hana",
                Some("say how they find out"),
                10 * HOUR
            )
            .expect("send back")
    );
    assert!(
        !store
            .settle_proposal(fourth, ProposalStatus::Withdrawn, "olivia", None, 11 * HOUR)
            .expect("again")
    );
    let back = store.proposal(fourth).expect("read").expect("kept");
    assert_eq!(
        (
            back.status,
            back.decided_by.as_deref(),
            back.decided_us,
            back.note.as_deref()
        ),
        (
            ProposalStatus::SentBack,
            Some("hana"),
            Some(10 * HOUR),
            Some("say how they find out")
        )
    );
    let listed: Vec<i64> = store
        .proposals(Some("claims"), 10)
        .expect("list")
        .iter()
        .map(|p| p.id)
        .collect();
    assert_eq!(listed, vec![fourth, third, second, first], "newest first");
    assert_eq!(store.proposals(None, 2).expect("all").len(), 2);
    assert!(store.proposals(Some("other"), 10).expect("none").is_empty());
    assert_eq!(store.proposal(999).expect("read"), None);
    assert_eq!(
        store
            .publish_proposal(999, "hana", 12 * HOUR)
            .expect("missing"),
        Publishing::Missing
    );
}

/// Two nodes settling one decided change at once: one publishes it, the other finds it published
/// (never stale, never a second version).
fn a_proposal_published_twice_at_once_is_published_once<S: Journeys + crate::Proposals>(store: &S) {
    use crate::proposals::{NewProposal, Publishing};
    for round in 0..8 {
        let journey = format!("race-{round}");
        store
            .deploy_journey(&journey, "as-is", "id: race", HOUR)
            .expect("as-is");
        let (id, _) = store
            .propose_journey(&NewProposal {
                journey: journey.clone(),
                label: "to-be".into(),
                source: "id: race\nversion: to-be".into(),
                base: 1,
                by: "olivia".into(),
                at_us: 2 * HOUR,
            })
            .expect("propose");
        let barrier = std::sync::Barrier::new(2);
        let results: Vec<Publishing> = std::thread::scope(|scope| {
            let racers: Vec<_> = (0..2)
                .map(|_| {
                    scope.spawn(|| {
                        barrier.wait();
                        store
                            .publish_proposal(id, "hana", 3 * HOUR)
                            .expect("publish")
                    })
                })
                .collect();
            racers
                .into_iter()
                .map(|r| r.join().expect("racer"))
                .collect()
        });
        let fresh = results
            .iter()
            .filter(|r| matches!(r, Publishing::Published { fresh: true, .. }))
            .count();
        assert_eq!(fresh, 1, "{results:?}");
        assert!(
            results
                .iter()
                .all(|r| matches!(r, Publishing::Published { version: 2, .. })),
            "{results:?}"
        );
        assert_eq!(store.journey_versions(&journey).expect("versions").len(), 2);
    }
}
