//! Where the events are: `clickhouse://[USER[:PASSWORD]@]HOST:PORT[,HOST:PORT...]/[DATABASE][?cluster=NAME]`.
//!
//! Each `HOST:PORT` is a node's HTTP interface (8123 by default). One node holds the events in
//! one table. Several nodes are the shards of the cluster `NAME` (as their `remote_servers`
//! configuration names it, `waymark` by default), listed in the cluster's order: Waymark creates
//! the tables on every node and writes and reads through the Distributed tables.

use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use std::fmt;

use crate::Error;

/// A parsed events URL. Its `Display` never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Location {
    /// Each node's HTTP address, `host:port`.
    pub nodes: Vec<String>,
    pub database: String,
    /// The cluster the nodes form, when there are several.
    pub cluster: Option<String>,
    pub user: Option<String>,
    pub password: Option<String>,
}

impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Location({self})")
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "clickhouse://")?;
        if let Some(user) = &self.user {
            // Encoded as it is read back: a user holding `:`, `@` or `%` shown raw would read
            // as another user, or a password.
            write!(f, "{}", utf8_percent_encode(user, USERINFO))?;
            if self.password.is_some() {
                write!(f, ":***")?;
            }
            write!(f, "@")?;
        }
        write!(f, "{}/{}", self.nodes.join(","), self.database)?;
        if let Some(cluster) = &self.cluster {
            write!(f, "?cluster={cluster}")?;
        }
        Ok(())
    }
}

/// What a user name shown in a URL has percent-encoded: whatever would end it or be read as
/// an escape, and every byte that is not printable ASCII.
const USERINFO: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'%')
    .add(b':')
    .add(b'@')
    .add(b'/')
    .add(b'?')
    .add(b'#')
    .add(b',');

const HINT: &str = "write clickhouse://HOST:PORT/DATABASE, or clickhouse://HOST:PORT,HOST:PORT/DATABASE?cluster=NAME for the shards of a cluster";

fn refuse(problem: impl Into<String>) -> Error {
    Error::Location {
        problem: problem.into(),
        hint: HINT,
    }
}

/// Whether `text` names ClickHouse (and should be parsed by [`Location::parse`]).
pub fn is_clickhouse(text: &str) -> bool {
    text.starts_with("clickhouse://")
}

fn is_name(text: &str) -> bool {
    !text.is_empty()
        && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !text.starts_with(|c: char| c.is_ascii_digit())
}

impl Location {
    /// Reads an events URL. The user and password may be percent-encoded (`%40` for `@`); a URL
    /// with a user and no password takes it from `WAYMARK_CLICKHOUSE_PASSWORD` when set. No
    /// error quotes the user or the password.
    pub fn parse(text: &str) -> Result<Location, Error> {
        let rest = text
            .strip_prefix("clickhouse://")
            .ok_or_else(|| refuse("the events URL does not start with clickhouse://"))?;
        // The user and password end at the last `@`: hosts, the path and the settings hold none.
        let (userinfo, rest) = match rest.rsplit_once('@') {
            Some((userinfo, rest)) => (Some(userinfo), rest),
            None => (None, rest),
        };
        let (rest, query) = match rest.split_once('?') {
            Some((rest, query)) => (rest, Some(query)),
            None => (rest, None),
        };
        let (hosts, database) = match rest.split_once('/') {
            Some((hosts, path)) => (hosts, path),
            None => (rest, ""),
        };
        let (user, password) = match userinfo {
            Some(userinfo) => {
                let (user, password) = match userinfo.split_once(':') {
                    Some((user, password)) => (user, Some(password)),
                    None => (userinfo, None),
                };
                let user = decode(user)
                    .ok_or_else(|| refuse("the user is not percent-encoded correctly"))?;
                if user.is_empty() {
                    return Err(refuse("the user before `@` is empty"));
                }
                let password =
                    match password {
                        Some(password) => Some(decode(password).ok_or_else(|| {
                            refuse("the password is not percent-encoded correctly")
                        })?),
                        None => std::env::var("WAYMARK_CLICKHOUSE_PASSWORD").ok(),
                    };
                (Some(user), password)
            }
            None => (None, None),
        };
        let mut nodes = Vec::new();
        for host in hosts.split(',') {
            let (name, port) = match host.rsplit_once(':') {
                Some((name, port)) => (name, port),
                None => (host, "8123"),
            };
            if name.is_empty() {
                return Err(refuse(format!("the host in `{host}` is empty")));
            }
            if port.parse::<u16>().map_or(true, |p| p == 0) {
                return Err(refuse(format!(
                    "`{port}` in `{host}` is not a port (1 to 65535)"
                )));
            }
            nodes.push(format!("{name}:{port}"));
        }
        let database = if database.is_empty() {
            "waymark".to_string()
        } else {
            database.to_string()
        };
        let mut cluster = None;
        for pair in query.into_iter().flat_map(|q| q.split('&')) {
            match pair.split_once('=') {
                Some(("cluster", name)) => cluster = Some(name.to_string()),
                _ => {
                    return Err(refuse(format!(
                        "`{pair}` is not a setting Waymark knows (only cluster=NAME)"
                    )));
                }
            }
        }
        if nodes.len() > 1 && cluster.is_none() {
            cluster = Some("waymark".to_string());
        }
        let location = Location {
            nodes,
            database,
            cluster,
            user,
            password,
        };
        location.check()?;
        Ok(location)
    }

    /// What every location must hold before a statement names it: nodes, a database and a
    /// cluster named with letters, digits and `_`, and a cluster only for several nodes.
    pub(crate) fn check(&self) -> Result<(), Error> {
        if self.nodes.is_empty() {
            return Err(refuse("no node is named"));
        }
        if !is_name(&self.database) {
            return Err(refuse(format!(
                "`{}` is not a database name (letters, digits and _)",
                self.database
            )));
        }
        if [
            "system",
            "information_schema",
            "INFORMATION_SCHEMA",
            "default",
        ]
        .contains(&self.database.as_str())
        {
            return Err(refuse(format!(
                "`{}` is ClickHouse's own database: name one for Waymark's events",
                self.database
            )));
        }
        match &self.cluster {
            Some(name) if !is_name(name) => Err(refuse(format!(
                "`{name}` is not a cluster name (letters, digits and _)"
            ))),
            Some(_) if self.nodes.len() == 1 => Err(refuse(
                "a cluster needs each of its shards' HTTP addresses, separated by commas",
            )),
            _ => Ok(()),
        }
    }
}

/// Percent-decoding of a URL's user or password (`%40` is `@`); `None` when malformed.
fn decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

impl std::str::FromStr for Location {
    type Err = String;

    fn from_str(text: &str) -> Result<Location, String> {
        Location::parse(text).map_err(|error| error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_node_and_a_cluster() {
        let one = Location::parse("clickhouse://localhost:8123/events").expect("one node");
        assert_eq!(one.nodes, ["localhost:8123"]);
        assert_eq!(one.database, "events");
        assert_eq!(one.cluster, None);
        let two = Location::parse("clickhouse://alice:secret@a:1,b:2/?cluster=shards")
            .expect("a cluster");
        assert_eq!(two.nodes, ["a:1", "b:2"]);
        assert_eq!(two.database, "waymark");
        assert_eq!(two.cluster.as_deref(), Some("shards"));
        assert_eq!(two.password.as_deref(), Some("secret"));
        assert_eq!(
            two.to_string(),
            "clickhouse://alice:***@a:1,b:2/waymark?cluster=shards"
        );
        let default_port = Location::parse("clickhouse://db").expect("default port");
        assert_eq!(default_port.nodes, ["db:8123"]);
        // A password holding `/`, `?`, `@` or `,`, as written or percent-encoded.
        let odd = Location::parse("clickhouse://alice:s3/c?r@t,x@h:1/db").expect("odd password");
        assert_eq!(odd.password.as_deref(), Some("s3/c?r@t,x"));
        assert_eq!(odd.nodes, ["h:1"]);
        let encoded = Location::parse("clickhouse://alice:p%40ss%2Fw@h:1/db").expect("encoded");
        assert_eq!(encoded.password.as_deref(), Some("p@ss/w"));
        // A user holding `:`, `@`, `%` or a letter beyond ASCII is shown encoded, so the URL
        // shown reads back to the same user (the fuzzer's `clickhouse://%3aUU@@v`).
        for url in [
            "clickhouse://%3aUU@@v",
            "clickhouse://J%C3%BCrgen%40x%25@h:1/db",
        ] {
            let read = Location::parse(url).expect(url);
            let again = Location::parse(&read.to_string()).expect("shown reads back");
            assert_eq!(again.user, read.user, "{url} shown as {read}");
            assert_eq!(again.password, None, "{url} shown as {read}");
            assert_eq!(again.nodes, read.nodes, "{url} shown as {read}");
        }
    }

    #[test]
    fn refuses_with_a_hint() {
        for bad in [
            "postgres://x",
            "clickhouse://a:0/db",
            "clickhouse://a:port/db",
            "clickhouse://a:1/bad-name",
            "clickhouse://a:1/db?cluster=x",
            "clickhouse://a:1,b:2/db?cluster=no;drop",
            "clickhouse://a:1/db?ssl=1",
            "clickhouse://:1/db",
            // A multi-byte letter across the 40th byte (a message once quoted 40 bytes).
            "clickhouse:aaaaaaaaaaaaaaaaaaaaaaaaaaaaοοοο",
            // The user and password are never quoted, however the URL is wrong.
            "clickhouse:alice:secret@h:1/db",
            "clickhouse://alice:secret@h:port/db",
            "clickhouse://alice:secret@/db",
            "clickhouse://alice:se%zzcret@h:1/db",
            "clickhouse://secret@h:1/bad-name",
            "clickhouse://alice:secret@h:1/system",
            "postgres://alice:secret@h:1/db",
        ] {
            let error = Location::parse(bad).expect_err(bad).to_string();
            assert!(error.contains("clickhouse://HOST:PORT"), "{bad}: {error}");
            assert!(!error.contains("secret"), "{bad}: {error}");
            assert!(!error.contains("alice"), "{bad}: {error}");
        }
    }
}
