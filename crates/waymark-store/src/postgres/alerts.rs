//! Alert rules and alerts on PostgreSQL (see `alerts.rs`; the statements are shared).

use super::PgStore;
use crate::StoreError;
use crate::alerts::{
    ACKNOWLEDGE, ADD_RULE, Alert, AlertRule, CLAIM_CHECK, EXTEND, Firing, NOTIFIED, NewAlertRule,
    OPEN, REMOVE_RULE, RESOLVE, RULES, alert_by_id, alert_row, alerts_newest, open_alert_of_rule,
    open_alerts_of_rule, rule_row,
};

fn pg_alert(r: &tokio_postgres::Row) -> Result<Alert, StoreError> {
    Ok(alert_row((
        r.try_get(0)?,
        r.try_get(1)?,
        r.try_get(2)?,
        r.try_get(3)?,
        r.try_get(4)?,
        r.try_get(5)?,
        r.try_get(6)?,
        r.try_get(7)?,
        r.try_get(8)?,
        r.try_get(9)?,
        r.try_get(10)?,
        r.try_get(11)?,
        r.try_get(12)?,
    )))
}

impl crate::Alerts for PgStore {
    fn add_alert_rule(&self, rule: &NewAlertRule) -> Result<i64, StoreError> {
        let r = rule.clone();
        self.write(move |pool| async move {
            let client = pool.get().await?;
            let row = client
                .query_one(
                    &client.prepare_cached(ADD_RULE).await?,
                    &[
                        &r.journey,
                        &r.kpi,
                        &r.rule,
                        &r.webhook,
                        &r.author,
                        &r.created_us,
                    ],
                )
                .await?;
            Ok(row.try_get(0)?)
        })
    }

    fn alert_rules(&self) -> Result<Vec<AlertRule>, StoreError> {
        self.run(move |pool| async move {
            let client = pool.get().await?;
            let rows = client
                .query(&client.prepare_cached(RULES).await?, &[])
                .await?;
            rows.iter()
                .map(|r| {
                    Ok(rule_row(
                        r.try_get(0)?,
                        r.try_get(1)?,
                        r.try_get(2)?,
                        r.try_get(3)?,
                        r.try_get(4)?,
                        r.try_get(5)?,
                        r.try_get(6)?,
                        r.try_get(7)?,
                    ))
                })
                .collect()
        })
    }

    fn remove_alert_rule(&self, id: i64, at_us: i64) -> Result<bool, StoreError> {
        self.write(move |pool| async move {
            let client = pool.get().await?;
            let changed = client
                .execute(&client.prepare_cached(REMOVE_RULE).await?, &[&id, &at_us])
                .await?;
            Ok(changed > 0)
        })
    }

    fn claim_alert_check(
        &self,
        rule: i64,
        seen: Option<i64>,
        until_us: i64,
    ) -> Result<bool, StoreError> {
        self.write(move |pool| async move {
            let client = pool.get().await?;
            let changed = client
                .execute(
                    &client.prepare_cached(CLAIM_CHECK).await?,
                    &[&rule, &seen, &until_us],
                )
                .await?;
            Ok(changed > 0)
        })
    }

    fn raise_alert(&self, firing: &Firing) -> Result<(i64, bool), StoreError> {
        let f = firing.clone();
        self.write(move |pool| async move {
            let mut client = pool.get().await?;
            let transaction = client.transaction().await?;
            let open = transaction
                .query_opt(
                    &transaction
                        .prepare_cached(&format!("{} FOR UPDATE", open_alert_of_rule()))
                        .await?,
                    &[&f.rule],
                )
                .await?
                .map(|row| pg_alert(&row))
                .transpose()?;
            let raised = match open {
                Some(alert) if f.bucket_us <= alert.last_us + f.quiet_us => {
                    transaction
                        .execute(
                            &transaction.prepare_cached(EXTEND).await?,
                            &[&alert.id, &f.bucket_us, &f.detail],
                        )
                        .await?;
                    (alert.id, false)
                }
                _ => {
                    let row = transaction
                        .query_one(
                            &transaction.prepare_cached(OPEN).await?,
                            &[&f.rule, &f.journey, &f.kpi, &f.bucket_us, &f.detail],
                        )
                        .await?;
                    (row.try_get(0)?, true)
                }
            };
            transaction.commit().await?;
            Ok(raised)
        })
    }

    fn alerts(&self, limit: usize) -> Result<Vec<Alert>, StoreError> {
        let limit = limit as i64;
        self.run(move |pool| async move {
            let client = pool.get().await?;
            let rows = client
                .query(&client.prepare_cached(&alerts_newest()).await?, &[&limit])
                .await?;
            rows.iter().map(pg_alert).collect()
        })
    }

    fn open_alerts(&self, rule: i64) -> Result<Vec<Alert>, StoreError> {
        self.run(move |pool| async move {
            let client = pool.get().await?;
            let rows = client
                .query(
                    &client.prepare_cached(&open_alerts_of_rule()).await?,
                    &[&rule],
                )
                .await?;
            rows.iter().map(pg_alert).collect()
        })
    }

    fn alert(&self, id: i64) -> Result<Option<Alert>, StoreError> {
        self.run(move |pool| async move {
            let client = pool.get().await?;
            client
                .query_opt(&client.prepare_cached(&alert_by_id()).await?, &[&id])
                .await?
                .map(|row| pg_alert(&row))
                .transpose()
        })
    }

    fn acknowledge_alert(&self, id: i64, by: &str, at_us: i64) -> Result<bool, StoreError> {
        let by = by.to_string();
        self.write(move |pool| async move {
            let client = pool.get().await?;
            let changed = client
                .execute(
                    &client.prepare_cached(ACKNOWLEDGE).await?,
                    &[&id, &by, &at_us],
                )
                .await?;
            Ok(changed > 0)
        })
    }

    fn resolve_alert(&self, id: i64, by: &str, at_us: i64) -> Result<bool, StoreError> {
        let by = by.to_string();
        self.write(move |pool| async move {
            let client = pool.get().await?;
            let changed = client
                .execute(&client.prepare_cached(RESOLVE).await?, &[&id, &by, &at_us])
                .await?;
            Ok(changed > 0)
        })
    }

    fn alert_notified(&self, id: i64, at_us: i64) -> Result<(), StoreError> {
        self.write(move |pool| async move {
            let client = pool.get().await?;
            client
                .execute(&client.prepare_cached(NOTIFIED).await?, &[&id, &at_us])
                .await?;
            Ok(())
        })
    }
}
