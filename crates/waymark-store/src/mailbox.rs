//! Mail kept in the app instead of sent through SMTP (`waymark demo`): each message as it would
//! have gone out, for the person it was addressed to, readable in the web app's mailbox and, for
//! administrators, in the outbox.

use rusqlite::{OptionalExtension as _, params};

use crate::{SqliteStore, StoreError};

/// One message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    pub id: i64,
    /// Who it is for (a directory id).
    pub user: String,
    /// The address it was written to.
    pub address: String,
    pub subject: String,
    pub body: String,
    /// Its `Message-ID`: the same message delivered again (a retry after a crash) is kept once.
    pub message_id: String,
    pub sent_us: i64,
}

fn mail_row(row: &rusqlite::Row) -> rusqlite::Result<Mail> {
    Ok(Mail {
        id: row.get(0)?,
        user: row.get(1)?,
        address: row.get(2)?,
        subject: row.get(3)?,
        body: row.get(4)?,
        message_id: row.get(5)?,
        sent_us: row.get(6)?,
    })
}

const COLUMNS: &str = "id, user_id, address, subject, body, message_id, sent_us";

impl crate::Mailbox for SqliteStore {
    fn deliver(&self, mail: &Mail) -> Result<(), StoreError> {
        self.write(|connection| {
            connection.execute(
                "INSERT INTO mailbox (user_id, address, subject, body, message_id, sent_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (message_id) DO NOTHING",
                params![mail.user, mail.address, mail.subject, mail.body, mail.message_id, mail.sent_us],
            )?;
            Ok(())
        })
    }

    fn mails(&self, user: Option<&str>, limit: usize) -> Result<Vec<Mail>, StoreError> {
        self.with(|connection| {
            let mut query = connection.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM mailbox WHERE ?1 IS NULL OR user_id = ?1 ORDER BY id DESC LIMIT ?2"
            ))?;
            let rows = query.query_map(params![user, limit as i64], mail_row)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    fn mail(&self, id: i64) -> Result<Option<Mail>, StoreError> {
        self.with(|connection| {
            Ok(connection
                .prepare_cached(&format!("SELECT {COLUMNS} FROM mailbox WHERE id = ?1"))?
                .query_row(params![id], mail_row)
                .optional()?)
        })
    }
}
