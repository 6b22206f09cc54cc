//! Parquet export: one row per event, typed columns, Snappy-compressed row groups.
//!
//! Columns: `case_id`, `activity`, `timestamp` (µs, UTC), then every event attribute with the
//! Parquet type of its values (text when they mix types), then case attributes as `case:KEY`.
//! Nested attributes (lists, containers) are left out, as in CSV.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;

use parquet::basic::{Compression, LogicalType, Repetition, TimeUnit, Type as PhysicalType};
use parquet::data_type::{BoolType, ByteArray, ByteArrayType, DoubleType, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::Type as SchemaType;

use crate::log::{Attribute, CONCEPT_NAME, EventLog, Symbol, TIME_TIMESTAMP, Value};

const ROW_GROUP: usize = 1 << 20;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Text,
    Int,
    Float,
    Boolean,
    Date,
}

impl Kind {
    fn of(value: &Value) -> Option<Kind> {
        Some(match value {
            Value::String(_) | Value::Id(_) => Kind::Text,
            Value::Int(_) => Kind::Int,
            Value::Float(_) => Kind::Float,
            Value::Boolean(_) => Kind::Boolean,
            Value::Date(_) => Kind::Date,
            Value::List | Value::Container => return None,
        })
    }

    fn physical(self) -> PhysicalType {
        match self {
            Kind::Text => PhysicalType::BYTE_ARRAY,
            Kind::Int | Kind::Date => PhysicalType::INT64,
            Kind::Float => PhysicalType::DOUBLE,
            Kind::Boolean => PhysicalType::BOOLEAN,
        }
    }

    fn logical(self) -> Option<LogicalType> {
        match self {
            Kind::Text => Some(LogicalType::String),
            Kind::Date => Some(LogicalType::timestamp(true, TimeUnit::MICROS)),
            _ => None,
        }
    }
}

fn field(name: &str, kind: Kind, repetition: Repetition) -> std::io::Result<Arc<SchemaType>> {
    SchemaType::primitive_type_builder(name, kind.physical())
        .with_repetition(repetition)
        .with_logical_type(kind.logical())
        .build()
        .map(Arc::new)
        .map_err(io_error)
}

/// One output column: where its values come from and their type.
struct Column {
    name: String,
    key: Symbol,
    case: bool,
    kind: Kind,
}

fn io_error(error: parquet::errors::ParquetError) -> std::io::Error {
    std::io::Error::other(error.to_string())
}

/// Writes a log as Parquet.
pub fn write<W: Write + Send>(log: &EventLog, out: W) -> std::io::Result<()> {
    let concept = log.symbol(CONCEPT_NAME);
    let time = log.symbol(TIME_TIMESTAMP);
    let mut kinds: Vec<(Symbol, bool, Option<Kind>)> = Vec::new();
    let mut index: HashMap<(Symbol, bool), usize> = HashMap::new();
    let mut note = |attributes: &[Attribute], case: bool| {
        for a in attributes {
            if Some(a.key) == concept || (!case && Some(a.key) == time) {
                continue;
            }
            let Some(kind) = Kind::of(&a.value) else {
                continue;
            };
            let slot = *index.entry((a.key, case)).or_insert_with(|| {
                kinds.push((a.key, case, Some(kind)));
                kinds.len() - 1
            });
            if kinds[slot].2 != Some(kind) {
                kinds[slot].2 = Some(Kind::Text);
            }
        }
    };
    for case in log.iter_cases() {
        note(case.attributes(), true);
        for event in case.events() {
            note(log.event_attributes(event), false);
        }
    }
    let mut taken: Vec<String> = vec!["case_id".into(), "activity".into(), "timestamp".into()];
    // Parquet column names may hold any character; only duplicates need renaming.
    let columns: Vec<Column> = kinds
        .into_iter()
        .map(|(key, case, kind)| {
            let base = if case {
                format!("case:{}", log.resolve(key))
            } else {
                log.resolve(key).to_string()
            };
            let mut name = base.clone();
            let mut n = 2;
            while taken.contains(&name) {
                name = format!("{base}_{n}");
                n += 1;
            }
            taken.push(name.clone());
            Column {
                name,
                key,
                case,
                kind: kind.unwrap_or(Kind::Text),
            }
        })
        .collect();

    let mut fields = vec![
        field("case_id", Kind::Text, Repetition::REQUIRED)?,
        field("activity", Kind::Text, Repetition::REQUIRED)?,
        field("timestamp", Kind::Date, Repetition::OPTIONAL)?,
    ];
    for column in &columns {
        fields.push(field(&column.name, column.kind, Repetition::OPTIONAL)?);
    }
    let schema = Arc::new(
        SchemaType::group_type_builder("event")
            .with_fields(fields)
            .build()
            .map_err(io_error)?,
    );
    let properties = Arc::new(
        WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .build(),
    );
    let mut writer = SerializedFileWriter::new(out, schema, properties).map_err(io_error)?;

    // Event i of the log belongs to case `owner[i]`.
    let mut owner = vec![0u32; log.events()];
    for case in log.iter_cases() {
        for event in case.events() {
            owner[event] = case.index() as u32;
        }
    }
    let mut start = 0;
    while start < log.events() {
        let end = (start + ROW_GROUP).min(log.events());
        let events = start..end;
        let mut row_group = writer.next_row_group().map_err(io_error)?;
        let mut column_index = 0;
        while let Some(mut column) = row_group.next_column().map_err(io_error)? {
            match column_index {
                0 | 1 => {
                    let values: Vec<ByteArray> = events
                        .clone()
                        .map(|e| {
                            let text = if column_index == 0 {
                                log.case(owner[e] as usize).name()
                            } else {
                                log.resolve(log.activity_column()[e])
                            };
                            ByteArray::from(text)
                        })
                        .collect();
                    column
                        .typed::<ByteArrayType>()
                        .write_batch(&values, None, None)
                        .map_err(io_error)?;
                }
                2 => {
                    let times = &log.time_column()[events.clone()];
                    let levels: Vec<i16> = times
                        .iter()
                        .map(|&t| i16::from(t != crate::log::NO_TIME))
                        .collect();
                    let values: Vec<i64> = times
                        .iter()
                        .copied()
                        .filter(|&t| t != crate::log::NO_TIME)
                        .collect();
                    column
                        .typed::<Int64Type>()
                        .write_batch(&values, Some(&levels), None)
                        .map_err(io_error)?;
                }
                i => {
                    let spec = &columns[i - 3];
                    let values: Vec<Option<&Value>> = events
                        .clone()
                        .map(|e| {
                            let attributes = if spec.case {
                                log.case(owner[e] as usize).attributes()
                            } else {
                                log.event_attributes(e)
                            };
                            attributes
                                .iter()
                                .find(|a| a.key == spec.key)
                                .map(|a| &a.value)
                        })
                        .collect();
                    let levels: Vec<i16> = values.iter().map(|v| i16::from(v.is_some())).collect();
                    let present = values.iter().flatten();
                    match spec.kind {
                        Kind::Text => {
                            let data: Vec<ByteArray> = present
                                .map(|v| ByteArray::from(log.value_text(v).as_str()))
                                .collect();
                            column
                                .typed::<ByteArrayType>()
                                .write_batch(&data, Some(&levels), None)
                        }
                        Kind::Int | Kind::Date => {
                            let data: Vec<i64> = present
                                .map(|v| match v {
                                    Value::Int(i) | Value::Date(i) => *i,
                                    _ => 0,
                                })
                                .collect();
                            column
                                .typed::<Int64Type>()
                                .write_batch(&data, Some(&levels), None)
                        }
                        Kind::Float => {
                            let data: Vec<f64> = present
                                .map(|v| {
                                    if let Value::Float(f) = v {
                                        *f
                                    } else {
                                        f64::NAN
                                    }
                                })
                                .collect();
                            column
                                .typed::<DoubleType>()
                                .write_batch(&data, Some(&levels), None)
                        }
                        Kind::Boolean => {
                            let data: Vec<bool> =
                                present.map(|v| matches!(v, Value::Boolean(true))).collect();
                            column
                                .typed::<BoolType>()
                                .write_batch(&data, Some(&levels), None)
                        }
                    }
                    .map_err(io_error)?;
                }
            }
            column.close().map_err(io_error)?;
            column_index += 1;
        }
        row_group.close().map_err(io_error)?;
        start = end;
    }
    writer.close().map_err(io_error)?;
    Ok(())
}
