//! One ClickHouse node over its HTTP interface: statements in the body, settings in the URL, the
//! same text whatever the server's version (18.16 in Debian, current releases, chdb).

use std::io::{BufRead as _, BufReader};
use std::time::Duration;

use base64::Engine as _;

use crate::Error;

/// A node's HTTP interface, with the connection pool of its agent.
#[derive(Clone)]
pub(crate) struct Node {
    pub(crate) address: String,
    url: String,
    authorization: Option<String>,
    agent: ureq::Agent,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

/// Settings sent with every statement: 64-bit numbers as JSON numbers (quoted by default);
/// conditions on a view's grouping key pushed into the view (18.16 does not by default); a
/// grouping by person that outgrows 1 GiB spilled to disk rather than refused (every person's
/// events are grouped on their shard: at 50M events a shard, about 4 GiB in memory).
const COMMON: &[(&str, &str)] = &[
    ("output_format_json_quote_64bit_integers", "0"),
    ("enable_optimize_predicate_expression", "1"),
    ("max_bytes_before_external_group_by", "1073741824"),
    // A report's statement lists the store's activities: room for tens of thousands.
    ("max_query_size", "16777216"),
];

/// How long a write (an insert, a statement) may take: a server that stops answering must not
/// hold the events' forwarding, which then tries again.
const WRITE_TIMEOUT: Duration = Duration::from_secs(120);

impl Node {
    pub(crate) fn new(address: &str, user: Option<&str>, password: Option<&str>) -> Node {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            // Connecting is bounded; an answer is not (a report at 100M events streams for
            // minutes): a server that stops answering ends the connection, which ends the call.
            .timeout_connect(Some(Duration::from_secs(5)))
            .build()
            .into();
        let authorization = user.map(|user| {
            let pair = format!("{user}:{}", password.unwrap_or(""));
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            )
        });
        Node {
            address: address.to_string(),
            url: format!("http://{address}/"),
            authorization,
            agent,
        }
    }

    fn post(
        &self,
        what: &str,
        settings: &[(&str, &str)],
        query: Option<&str>,
        body: &[u8],
        timeout: Option<Duration>,
    ) -> Result<ureq::http::Response<ureq::Body>, Error> {
        let mut request = self.agent.post(&self.url);
        if let Some(timeout) = timeout {
            request = request.config().timeout_global(Some(timeout)).build();
        }
        for (key, value) in COMMON.iter().chain(settings) {
            request = request.query(*key, *value);
        }
        if let Some(query) = query {
            request = request.query("query", query);
        }
        if let Some(authorization) = &self.authorization {
            request = request.header("Authorization", authorization);
        }
        let mut response = request.send(body).map_err(|error| Error::Unreachable {
            node: self.address.clone(),
            reason: error.to_string(),
        })?;
        if response.status().is_success() {
            return Ok(response);
        }
        let text = response
            .body_mut()
            .with_config()
            .limit(64 * 1024)
            .read_to_string()
            .unwrap_or_default();
        Err(refused(&self.address, what, &text))
    }

    /// Runs a statement that answers nothing (DDL, an insert from a select).
    pub(crate) fn execute(&self, what: &str, sql: &str) -> Result<(), Error> {
        self.execute_with(what, &[], sql)
    }

    /// Runs a statement that answers nothing, with settings of its own.
    pub(crate) fn execute_with(
        &self,
        what: &str,
        settings: &[(&str, &str)],
        sql: &str,
    ) -> Result<(), Error> {
        tracing::debug!(node = %self.address, what, "clickhouse statement");
        let mut response = self.post(what, settings, None, sql.as_bytes(), Some(WRITE_TIMEOUT))?;
        drain(&self.address, &mut response)
    }

    /// Runs a query whose answer is small, and returns its text.
    pub(crate) fn text(&self, what: &str, sql: &str) -> Result<String, Error> {
        tracing::debug!(node = %self.address, what, "clickhouse query");
        let mut response = self.post(what, &[], None, sql.as_bytes(), None)?;
        response
            .body_mut()
            .with_config()
            .limit(256 * 1024 * 1024)
            .read_to_string()
            .map_err(|error| self.unreadable(error.to_string()))
    }

    /// Runs a query and hands each line of its answer to `each`, without holding the answer.
    pub(crate) fn lines(
        &self,
        what: &str,
        sql: &str,
        mut each: impl FnMut(&str) -> Result<(), Error>,
    ) -> Result<(), Error> {
        tracing::debug!(node = %self.address, what, "clickhouse query, streamed");
        let response = self.post(what, &[], None, sql.as_bytes(), None)?;
        let mut reader = BufReader::with_capacity(1 << 16, response.into_body().into_reader());
        let mut line = String::new();
        loop {
            line.clear();
            let read = reader
                .read_line(&mut line)
                .map_err(|error| self.unreadable(error.to_string()))?;
            if read == 0 {
                return Ok(());
            }
            // A failure after the first rows arrives in the answer: as text (18.16), or as
            // `{"exception": "Code: …"}` in JSONEachRow (current releases).
            if line.starts_with("Code: ") && line.contains("Exception") {
                return Err(refused(&self.address, what, &line));
            }
            if let Some(text) = line
                .starts_with("{\"exception\"")
                .then(|| serde_json::from_str::<serde_json::Value>(&line).ok())
                .flatten()
                .and_then(|v| v["exception"].as_str().map(str::to_string))
            {
                return Err(refused(&self.address, what, &text));
            }
            each(line.trim_end_matches('\n'))?;
        }
    }

    /// Sends rows: `statement` (`INSERT INTO … FORMAT …`) in the URL, the rows in the body.
    pub(crate) fn insert(
        &self,
        what: &str,
        settings: &[(&str, &str)],
        statement: &str,
        rows: &[u8],
    ) -> Result<(), Error> {
        tracing::debug!(node = %self.address, what, bytes = rows.len(), "clickhouse insert");
        let mut response = self.post(what, settings, Some(statement), rows, Some(WRITE_TIMEOUT))?;
        drain(&self.address, &mut response)
    }

    fn unreadable(&self, problem: String) -> Error {
        Error::Answer {
            node: self.address.clone(),
            problem,
        }
    }
}

fn drain(node: &str, response: &mut ureq::http::Response<ureq::Body>) -> Result<(), Error> {
    response
        .body_mut()
        .with_config()
        .limit(64 * 1024 * 1024)
        .read_to_vec()
        .map(|_| ())
        .map_err(|error| Error::Answer {
            node: node.to_string(),
            problem: error.to_string(),
        })
}

/// ClickHouse's error text: `Code: 60, e.displayText() = DB::Exception: …` (18.16) or
/// `Code: 60. DB::Exception: … (UNKNOWN_TABLE)` (current releases).
fn refused(node: &str, what: &str, text: &str) -> Error {
    let text = text.trim();
    let code = text
        .strip_prefix("Code: ")
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|digits| digits.parse().ok());
    let message = text
        .split_once("DB::Exception: ")
        .map_or(text, |(_, message)| message);
    let message = message
        .split(", e.what()")
        .next()
        .unwrap_or(message)
        .lines()
        .next()
        .unwrap_or("")
        .chars()
        .take(500)
        .collect();
    Error::Refused {
        node: node.to_string(),
        what: what.to_string(),
        code,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_error_styles() {
        let old = refused(
            "a:1",
            "the schema",
            "Code: 60, e.displayText() = DB::Exception: Table w.x doesn't exist., e.what() = DB::Exception\n",
        );
        let new = refused(
            "a:1",
            "the schema",
            "Code: 60. DB::Exception: Table w.x does not exist. (UNKNOWN_TABLE) (version 26.9.2.1)\n",
        );
        for (error, text) in [
            (old, "Table w.x doesn't exist."),
            (
                new,
                "Table w.x does not exist. (UNKNOWN_TABLE) (version 26.9.2.1)",
            ),
        ] {
            match error {
                Error::Refused { code, message, .. } => {
                    assert_eq!(code, Some(60));
                    assert_eq!(message, text);
                }
                other => panic!("{other:?}"),
            }
        }
    }
}
