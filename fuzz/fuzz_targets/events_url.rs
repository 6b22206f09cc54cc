//! The events URL (`--events clickhouse://…`): reading never panics, a refusal carries its hint
//! and never the password, and a URL read is shown without its password and reads back to the
//! same nodes, database and cluster.
#![no_main]

use libfuzzer_sys::fuzz_target;
use waymark_clickhouse::Location;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Location::parse(text) {
        Err(error) => {
            let message = error.to_string();
            assert!(message.contains("hint: "), "{text:?}: {message}");
            // The password (after the user's `:`, before the last `@`) is never quoted. Checked
            // when it holds a `~` (no message's own words do), no backtick (the messages quote
            // the rest of the URL in backticks, so "`" and the rest's first letters would be
            // found there) and appears nowhere else in the URL.
            if let Some((userinfo, rest)) = text
                .strip_prefix("clickhouse://")
                .and_then(|r| r.rsplit_once('@'))
                && let Some((_, password)) = userinfo.split_once(':')
                && password.contains('~')
                && !password.contains('`')
                && !rest.contains(password)
            {
                assert!(!message.contains(password), "{text:?}: {message}");
            }
        }
        Ok(location) => {
            let shown = location.to_string();
            if location.password.is_some() {
                assert!(shown.contains(":***@"), "{text:?} shown as {shown:?}");
            }
            if location.password.is_none() {
                let again = Location::parse(&shown)
                    .unwrap_or_else(|e| panic!("{text:?} shown as {shown:?}: {e}"));
                assert_eq!(again.nodes, location.nodes, "{text:?}");
                assert_eq!(again.database, location.database, "{text:?}");
                assert_eq!(again.cluster, location.cluster, "{text:?}");
            }
        }
    }
});
