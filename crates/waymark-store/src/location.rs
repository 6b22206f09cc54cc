//! Where a store lives, and opening it: the one place a backend is chosen.
//!
//! `--db` (or `WAYMARK_DB`) is a path for SQLite, or `postgres://user@host:port/database` for
//! PostgreSQL. The rest of Waymark holds the store as `Arc<dyn Store>` and never learns which.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::{SqliteStore, Store, StoreError};

/// Where a store lives.
#[derive(Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "String")]
pub enum Location {
    /// A SQLite database file (created when missing).
    File(PathBuf),
    /// A PostgreSQL database, by its connection URL.
    Postgres(String),
}

impl Location {
    /// The file of a SQLite store: `None` for a database on a server.
    pub fn file(&self) -> Option<&Path> {
        match self {
            Location::File(path) => Some(path),
            Location::Postgres(_) => None,
        }
    }

    /// The location with a relative file path taken from `directory` (a configuration file's).
    pub fn relative_to(self, directory: &Path) -> Location {
        match self {
            Location::File(path) if path.is_relative() => Location::File(directory.join(path)),
            other => other,
        }
    }
}

impl std::str::FromStr for Location {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.is_empty() {
            return Err("the database is empty: give a file path or a postgres:// URL".into());
        }
        let lower = text.to_ascii_lowercase();
        if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            return Ok(Location::Postgres(text.to_string()));
        }
        if let Some((scheme, _)) = text.split_once("://") {
            return Err(format!(
                "`{scheme}://` is not a database Waymark stores in\nhint: give a file path for SQLite, or postgres://user@host:port/database"
            ));
        }
        Ok(Location::File(PathBuf::from(text)))
    }
}

impl TryFrom<String> for Location {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl From<&Path> for Location {
    fn from(path: &Path) -> Self {
        Location::File(path.to_path_buf())
    }
}

impl From<&PathBuf> for Location {
    fn from(path: &PathBuf) -> Self {
        Location::File(path.clone())
    }
}

impl From<PathBuf> for Location {
    fn from(path: PathBuf) -> Self {
        Location::File(path)
    }
}

/// Shown in messages and logs: a URL's password is never shown.
impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::File(path) => write!(f, "{}", path.display()),
            Location::Postgres(url) => f.write_str(&without_password(url)),
        }
    }
}

impl std::fmt::Debug for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Location({self})")
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((credentials, host)) => match credentials.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

/// How a store is opened.
#[derive(Debug, Clone)]
pub struct Options {
    /// The traits that identify a person (see [`crate::default_identifier_traits`]).
    pub identifier_traits: Vec<String>,
    /// Only reading events (a command beside a running SQLite server): no writes, no
    /// migrations. A PostgreSQL store is shared by design and opens as usual.
    pub read_only: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            identifier_traits: crate::default_identifier_traits(),
            read_only: false,
        }
    }
}

/// Opens (or creates) the store at `location`, bringing its schema up to date.
pub fn open(location: &Location, options: &Options) -> Result<Arc<dyn Store>, StoreError> {
    match location {
        Location::File(path) => {
            let store = if options.read_only {
                SqliteStore::open_read_only(path)?
            } else {
                SqliteStore::open(path)?
            };
            Ok(Arc::new(
                store.with_identifier_traits(options.identifier_traits.clone()),
            ))
        }
        Location::Postgres(url) => Ok(Arc::new(crate::postgres::PgStore::open(
            url,
            options.identifier_traits.clone(),
        )?)),
    }
}

/// A store that lives in memory and is gone when dropped (tests, dry runs).
pub fn open_in_memory() -> Result<Arc<dyn Store>, StoreError> {
    Ok(Arc::new(SqliteStore::open_in_memory()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_is_sqlite_and_a_postgres_url_is_postgres() {
        assert_eq!(
            "waymark.db".parse::<Location>(),
            Ok(Location::File("waymark.db".into()))
        );
        assert_eq!(
            "POSTGRESQL://u@h:5432/w".parse::<Location>(),
            Ok(Location::Postgres("POSTGRESQL://u@h:5432/w".into()))
        );
        let refused = "mysql://u@h/w".parse::<Location>().expect_err("refused");
        assert!(refused.contains("`mysql://`"), "{refused}");
        assert!("".parse::<Location>().is_err());
    }

    #[test]
    fn a_password_is_never_shown() {
        let location: Location = "postgres://waymark:s3cret@db.internal:5432/waymark"
            .parse()
            .expect("a URL");
        let shown = format!("{location} {location:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("postgres://waymark:***@db.internal:5432/waymark"));
    }
}
