//! Where the events are: `clickhouse://[USER[:PASSWORD]@]HOST:PORT[,HOST:PORT...]/[DATABASE][?cluster=NAME]`.
//!
//! Each `HOST:PORT` is a node's HTTP interface (8123 by default). One node holds the events in
//! one table. Several nodes are the shards of the cluster `NAME` (as their `remote_servers`
//! configuration names it, `waymark` by default), listed in the cluster's order: Waymark creates
//! the tables on every node and writes and reads through the Distributed tables.

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
            write!(f, "{user}")?;
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
    pub fn parse(text: &str) -> Result<Location, Error> {
        let rest = text.strip_prefix("clickhouse://").ok_or_else(|| {
            refuse(format!(
                "`{}` does not start with clickhouse://",
                first_part(text)
            ))
        })?;
        let (rest, query) = match rest.split_once('?') {
            Some((rest, query)) => (rest, Some(query)),
            None => (rest, None),
        };
        let (authority, database) = match rest.split_once('/') {
            Some((authority, path)) => (authority, path),
            None => (rest, ""),
        };
        let (user, password, hosts) = match authority.rsplit_once('@') {
            Some((userinfo, hosts)) => {
                let (user, password) = match userinfo.split_once(':') {
                    Some((user, password)) => (user, Some(password.to_string())),
                    None => (userinfo, None),
                };
                if user.is_empty() {
                    return Err(refuse("the user before `@` is empty"));
                }
                (Some(user.to_string()), password, hosts)
            }
            None => (None, None, authority),
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
        if !is_name(&database) {
            return Err(refuse(format!(
                "`{database}` is not a database name (letters, digits and _)"
            )));
        }
        let mut cluster = None;
        for pair in query.into_iter().flat_map(|q| q.split('&')) {
            match pair.split_once('=') {
                Some(("cluster", name)) if is_name(name) => cluster = Some(name.to_string()),
                Some(("cluster", name)) => {
                    return Err(refuse(format!(
                        "`{name}` is not a cluster name (letters, digits and _)"
                    )));
                }
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
        if nodes.len() == 1 && cluster.is_some() {
            return Err(refuse(
                "a cluster needs each of its shards' HTTP addresses, separated by commas",
            ));
        }
        Ok(Location {
            nodes,
            database,
            cluster,
            user,
            password,
        })
    }
}

impl std::str::FromStr for Location {
    type Err = String;

    fn from_str(text: &str) -> Result<Location, String> {
        Location::parse(text).map_err(|error| error.to_string())
    }
}

/// The start of a refused URL, never its password.
fn first_part(text: &str) -> String {
    let end = text.find(['@', '/']).unwrap_or(text.len());
    text[..end].chars().take(40).collect()
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
            // A multi-byte letter across the 40th byte of what the message quotes.
            "clickhouse:aaaaaaaaaaaaaaaaaaaaaaaaaaaaοοοο",
        ] {
            let error = Location::parse(bad).expect_err(bad).to_string();
            assert!(error.contains("clickhouse://HOST:PORT"), "{bad}: {error}");
            assert!(!error.contains("secret"));
        }
    }
}
