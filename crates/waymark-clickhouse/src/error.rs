//! What can go wrong talking to ClickHouse, each naming the node and saying what to do.

/// An error of the ClickHouse event store. Its text never holds a password.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the events URL cannot be read: {problem}\nhint: {hint}")]
    Location { problem: String, hint: &'static str },
    #[error(
        "ClickHouse at {node} cannot be reached: {reason}\nhint: check that the server runs and takes HTTP on that port (8123 by default)"
    )]
    Unreachable { node: String, reason: String },
    #[error("ClickHouse at {node} refused {what}: {message}")]
    Refused {
        node: String,
        what: String,
        /// ClickHouse's error code, when it gave one.
        code: Option<u32>,
        message: String,
    },
    #[error("ClickHouse at {node} answered what Waymark cannot read ({problem})")]
    Answer { node: String, problem: String },
    #[error(
        "the events database `{database}` has schema version {found}, newer than this Waymark ({known})\nhint: run the Waymark version that wrote it, or a newer one"
    )]
    Newer {
        database: String,
        found: u32,
        known: u32,
    },
    #[error("the state store could not be read: {message}")]
    Store { message: String },
    /// The options name a touchpoint the journey does not have (checked before any query).
    #[error(transparent)]
    Options(#[from] waymark_analytics::journey::UnknownTouchpoint),
    #[error("the journey cannot be measured: {message}")]
    Journey { message: String },
    #[error("{what} is not measured on ClickHouse yet\nhint: {hint}")]
    Unsupported { what: String, hint: String },
}

impl Error {
    /// Whether sending the same statement again may succeed (the node was unreachable, or
    /// ClickHouse said it is too busy or timed out).
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Unreachable { .. } => true,
            // 159 timeout, 202 too many simultaneous queries, 209 socket timeout,
            // 210 network error, 252 too many parts, 279 all connection tries failed.
            Error::Refused {
                code: Some(code), ..
            } => {
                matches!(code, 159 | 202 | 209 | 210 | 252 | 279)
            }
            _ => false,
        }
    }
}
