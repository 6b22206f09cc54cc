//! `waymark keys` and the token commands of `waymark org`: keys and tokens straight in the
//! database (the server's API does the same over HTTP: `/v1/keys`). Every grant and revocation is
//! in the access trail, attributed to `cli`.

use anyhow::Context as _;
use waymark_store::KeyKind;
use waymark_store::prelude::*;

use crate::Outcome;
use crate::cli::KeysCommand;

/// The time the commands stamp on what they do: the server's own clock.
pub(crate) fn now_us() -> i64 {
    use waymark_server::Clock as _;
    waymark_server::SystemClock.now_us()
}

fn open(db: &waymark_store::Location) -> anyhow::Result<std::sync::Arc<dyn Store>> {
    waymark_store::open(db, &Default::default()).with_context(|| format!("cannot open {db}"))
}

/// An end `expires_in` from now, or why it cannot be read.
pub fn expiry(expires_in: Option<&str>) -> anyhow::Result<Option<i64>> {
    waymark_server::keys::expiry(expires_in, now_us())
        .map_err(|e| anyhow::anyhow!("--expires-in: {}", e.message))
}

pub fn run(command: KeysCommand) -> anyhow::Result<Outcome> {
    match command {
        KeysCommand::List { db } => {
            let store = open(&db)?;
            let now = now_us();
            println!("id                  kind    status   label / whose / topics");
            for key in store.keys()? {
                let status = if key.revoked_us.is_some() {
                    "revoked"
                } else if key.expires_us.is_some_and(|e| e <= now) {
                    "expired"
                } else {
                    "live"
                };
                let about = [
                    key.label.clone(),
                    key.user.clone().unwrap_or_default(),
                    key.topics.join(","),
                ]
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(" / ");
                println!("{:<19} {:<7} {:<8} {about}", key.id, key.kind, status);
            }
            Ok(Outcome::Fine)
        }
        KeysCommand::Issue {
            kind,
            label,
            topics,
            expires_in,
            db,
        } => {
            let kind = KeyKind::parse(&kind).context("the kind: server, worker, write or admin")?;
            if kind == KeyKind::Worker && topics.is_empty() {
                anyhow::bail!("a worker key needs the topics it may work: --topic budget-check");
            }
            if kind != KeyKind::Worker && !topics.is_empty() {
                anyhow::bail!("only worker keys have topics");
            }
            let key = waymark_store::keys::NewKey {
                kind,
                label,
                topics,
                expires_us: expiry(expires_in.as_deref())?,
            };
            let (id, secret) = open(&db)?.issue_key(&key, "cli", now_us())?;
            eprintln!("{id}: shown once; revoke it with `waymark keys revoke {id}`");
            println!("{secret}");
            Ok(Outcome::Fine)
        }
        KeysCommand::RotateSigning { kind, retire, db } => {
            let kid = open(&db)?.rotate_signing_key(&kind, retire)?;
            println!(
                "{kid} signs {kind} links from the server's next start{}",
                if retire {
                    "; links signed before no longer work"
                } else {
                    "; links signed before work until they expire"
                }
            );
            Ok(Outcome::Fine)
        }
        KeysCommand::Revoke { id, db } => {
            if open(&db)?.revoke_key(&id, "cli", now_us())? {
                println!("{id} revoked");
                Ok(Outcome::Fine)
            } else {
                anyhow::bail!("no live key has the id `{id}`; `waymark keys list` shows them")
            }
        }
    }
}

/// `waymark backup`: a consistent copy of a SQLite store, taken beside a running server (read
/// only: the server keeps the event index, which is rebuilt from the copy when it is served).
pub fn backup(db: &waymark_store::Location, to: &std::path::Path) -> anyhow::Result<Outcome> {
    let options = waymark_store::Options {
        read_only: true,
        ..Default::default()
    };
    let store = waymark_store::open(db, &options).with_context(|| format!("cannot open {db}"))?;
    let bytes = store
        .backup(to)
        .with_context(|| format!("cannot back {db} up"))?;
    println!(
        "backed up {db} to {} ({:.1} MB); restore by serving it: waymark serve --db {}",
        to.display(),
        bytes as f64 / 1e6,
        to.display()
    );
    Ok(Outcome::Fine)
}

/// `waymark copy`: a SQLite store into PostgreSQL, table by table, checked by counts and
/// checksums on both sides (exit 1 when any table differs).
pub fn copy(from: &std::path::Path, to: &waymark_store::Location) -> anyhow::Result<Outcome> {
    let waymark_store::Location::Postgres(url) = to else {
        anyhow::bail!(
            "--to {to}: copy moves a SQLite store into PostgreSQL\nhint: --to postgres://user@host:port/database (for a SQLite copy, use waymark backup)"
        );
    };
    let copied = waymark_store::copy(from, url)
        .with_context(|| format!("cannot copy {} to {to}", from.display()))?;
    println!(
        "{:<20} {:>10} {:>16}   {:>10} {:>16} {:>10}",
        "table", "rows", "checksum", "rows", "checksum", "added"
    );
    for table in &copied {
        println!(
            "{:<20} {:>10} {:>16} → {:>10} {:>16} {:>10}{}",
            table.table,
            table.source_rows,
            table.source_checksum,
            table.target_rows,
            table.target_checksum,
            table.added,
            if table.equal() { "" } else { "  DIFFERS" }
        );
    }
    let differ: Vec<&str> = copied
        .iter()
        .filter(|t| !t.equal())
        .map(|t| t.table)
        .collect();
    if differ.is_empty() {
        println!(
            "copied {} to {to}: every table equal on both sides",
            from.display()
        );
        Ok(Outcome::Fine)
    } else {
        eprintln!(
            "error: {} differ on the two sides: {}\nhint: was a server writing to {} during the copy? Stop it and run the copy again",
            differ.len(),
            differ.join(", "),
            from.display()
        );
        Ok(Outcome::Problems)
    }
}
