//! CSV event logs: one event per row, with a case, an activity and a timestamp column.

use std::io::{BufRead, Write};

use crate::builder::LogBuilder;
use crate::error::{Place, ReadError};
use crate::log::{Attribute, CONCEPT_NAME, EventLog, TIME_TIMESTAMP, Value};
use crate::time::TimeFormat;
use crate::{ReadOptions, ReadOutcome};

/// Which columns hold the case, the activity and the timestamp. `None` uses the defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Columns {
    pub case: Option<String>,
    pub activity: Option<String>,
    pub timestamp: Option<String>,
}

const CASE_DEFAULTS: &[&str] = &[
    "case_id",
    "case:concept:name",
    "Case ID",
    "CaseID",
    "case",
    "case id",
    "caseid",
];
const ACTIVITY_DEFAULTS: &[&str] = &[
    "activity",
    "concept:name",
    "Activity",
    "activity_name",
    "Activity Name",
    "event",
    "Event",
];
const TIMESTAMP_DEFAULTS: &[&str] = &[
    "timestamp",
    "time:timestamp",
    "Complete Timestamp",
    "Timestamp",
    "time",
    "complete_timestamp",
    "end_timestamp",
    "Start Timestamp",
];

/// The delimiter used in the header line: the most frequent of `,` `;` tab and `|`.
fn detect_delimiter(header: &str) -> u8 {
    [b',', b';', b'\t', b'|']
        .into_iter()
        .max_by_key(|&d| header.bytes().filter(|&b| b == d).count())
        .unwrap_or(b',')
}

fn find_column(
    headers: &[String],
    wanted: Option<&str>,
    defaults: &[&str],
    role: &str,
    file: &str,
) -> Result<usize, ReadError> {
    let listed = || {
        headers
            .iter()
            .map(|h| format!("`{h}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if let Some(name) = wanted {
        return headers.iter().position(|h| h == name).ok_or_else(|| {
            ReadError::new(
                file,
                Some(Place {
                    line: 1,
                    column: None,
                }),
                format!("there is no column `{name}` for the {role}"),
            )
            .with_hint(format!("the columns are {}", listed()))
        });
    }
    for default in defaults {
        if let Some(index) = headers.iter().position(|h| h == default) {
            return Ok(index);
        }
    }
    for default in defaults {
        if let Some(index) = headers.iter().position(|h| h.eq_ignore_ascii_case(default)) {
            return Ok(index);
        }
    }
    Err(ReadError::new(
        file,
        Some(Place {
            line: 1,
            column: None,
        }),
        format!("no column holds the {role}"),
    )
    .with_hint(format!(
        "name it with --{role} COLUMN; the columns are {}",
        listed()
    )))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ColumnType {
    Int,
    Float,
    Boolean,
    Text,
}

fn infer(samples: &[&str]) -> ColumnType {
    let values: Vec<&str> = samples.iter().copied().filter(|s| !s.is_empty()).collect();
    if values.is_empty() {
        return ColumnType::Text;
    }
    if values.iter().all(|v| v.parse::<i64>().is_ok()) {
        ColumnType::Int
    } else if values.iter().all(|v| v.parse::<f64>().is_ok()) {
        ColumnType::Float
    } else if values
        .iter()
        .all(|v| matches!(v.to_ascii_lowercase().as_str(), "true" | "false"))
    {
        ColumnType::Boolean
    } else {
        ColumnType::Text
    }
}

/// Reads a CSV log.
pub fn read<R: BufRead>(mut reader: R, options: &ReadOptions) -> Result<ReadOutcome, ReadError> {
    let file = options.file.as_str();
    let mut header = String::new();
    reader.read_line(&mut header).map_err(|e| {
        ReadError::io(
            file,
            Some(Place {
                line: 1,
                column: None,
            }),
            &e,
        )
    })?;
    if header.trim().is_empty() {
        return Err(ReadError::new(
            file,
            Some(Place {
                line: 1,
                column: None,
            }),
            "the CSV file is empty: no header line",
        )
        .with_hint("the first line names the columns, e.g. case_id,activity,timestamp"));
    }
    let delimiter = detect_delimiter(&header);
    let header_reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .from_reader(header.as_bytes());
    let headers: Vec<String> = header_reader
        .into_records()
        .next()
        .and_then(Result::ok)
        .map(|r| {
            r.iter()
                .map(|h| h.trim_start_matches('\u{feff}').to_string())
                .collect()
        })
        .unwrap_or_default();
    let case_col = find_column(
        &headers,
        options.columns.case.as_deref(),
        CASE_DEFAULTS,
        "case",
        file,
    )?;
    let activity_col = find_column(
        &headers,
        options.columns.activity.as_deref(),
        ACTIVITY_DEFAULTS,
        "activity",
        file,
    )?;
    let time_col = find_column(
        &headers,
        options.columns.timestamp.as_deref(),
        TIMESTAMP_DEFAULTS,
        "timestamp",
        file,
    )?;

    let mut rows = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .from_reader(reader);
    let mut records = rows.records();
    // Look at the first rows to find the timestamp format and each column's type.
    let mut sample = Vec::new();
    for record in records.by_ref().take(1000) {
        sample.push(record);
    }
    let ok: Vec<&csv::StringRecord> = sample.iter().filter_map(|r| r.as_ref().ok()).collect();
    let times: Vec<&str> = ok
        .iter()
        .filter_map(|r| r.get(time_col))
        .filter(|v| !v.is_empty())
        .take(200)
        .collect();
    let format = TimeFormat::detect(times.iter().copied()).ok_or_else(|| {
        ReadError::new(file, Some(Place { line: 2, column: None }), format!(
            "the timestamps in column `{}` are in no format Waymark knows (first value: `{}`)",
            headers[time_col],
            times.first().copied().unwrap_or("")
        ))
        .with_hint("use ISO 8601 (2024-05-01T13:45:00+02:00), YYYY/MM/DD HH:MM:SS, a date, or epoch seconds/milliseconds")
    })?;
    let types: Vec<ColumnType> = (0..headers.len())
        .map(|c| infer(&ok.iter().filter_map(|r| r.get(c)).collect::<Vec<_>>()))
        .collect();

    let mut builder = LogBuilder::new(options.activity_key.clone());
    let keys: Vec<_> = headers
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let name = if i == activity_col {
                CONCEPT_NAME
            } else if i == time_col {
                TIME_TIMESTAMP
            } else {
                h.strip_prefix("case:").unwrap_or(h)
            };
            builder.intern(name)
        })
        .collect();
    let concept = builder.intern(CONCEPT_NAME);
    let mut skipped = 0;
    let mut attributes = Vec::with_capacity(headers.len());
    for (index, record) in sample.into_iter().chain(records).enumerate() {
        let line = index + 2;
        let record = match record {
            Ok(record) => record,
            Err(error) => {
                if options.lenient {
                    skipped += 1;
                    continue;
                }
                let line = error.position().map_or(line, |p| p.line() as usize + 1);
                let message = match error.kind() {
                    csv::ErrorKind::UnequalLengths {
                        expected_len, len, ..
                    } => {
                        format!("this row has {len} fields, the header has {expected_len}")
                    }
                    csv::ErrorKind::Utf8 { .. } => "this row is not valid UTF-8".to_string(),
                    csv::ErrorKind::Io(io) => {
                        return Err(ReadError::io(file, Some(Place { line, column: None }), io));
                    }
                    _ => error.to_string(),
                };
                return Err(ReadError::new(file, Some(Place { line, column: None }), message)
                    .with_hint("check the quoting and the delimiter of this row, or pass --lenient to skip bad rows"));
            }
        };
        let line = record.position().map_or(line, |p| p.line() as usize + 1);
        if record.len() != headers.len() {
            if options.lenient {
                skipped += 1;
                continue;
            }
            return Err(ReadError::new(
                file,
                Some(Place { line, column: None }),
                format!("this row has {} fields, the header has {}", record.len(), headers.len()),
            )
            .with_hint("check the quoting and the delimiter of this row, or pass --lenient to skip bad rows"));
        }
        let problem = |column: usize, message: String| {
            ReadError::new(
                file,
                Some(Place {
                    line,
                    column: Some(column + 1),
                }),
                message,
            )
        };
        let case = record.get(case_col).unwrap_or("");
        let activity = record.get(activity_col).unwrap_or("");
        let time_text = record.get(time_col).unwrap_or("");
        // Only the empty string means missing: a case named `NA` is a case.
        let check = if case.is_empty() {
            Err(problem(
                case_col,
                format!("the case (column `{}`) is empty", headers[case_col]),
            ))
        } else if activity.is_empty() {
            Err(problem(
                activity_col,
                format!("the activity (column `{}`) is empty", headers[activity_col]),
            ))
        } else {
            format.parse(time_text).ok_or_else(|| {
                problem(
                    time_col,
                    format!(
                        "`{time_text}` is not a timestamp in the file's format, {}",
                        format.describe()
                    ),
                )
            })
        };
        let time = match check {
            Ok(time) => time,
            Err(_) if options.lenient => {
                skipped += 1;
                continue;
            }
            Err(error) => {
                return Err(error.with_hint("fix the row, or pass --lenient to skip bad rows"));
            }
        };
        let case_index = builder.case(case);
        attributes.clear();
        for (column, value) in record.iter().enumerate() {
            if value.is_empty() || column == case_col {
                continue;
            }
            let key = keys[column];
            let value = if column == time_col {
                Value::Date(time)
            } else if column == activity_col {
                builder.string(value)
            } else {
                match types.get(column) {
                    Some(ColumnType::Int) => value
                        .parse()
                        .map(Value::Int)
                        .unwrap_or_else(|_| builder.string(value)),
                    Some(ColumnType::Float) => value
                        .parse()
                        .map(Value::Float)
                        .unwrap_or_else(|_| builder.string(value)),
                    Some(ColumnType::Boolean) => match value.to_ascii_lowercase().as_str() {
                        "true" => Value::Boolean(true),
                        "false" => Value::Boolean(false),
                        _ => builder.string(value),
                    },
                    _ => builder.string(value),
                }
            };
            if headers[column].starts_with("case:") {
                builder.add_case_attribute(case_index, Attribute::new(key, value));
            } else {
                attributes.push(Attribute::new(key, value));
            }
        }
        let name = builder.string(case);
        builder.add_case_attribute(case_index, Attribute::new(concept, name));
        builder.push_event(case_index, time, attributes.drain(..));
    }
    Ok(ReadOutcome {
        log: builder.finish(),
        skipped,
    })
}

/// Writes a log as CSV: `case_id`, `activity`, `timestamp`, then every other event attribute
/// (nested attributes are left out), and case attributes as `case:KEY` columns.
pub fn write<W: Write>(log: &EventLog, out: W) -> std::io::Result<()> {
    let concept = log.symbol(CONCEPT_NAME);
    let time = log.symbol(TIME_TIMESTAMP);
    let mut event_keys = Vec::new();
    let mut case_keys = Vec::new();
    for case in log.iter_cases() {
        for a in case.attributes() {
            if Some(a.key) != concept && !case_keys.contains(&a.key) {
                case_keys.push(a.key);
            }
        }
        for event in case.events() {
            for a in log.event_attributes(event) {
                if Some(a.key) != concept && Some(a.key) != time && !event_keys.contains(&a.key) {
                    event_keys.push(a.key);
                }
            }
        }
    }
    let mut writer = csv::Writer::from_writer(out);
    let mut header = vec![
        "case_id".to_string(),
        "activity".to_string(),
        "timestamp".to_string(),
    ];
    header.extend(event_keys.iter().map(|k| log.resolve(*k).to_string()));
    header.extend(
        case_keys
            .iter()
            .map(|k| format!("case:{}", log.resolve(*k))),
    );
    writer.write_record(&header)?;
    let text = |attributes: &[Attribute], key| {
        attributes
            .iter()
            .find(|a| a.key == key)
            .filter(|a| !matches!(a.value, Value::List | Value::Container))
            .map(|a| log.value_text(&a.value))
            .unwrap_or_default()
    };
    for case in log.iter_cases() {
        for event in case.events() {
            let mut row = vec![
                case.name().to_string(),
                log.resolve(log.activity_column()[event]).to_string(),
                crate::time::format_micros(log.time_column()[event]),
            ];
            row.extend(
                event_keys
                    .iter()
                    .map(|&k| text(log.event_attributes(event), k)),
            );
            row.extend(case_keys.iter().map(|&k| text(case.attributes(), k)));
            writer.write_record(&row)?;
        }
    }
    writer.flush()
}
