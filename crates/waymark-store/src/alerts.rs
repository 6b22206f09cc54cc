//! Alert rules on KPIs and the alerts they raised: each rule remembers how far it was checked
//! (claimed by compare-and-set, so two nodes never check the same days), and an alert groups the
//! buckets that fired in a row until it is resolved. The statements are shared by both backends
//! (`$n` placeholders; SQLite reads them as `?n`).

use rusqlite::{OptionalExtension as _, params};

use crate::StoreError;

/// A rule to keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAlertRule {
    pub journey: String,
    /// The KPI's id in the journey.
    pub kpi: String,
    /// As written: `below 80%`, `anomaly by weekday`.
    pub rule: String,
    /// Also posted here (JSON), besides the email to the KPI's owner.
    pub webhook: Option<String>,
    /// A directory id, or how it was made (`admin token`).
    pub author: String,
    pub created_us: i64,
}

/// A kept rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRule {
    pub id: i64,
    pub rule: NewAlertRule,
    /// The start of the last bucket checked, once any was.
    pub checked_us: Option<i64>,
}

/// An alert: the buckets of one rule that fired, from `opened_us` to `last_us`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    pub id: i64,
    pub rule: i64,
    pub journey: String,
    pub kpi: String,
    pub opened_us: i64,
    pub last_us: i64,
    pub buckets: i64,
    /// What the checker said of it (JSON: the worst value, what was expected, in words).
    pub detail: String,
    pub acknowledged: Option<(String, i64)>,
    pub resolved: Option<(String, i64)>,
    /// When its owner was told.
    pub notified_us: Option<i64>,
}

impl Alert {
    /// Not resolved yet.
    pub fn is_open(&self) -> bool {
        self.resolved.is_none()
    }
}

/// A bucket that fired, to add to the rule's open alert or to open one with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Firing {
    pub rule: i64,
    pub journey: String,
    pub kpi: String,
    pub bucket_us: i64,
    pub detail: String,
    /// An open alert whose last bucket is at most this long before this one takes it in.
    pub quiet_us: i64,
}

pub(crate) const ADD_RULE: &str =
    "INSERT INTO alert_rules (journey, kpi, rule, webhook, author, created_us)
    VALUES ($1, $2, $3, $4, $5, $6) RETURNING id";
pub(crate) const RULES: &str =
    "SELECT id, journey, kpi, rule, webhook, author, created_us, checked_us
    FROM alert_rules WHERE removed_us IS NULL ORDER BY id";
pub(crate) const REMOVE_RULE: &str =
    "UPDATE alert_rules SET removed_us = $2 WHERE id = $1 AND removed_us IS NULL";
/// Compare-and-set: only the node that read `$2` moves the mark.
pub(crate) const CLAIM_CHECK: &str = "UPDATE alert_rules SET checked_us = $3
    WHERE id = $1 AND removed_us IS NULL AND COALESCE(checked_us, -1) = COALESCE(CAST($2 AS BIGINT), -1)";
const ALERT_COLUMNS: &str = "id, rule, journey, kpi, opened_us, last_us, buckets, detail, acknowledged_by, acknowledged_us, resolved_by, resolved_us, notified_us";
pub(crate) fn open_alert_of_rule() -> String {
    format!(
        "SELECT {ALERT_COLUMNS} FROM alerts WHERE rule = $1 AND resolved_us IS NULL ORDER BY id DESC LIMIT 1"
    )
}
pub(crate) const EXTEND: &str = "UPDATE alerts SET last_us = $2, buckets = buckets + 1, detail = $3
    WHERE id = $1 AND last_us < $2";
pub(crate) const OPEN: &str =
    "INSERT INTO alerts (rule, journey, kpi, opened_us, last_us, buckets, detail)
    VALUES ($1, $2, $3, $4, $4, 1, $5) RETURNING id";
pub(crate) fn open_alerts_of_rule() -> String {
    format!(
        "SELECT {ALERT_COLUMNS} FROM alerts WHERE rule = $1 AND resolved_us IS NULL ORDER BY id DESC"
    )
}
pub(crate) fn alerts_newest() -> String {
    format!("SELECT {ALERT_COLUMNS} FROM alerts ORDER BY id DESC LIMIT $1")
}
pub(crate) fn alert_by_id() -> String {
    format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE id = $1")
}
pub(crate) const ACKNOWLEDGE: &str = "UPDATE alerts SET acknowledged_by = $2, acknowledged_us = $3
    WHERE id = $1 AND acknowledged_us IS NULL AND resolved_us IS NULL";
pub(crate) const RESOLVE: &str = "UPDATE alerts SET resolved_by = $2, resolved_us = $3
    WHERE id = $1 AND resolved_us IS NULL";
pub(crate) const NOTIFIED: &str =
    "UPDATE alerts SET notified_us = $2 WHERE id = $1 AND notified_us IS NULL";

#[allow(clippy::too_many_arguments)]
pub(crate) fn rule_row(
    id: i64,
    journey: String,
    kpi: String,
    rule: String,
    webhook: Option<String>,
    author: String,
    created_us: i64,
    checked_us: Option<i64>,
) -> AlertRule {
    AlertRule {
        id,
        rule: NewAlertRule {
            journey,
            kpi,
            rule,
            webhook,
            author,
            created_us,
        },
        checked_us,
    }
}

/// The columns of [`ALERT_COLUMNS`], in order.
pub(crate) type AlertColumns = (
    i64,
    i64,
    String,
    String,
    i64,
    i64,
    i64,
    String,
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<i64>,
    Option<i64>,
);

pub(crate) fn alert_row(c: AlertColumns) -> Alert {
    Alert {
        id: c.0,
        rule: c.1,
        journey: c.2,
        kpi: c.3,
        opened_us: c.4,
        last_us: c.5,
        buckets: c.6,
        detail: c.7,
        acknowledged: c.8.zip(c.9),
        resolved: c.10.zip(c.11),
        notified_us: c.12,
    }
}

fn sqlite_alert(r: &rusqlite::Row) -> rusqlite::Result<Alert> {
    Ok(alert_row((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
        r.get(9)?,
        r.get(10)?,
        r.get(11)?,
        r.get(12)?,
    )))
}

fn q(sql: &str) -> String {
    sql.replace('$', "?")
}

impl crate::Alerts for crate::SqliteStore {
    fn add_alert_rule(&self, rule: &NewAlertRule) -> Result<i64, StoreError> {
        self.write(|connection| {
            Ok(connection.prepare_cached(&q(ADD_RULE))?.query_row(
                params![
                    rule.journey,
                    rule.kpi,
                    rule.rule,
                    rule.webhook,
                    rule.author,
                    rule.created_us
                ],
                |r| r.get(0),
            )?)
        })
    }

    fn alert_rules(&self) -> Result<Vec<AlertRule>, StoreError> {
        self.with(|connection| {
            let mut query = connection.prepare_cached(&q(RULES))?;
            let rows = query.query_map([], |r| {
                Ok(rule_row(
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                ))
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    fn remove_alert_rule(&self, id: i64, at_us: i64) -> Result<bool, StoreError> {
        self.write(|connection| {
            Ok(connection
                .prepare_cached(&q(REMOVE_RULE))?
                .execute(params![id, at_us])?
                > 0)
        })
    }

    fn claim_alert_check(
        &self,
        rule: i64,
        seen: Option<i64>,
        until_us: i64,
    ) -> Result<bool, StoreError> {
        self.write(|connection| {
            Ok(connection
                .prepare_cached(&q(CLAIM_CHECK))?
                .execute(params![rule, seen, until_us])?
                > 0)
        })
    }

    fn raise_alert(&self, firing: &Firing) -> Result<(i64, bool), StoreError> {
        self.write(|connection| {
            let transaction = connection.transaction()?;
            let open = transaction
                .prepare_cached(&q(&open_alert_of_rule()))?
                .query_row(params![firing.rule], sqlite_alert)
                .optional()?;
            let raised = match open {
                Some(alert) if firing.bucket_us <= alert.last_us + firing.quiet_us => {
                    transaction.prepare_cached(&q(EXTEND))?.execute(params![
                        alert.id,
                        firing.bucket_us,
                        firing.detail
                    ])?;
                    (alert.id, false)
                }
                _ => {
                    let id = transaction.prepare_cached(&q(OPEN))?.query_row(
                        params![
                            firing.rule,
                            firing.journey,
                            firing.kpi,
                            firing.bucket_us,
                            firing.detail
                        ],
                        |r| r.get(0),
                    )?;
                    (id, true)
                }
            };
            transaction.commit()?;
            Ok(raised)
        })
    }

    fn alerts(&self, limit: usize) -> Result<Vec<Alert>, StoreError> {
        self.with(|connection| {
            let mut query = connection.prepare_cached(&q(&alerts_newest()))?;
            let rows = query.query_map(params![limit as i64], sqlite_alert)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    fn open_alerts(&self, rule: i64) -> Result<Vec<Alert>, StoreError> {
        self.with(|connection| {
            let mut query = connection.prepare_cached(&q(&open_alerts_of_rule()))?;
            let rows = query.query_map(params![rule], sqlite_alert)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    fn alert(&self, id: i64) -> Result<Option<Alert>, StoreError> {
        self.with(|connection| {
            Ok(connection
                .prepare_cached(&q(&alert_by_id()))?
                .query_row(params![id], sqlite_alert)
                .optional()?)
        })
    }

    fn acknowledge_alert(&self, id: i64, by: &str, at_us: i64) -> Result<bool, StoreError> {
        self.write(|connection| {
            Ok(connection
                .prepare_cached(&q(ACKNOWLEDGE))?
                .execute(params![id, by, at_us])?
                > 0)
        })
    }

    fn resolve_alert(&self, id: i64, by: &str, at_us: i64) -> Result<bool, StoreError> {
        self.write(|connection| {
            Ok(connection
                .prepare_cached(&q(RESOLVE))?
                .execute(params![id, by, at_us])?
                > 0)
        })
    }

    fn alert_notified(&self, id: i64, at_us: i64) -> Result<(), StoreError> {
        self.write(|connection| {
            connection
                .prepare_cached(&q(NOTIFIED))?
                .execute(params![id, at_us])?;
            Ok(())
        })
    }
}
