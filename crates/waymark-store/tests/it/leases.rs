//! Leases (work one node at a time does for all) and the watermark, on every backend.

use std::sync::{Arc, Barrier};

use waymark_store::NewEvent;

const NAME: &str = "forward-events";
const LEASE: i64 = 10_000_000;

#[test]
fn a_lease_is_held_by_one_node_until_it_lapses_or_is_given_up() {
    for (backend, store) in waymark_store::testing::backends() {
        let take = |holder: &str, now: i64, progress: i64| {
            store
                .lease(NAME, holder, now, LEASE, progress)
                .unwrap_or_else(|error| panic!("{backend}: {error}"))
        };
        // The first to ask takes it, with its progress.
        let first = take("a", 1_000, 5);
        assert!(first.held_by("a"), "{backend}: {first:?}");
        assert_eq!((first.until_us, first.progress), (1_000 + LEASE, 5));
        // Another asking before it lapses reads it, and records nothing.
        let read = take("b", 2_000, 50);
        assert!(read.held_by("a"), "{backend}: {read:?}");
        assert_eq!(read.progress, 5, "{backend}: only the holder records");
        // The holder renews it; its progress only moves forward.
        let renewed = take("a", 3_000, 3);
        assert_eq!((renewed.until_us, renewed.progress), (3_000 + LEASE, 5));
        assert_eq!(take("a", 4_000, 9).progress, 9, "{backend}");
        // Once it lapsed, the next to ask takes it, and goes on from the recorded progress.
        let lapsed = take("b", 4_000 + LEASE, 0);
        assert!(lapsed.held_by("b"), "{backend}: {lapsed:?}");
        assert_eq!(lapsed.progress, 9, "{backend}");
        assert!(take("a", 5_000 + LEASE, 20).held_by("b"), "{backend}");
        // Given up, it is taken at once; given up by one who does not hold it, nothing moves.
        store.release(NAME, "a").expect("release");
        assert!(take("a", 6_000 + LEASE, 0).held_by("b"), "{backend}");
        store.release(NAME, "b").expect("release");
        let released = store.read_lease(NAME).expect("read").expect("a lease");
        assert_eq!(released.holder, "", "{backend}: nobody's");
        assert!(released.lapsed(0), "{backend}: {released:?}");
        let taken = take("a", 7_000 + LEASE, 0);
        assert!(taken.held_by("a"), "{backend}: {taken:?}");
        assert_eq!(taken.progress, 9, "{backend}: kept when given up");
        // Read as it stands, without being taken.
        assert_eq!(
            store.read_lease(NAME).expect("read"),
            Some(taken.clone()),
            "{backend}"
        );
        assert_eq!(store.read_lease("never taken").expect("read"), None);
        // Other work has a lease of its own.
        let other = store.lease("other", "b", 7_000, LEASE, 0).expect("lease");
        assert!(other.held_by("b"), "{backend}");
    }
}

/// Nodes asking at the same moment: exactly one of them holds it, and all agree on which.
#[test]
fn nodes_asking_at_once_agree_on_one_holder() {
    for (backend, store) in waymark_store::testing::backends() {
        let nodes = 8;
        let barrier = Arc::new(Barrier::new(nodes));
        let handles: Vec<_> = (0..nodes)
            .map(|node| {
                let (store, barrier) = (store.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    store
                        .lease(NAME, &format!("node-{node}"), 1_000, LEASE, node as i64)
                        .expect("lease")
                })
            })
            .collect();
        let seen: Vec<_> = handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect();
        let holder = &seen[0].holder;
        assert!(
            seen.iter().all(|lease| &lease.holder == holder),
            "{backend}: {seen:?}"
        );
        let winner: i64 = holder["node-".len()..].parse().expect("a node");
        assert!(
            seen.iter().all(|lease| lease.progress == winner),
            "{backend}"
        );
    }
}

fn event(id: &str, user: Option<&str>, anonymous: Option<&str>, at: i64) -> NewEvent {
    NewEvent {
        message_id: id.to_string(),
        kind: "track".to_string(),
        name: Some("Visited".to_string()),
        user_id: user.map(str::to_string),
        anonymous_id: anonymous.map(str::to_string),
        timestamp_us: at,
        received_us: at,
        body: format!(r#"{{"messageId":"{id}"}}"#),
    }
}

/// The watermark moves with every change the analyses read: an event, and an identity merge
/// (which a reader of the events alone would miss).
#[test]
fn the_watermark_moves_with_events_and_merges() {
    for (backend, store) in waymark_store::testing::backends() {
        let start = store.watermark().expect("watermark");
        assert_eq!(
            (start.seq, start.merge, start.block),
            (0, 0, 0),
            "{backend}"
        );
        store
            .append(vec![
                event("1", None, Some("visitor"), 1),
                event("2", Some("jennifer"), None, 2),
            ])
            .expect("append");
        let two = store.watermark().expect("watermark");
        assert_eq!(two.merge, 0, "{backend}: no merge yet");
        assert!(two.seq > start.seq, "{backend}");
        // The visitor turns out to be Jennifer: two profiles become one.
        store
            .append(vec![event("3", Some("jennifer"), Some("visitor"), 3)])
            .expect("append");
        let merged = store.watermark().expect("watermark");
        assert!(merged.merge > 0, "{backend}: {merged:?}");
        assert!(merged.seq > two.seq, "{backend}");
    }
}
