//! `POST /v1/import?format=xes|csv|jsonl|ocel-json|ocel-xml[&object_type=…]`: loads a log file
//! into the store with the engine's readers (admin token). Gzip files are recognised by their
//! content. Importing the same events again adds nothing.

use axum::Json;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use waymark_eventlog::{Format, ReadOptions};

use crate::{ApiError, AppState};

/// The largest file accepted in one request, as sent (compressed or not).
pub const MAX_IMPORT_BYTES: usize = 1 << 30;
/// The most a file may unpack to: a gzip bomb is refused, not decompressed without end.
pub const MAX_UNPACKED_BYTES: u64 = 8 << 30;

/// What to do with a file too large for one request.
const TOO_LARGE: &str = "the upload is larger than 1 GiB, the most one request may send; compress it with gzip, split it, or import it with `waymark import FILE --db DB` beside the server";

/// The request body as a blocking reader, as it arrives: never held whole in memory, and
/// failing (not ending) after [`MAX_IMPORT_BYTES`].
fn streamed(body: Body) -> impl std::io::Read + Send {
    use futures_util::StreamExt as _;
    let mut sent = 0usize;
    let stream = body.into_data_stream().map(move |chunk| {
        let chunk = chunk.map_err(std::io::Error::other)?;
        sent += chunk.len();
        if sent > MAX_IMPORT_BYTES {
            return Err(std::io::Error::other(TOO_LARGE));
        }
        Ok(chunk)
    });
    tokio_util::io::SyncIoBridge::new(tokio_util::io::StreamReader::new(stream))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// `xes`, `csv`, `jsonl`, `ocel-json` or `ocel-xml`.
    format: Option<String>,
    /// OCEL only: the object type whose objects become the cases.
    object_type: Option<String>,
    /// CSV only: the case, activity and timestamp columns, when they cannot be guessed.
    case: Option<String>,
    activity: Option<String>,
    timestamp: Option<String>,
    /// Skip (and count) unusable events instead of refusing the file.
    #[serde(default)]
    lenient: bool,
}

/// What an import did.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct Imported {
    /// Events and cases in the file.
    events: usize,
    cases: usize,
    /// Events stored now, and events already stored before.
    inserted: usize,
    duplicates: usize,
    /// Events left out as unusable (lenient mode).
    skipped: usize,
}

fn format(name: Option<&str>) -> Result<Format, ApiError> {
    Ok(match name {
        Some("xes") => Format::Xes,
        Some("csv") => Format::Csv,
        Some("jsonl") => Format::Jsonl,
        Some("ocel-json") => Format::OcelJson,
        Some("ocel-xml") => Format::OcelXml,
        other => {
            return Err(ApiError::bad_request(
                "invalid_format",
                format!(
                    "`{}` is not a log format; use xes, csv, jsonl, ocel-json or ocel-xml",
                    other.unwrap_or("")
                ),
                "format",
            ));
        }
    })
}

/// Loads an event-log file into the store, each event as a track call of its case. Importing
/// the same events again adds nothing.
#[utoipa::path(
    post,
    path = "/v1/import",
    tag = "import",
    security(("admin_token" = [])),
    params(ImportQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "The file, up to 1 GiB, plain or gzip"),
    responses(
        (status = 200, description = "OK", body = Imported),
        (status = 400, description = "Unreadable file; `field` says where (line:column). An XES file is stored in runs of traces: `accepted` says how many events before the error were stored", body = crate::openapi::ErrorBody),
        (status = 401, description = "No valid token", body = crate::openapi::ErrorBody),
        (status = 403, description = "This key may not read", body = crate::openapi::ErrorBody),
        (status = 409, description = "The server keeps its events in ClickHouse (`--events`): import there with `waymark import FILE --events URL`", body = crate::openapi::ErrorBody),
    )
)]
pub async fn import(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<ImportQuery>,
    body: Body,
) -> Result<Json<Imported>, ApiError> {
    crate::access::require(&state, &headers, crate::access::Capability::Administer).await?;
    if state.events.is_some() {
        return Err(ApiError {
            status: StatusCode::CONFLICT,
            code: "events_elsewhere",
            message: "this server keeps its events in ClickHouse; import logs there with `waymark import FILE --events URL`".to_string(),
            field: None,
            accepted: None,
        });
    }
    let format = format(query.format.as_deref())?;
    if let Some(length) = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        && length > MAX_IMPORT_BYTES as u64
    {
        return Err(ApiError {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            code: "too_large",
            message: TOO_LARGE.to_string(),
            field: Some("Content-Length".into()),
            accepted: None,
        });
    }
    // Read as it arrives, on the blocking pool; pieces are stored while the next is read.
    let reader = streamed(body);
    let options = ReadOptions {
        max_bytes: Some(MAX_UNPACKED_BYTES),
        file: "upload".to_string(),
        lenient: query.lenient,
        object_type: query.object_type,
        columns: waymark_eventlog::csv::Columns {
            case: query.case,
            activity: query.activity,
            timestamp: query.timestamp,
        },
        ..Default::default()
    };
    let store = state.store.clone();
    let state_metrics = state.metrics.clone();
    tokio::task::spawn_blocking(move || {
        let imported = waymark_store::import_pieces(
            store.as_ref(),
            |piece| waymark_eventlog::read_pieces(reader, format, &options, piece),
            |_| {},
        );
        let imported = match imported {
            Ok(imported) => imported,
            Err(waymark_store::ImportError::Read { error, before }) => {
                state_metrics.appended(before.inserted, before.duplicates);
                return Err(ApiError {
                    status: StatusCode::BAD_REQUEST,
                    code: "invalid_log",
                    message: if before.inserted + before.duplicates > 0 {
                        format!(
                            "{error} ({} events before it were stored; importing the mended file adds only the rest)",
                            before.inserted
                        )
                    } else {
                        error.to_string()
                    },
                    field: error.place.map(|p| p.to_string()),
                    accepted: Some(before.inserted),
                });
            }
            Err(waymark_store::ImportError::Store(error)) => {
                return Err(ApiError::internal(&error));
            }
        };
        state_metrics.appended(imported.inserted, imported.duplicates);
        Ok::<_, ApiError>(Imported {
            events: imported.events,
            cases: imported.cases,
            inserted: imported.inserted,
            duplicates: imported.duplicates,
            skipped: imported.skipped,
        })
    })
    .await
    .map_err(|e| ApiError::internal(&e))?
    .map(Json)
}
