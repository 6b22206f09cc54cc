//! Storage behind one trait (planned; see ARCHITECTURE.md).
//!
//! SQLite in WAL mode is the embedded default; PostgreSQL plugs in behind the same trait. No other
//! crate writes SQL.
