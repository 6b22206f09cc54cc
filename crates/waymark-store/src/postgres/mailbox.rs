//! Mail kept in the app, on PostgreSQL (see `mailbox.rs`).

use tokio_postgres::Row;

use super::PgStore;
use crate::StoreError;
use crate::mailbox::Mail;

const COLUMNS: &str = "id, user_id, address, subject, body, message_id, sent_us";

fn mail_from(row: &Row) -> Result<Mail, StoreError> {
    Ok(Mail {
        id: row.try_get(0)?,
        user: row.try_get(1)?,
        address: row.try_get(2)?,
        subject: row.try_get(3)?,
        body: row.try_get(4)?,
        message_id: row.try_get(5)?,
        sent_us: row.try_get(6)?,
    })
}

impl crate::Mailbox for PgStore {
    fn deliver(&self, mail: &Mail) -> Result<(), StoreError> {
        let mail = mail.clone();
        self.write(move |pool| async move {
            let client = pool.get().await?;
            client
                .execute(
                    &client.prepare_cached("INSERT INTO mailbox (user_id, address, subject, body, message_id, sent_us) VALUES ($1, $2, $3, $4, $5, $6)
                     ON CONFLICT (message_id) DO NOTHING").await?,
                    &[&mail.user, &mail.address, &mail.subject, &mail.body, &mail.message_id, &mail.sent_us],
                )
                .await?;
            Ok(())
        })
    }

    fn mails(&self, user: Option<&str>, limit: usize) -> Result<Vec<Mail>, StoreError> {
        let user = user.map(str::to_string);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.run(move |pool| async move {
            let client = pool.get().await?;
            let rows = client
                .query(
                    &client.prepare_cached(&format!(
                        "SELECT {COLUMNS} FROM mailbox WHERE $1::TEXT IS NULL OR user_id = $1 ORDER BY id DESC LIMIT $2"
                    )).await?,
                    &[&user, &limit],
                )
                .await?;
            rows.iter().map(mail_from).collect()
        })
    }

    fn mail(&self, id: i64) -> Result<Option<Mail>, StoreError> {
        self.run(move |pool| async move {
            let client = pool.get().await?;
            client
                .query_opt(
                    &client
                        .prepare_cached(&format!("SELECT {COLUMNS} FROM mailbox WHERE id = $1"))
                        .await?,
                    &[&id],
                )
                .await?
                .map(|row| mail_from(&row))
                .transpose()
        })
    }
}
