//! Feeds arbitrary bytes to the collection API's `/v1/batch` reader. It must never panic; what it
//! accepts must be storable (a person, a non-blank message id, a JSON object body, a known call
//! type, a track name); what it refuses must name the event (`/batch/N/...`) and be a 400.
#![no_main]

const KINDS: [&str; 6] = ["track", "identify", "page", "screen", "group", "alias"];

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    match waymark_server::parse_batch(data, 1_714_557_600_000_000) {
        Ok((events, rejected)) => {
            for event in &events {
                assert!(event.user_id.is_some() || event.anonymous_id.is_some());
                assert!(!event.message_id.trim().is_empty());
                assert!(KINDS.contains(&event.kind.as_str()), "{}", event.kind);
                assert!(event.kind != "track" || event.name.is_some());
                let body: serde_json::Value =
                    serde_json::from_str(&event.body).expect("the body is the event's JSON");
                assert!(body.is_object());
            }
            for error in &rejected {
                assert_eq!(error.status, 400);
                assert!(
                    error
                        .field
                        .as_deref()
                        .is_some_and(|f| f.starts_with("/batch/")),
                    "{error:?}"
                );
            }
        }
        Err(error) => assert_eq!(error.status, 400, "{error:?}"),
    }
});
