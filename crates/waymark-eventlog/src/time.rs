//! Timestamps: parsing the formats event logs use, and writing them back.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};

use crate::log::{Micros, NO_TIME};

/// A timestamp format found in a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeFormat {
    /// ISO 8601 / RFC 3339, with or without a zone (no zone means UTC), `T` or space between date
    /// and time, optional fractional seconds.
    Iso8601,
    /// `YYYY/MM/DD HH:MM:SS[.fff]`, UTC.
    SlashDateTime,
    /// `YYYY-MM-DD` or `YYYY/MM/DD`, at midnight UTC.
    DateOnly,
    /// Seconds since the Unix epoch.
    EpochSeconds,
    /// Milliseconds since the Unix epoch.
    EpochMillis,
}

impl TimeFormat {
    pub fn describe(self) -> &'static str {
        match self {
            TimeFormat::Iso8601 => "ISO 8601 (2024-05-01T13:45:00+02:00)",
            TimeFormat::SlashDateTime => "YYYY/MM/DD HH:MM:SS.fff",
            TimeFormat::DateOnly => "a date (YYYY-MM-DD)",
            TimeFormat::EpochSeconds => "seconds since 1970",
            TimeFormat::EpochMillis => "milliseconds since 1970",
        }
    }

    pub fn parse(self, text: &str) -> Option<Micros> {
        let text = text.trim();
        match self {
            TimeFormat::Iso8601 => parse_iso8601(text),
            TimeFormat::SlashDateTime => {
                NaiveDateTime::parse_from_str(text, "%Y/%m/%d %H:%M:%S%.f")
                    .ok()
                    .map(|dt| dt.and_utc().timestamp_micros())
            }
            TimeFormat::DateOnly => NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .or_else(|_| NaiveDate::parse_from_str(text, "%Y/%m/%d"))
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|dt| dt.and_utc().timestamp_micros()),
            TimeFormat::EpochSeconds => parse_epoch(text, 1_000_000),
            TimeFormat::EpochMillis => parse_epoch(text, 1_000),
        }
    }

    /// The format that reads the most samples (the more specific one on a tie), or `None` when
    /// no format reads any. A few bad values do not hide the file's format; they are reported
    /// row by row when read.
    pub fn detect<'a>(samples: impl IntoIterator<Item = &'a str> + Clone) -> Option<TimeFormat> {
        let candidates = [
            TimeFormat::Iso8601,
            TimeFormat::SlashDateTime,
            TimeFormat::DateOnly,
            TimeFormat::EpochMillis,
            TimeFormat::EpochSeconds,
        ];
        let score = |format: TimeFormat| {
            samples
                .clone()
                .into_iter()
                .filter(|s| !s.trim().is_empty())
                .filter(|sample| match format {
                    // Epoch values: 12 digits or more are milliseconds, up to 11 are seconds.
                    TimeFormat::EpochMillis => {
                        digits(sample) >= 12 && format.parse(sample).is_some()
                    }
                    TimeFormat::EpochSeconds => {
                        digits(sample) <= 11 && format.parse(sample).is_some()
                    }
                    _ => format.parse(sample).is_some(),
                })
                .count()
        };
        let mut best: Option<(TimeFormat, usize)> = None;
        for format in candidates {
            let count = score(format);
            if count > 0 && best.is_none_or(|(_, most)| count > most) {
                best = Some((format, count));
            }
        }
        best.map(|(format, _)| format)
    }
}

fn digits(text: &str) -> usize {
    text.trim()
        .split('.')
        .next()
        .unwrap_or("")
        .trim_start_matches('-')
        .len()
}

fn parse_epoch(text: &str, scale: i64) -> Option<Micros> {
    if let Ok(whole) = text.parse::<i64>() {
        return whole.checked_mul(scale);
    }
    let value: f64 = text.parse().ok()?;
    value
        .is_finite()
        .then(|| (value * scale as f64).round() as i64)
}

/// Parses ISO 8601 / RFC 3339. A missing zone means UTC.
pub fn parse_iso8601(text: &str) -> Option<Micros> {
    if let Ok(dt) = DateTime::parse_from_rfc3339(text) {
        return Some(dt.timestamp_micros());
    }
    // Zones written without a colon (+0100), or a space instead of `T`.
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f%z",
        "%Y-%m-%d %H:%M:%S%.f%z",
        "%Y-%m-%d %H:%M:%S%.f%:z",
    ] {
        if let Ok(dt) = DateTime::parse_from_str(text, format) {
            return Some(dt.timestamp_micros());
        }
    }
    let naive = text.strip_suffix('Z').unwrap_or(text);
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(naive, format) {
            return Some(dt.and_utc().timestamp_micros());
        }
    }
    None
}

/// Parses a time bound as people write one: ISO 8601, or a date (its midnight, UTC).
pub fn parse_bound(text: &str) -> Option<Micros> {
    parse_iso8601(text).or_else(|| TimeFormat::DateOnly.parse(text))
}

/// Writes a timestamp as RFC 3339 in UTC with milliseconds (or microseconds when needed).
pub fn format_micros(micros: Micros) -> String {
    if micros == NO_TIME {
        return String::new();
    }
    match Utc.timestamp_micros(micros).single() {
        Some(dt) if micros % 1000 == 0 => dt.format("%Y-%m-%dT%H:%M:%S%.3f+00:00").to_string(),
        Some(dt) => dt.format("%Y-%m-%dT%H:%M:%S%.6f+00:00").to_string(),
        None => micros.to_string(),
    }
}

/// Writes a float so that it reads back exactly.
pub fn format_float(value: f64) -> String {
    format!("{value:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_with_and_without_zone() {
        let with = parse_iso8601("2010-12-30T14:32:00.000+01:00");
        let utc = parse_iso8601("2010-12-30T13:32:00Z");
        let naive = parse_iso8601("2010-12-30T13:32:00");
        assert_eq!(with, utc);
        assert_eq!(utc, naive);
        assert_eq!(
            parse_iso8601("2010-12-30 13:32:00.5+0000"),
            utc.map(|u| u + 500_000)
        );
    }

    #[test]
    fn detects_each_format() {
        assert_eq!(
            TimeFormat::detect(["2014/10/22 11:15:41.000"]),
            Some(TimeFormat::SlashDateTime)
        );
        assert_eq!(
            TimeFormat::detect(["2014-10-22T11:15:41+02:00", ""]),
            Some(TimeFormat::Iso8601)
        );
        assert_eq!(
            TimeFormat::detect(["2014-10-22"]),
            Some(TimeFormat::DateOnly)
        );
        assert_eq!(
            TimeFormat::detect(["1413976541"]),
            Some(TimeFormat::EpochSeconds)
        );
        assert_eq!(
            TimeFormat::detect(["1413976541000"]),
            Some(TimeFormat::EpochMillis)
        );
        assert_eq!(TimeFormat::detect(["yesterday"]), None);
        assert_eq!(
            TimeFormat::EpochMillis.parse("1413976541000"),
            TimeFormat::EpochSeconds.parse("1413976541")
        );
    }

    #[test]
    fn formats_read_back() {
        let t = parse_iso8601("2011-10-01T00:38:44.546+02:00").expect("time");
        assert_eq!(parse_iso8601(&format_micros(t)), Some(t));
        let odd = t + 7;
        assert_eq!(parse_iso8601(&format_micros(odd)), Some(odd));
    }
}
