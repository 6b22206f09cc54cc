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

/// Writes a duration compactly so that [`parse`] reads it back exactly, e.g. `1d 2h 30m`.
pub fn format(duration: Duration) -> String {
    if duration.is_zero() {
        return "0s".to_string();
    }
    let seconds = duration.as_secs();
    let nanos = u64::from(duration.subsec_nanos());
    let parts = [
        (seconds / 86_400, "d"),
        (seconds / 3_600 % 24, "h"),
        (seconds / 60 % 60, "m"),
        (seconds % 60, "s"),
        (nanos / 1_000_000, "ms"),
        (nanos / 1_000 % 1_000, "us"),
        (nanos % 1_000, "ns"),
    ];
    let words: Vec<String> = parts
        .iter()
        .filter(|(value, _)| *value > 0)
        .map(|(value, unit)| format!("{value}{unit}"))
        .collect();
    words.join(" ")
}

/// A measured time in seconds, rounded to one unit for reading at a glance: `45s`, `12m`,
/// `3.5h`, `2.1d`.
pub fn format_seconds(seconds: f64) -> String {
    let s = seconds.abs();
    if s < 60.0 {
        format!("{seconds:.0}s")
    } else if s < 3_600.0 {
        format!("{:.0}m", seconds / 60.0)
    } else if s < 86_400.0 {
        format!("{:.1}h", seconds / 3_600.0)
    } else {
        format!("{:.1}d", seconds / 86_400.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_compactly_and_reads_back() {
        for (seconds, text) in [
            (0, "0s"),
            (90, "1m 30s"),
            (3 * 86_400 + 3_600, "3d 1h"),
            (600, "10m"),
        ] {
            let duration = Duration::from_secs(seconds);
            assert_eq!(format(duration), text);
            assert_eq!(parse(text), Ok(duration));
        }
        let odd = Duration::new(86_399, 1_002_003);
        assert_eq!(parse(&format(odd)), Ok(odd));
    }

    #[test]
    fn rejects_numbers_without_units_and_nonsense() {
        assert!(parse("15").is_err());
        assert!(parse("").is_err());
        assert!(parse("two days").is_err());
    }
}
