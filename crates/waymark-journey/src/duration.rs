//! Target durations as people write them: `30s`, `15m`, `2h`, `3d`, `1w`, `1h 30m`.

use std::time::Duration;

/// Parses a duration such as `15m`, `2h`, `3d`, `1w` or `1h 30m`.
pub fn parse(text: &str) -> Result<Duration, String> {
    if text.is_empty() {
        return Err("it is empty".to_string());
    }
    if text.chars().all(|c| c.is_ascii_digit()) {
        return Err("it has no unit".to_string());
    }
    humantime::parse_duration(text).map_err(|error| error.to_string())
}

/// Writes a duration so that [`parse`] reads it back exactly, e.g. `1h 30m`.
pub fn format(duration: Duration) -> String {
    if duration.is_zero() {
        return "0s".to_string();
    }
    humantime::format_duration(duration).to_string()
}
