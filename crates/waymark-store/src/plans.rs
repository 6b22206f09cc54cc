//! Plans: the opportunities people raise and the initiatives that address them. A plan is a
//! document (JSON whose shape `waymark-server` owns) with the columns lists are read by — its
//! kind, title, owner and status — beside it. Every change carries the revision it was made on
//! and is refused when someone saved the plan meanwhile, so two people editing one plan never
//! overwrite each other. The statements are shared by both backends (`$n`; SQLite reads `?n`).

use rusqlite::{OptionalExtension as _, params};

use crate::StoreError;

/// What a plan is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PlanKind {
    /// A problem worth solving, with its evidence.
    Opportunity,
    /// Work that addresses opportunities and is meant to move KPIs.
    Initiative,
}

impl PlanKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PlanKind::Opportunity => "opportunity",
            PlanKind::Initiative => "initiative",
        }
    }

    fn parse(text: &str) -> Result<Self, StoreError> {
        match text {
            "opportunity" => Ok(PlanKind::Opportunity),
            "initiative" => Ok(PlanKind::Initiative),
            other => Err(StoreError::Database(format!(
                "a stored plan of unknown kind {other:?}"
            ))),
        }
    }
}

/// What a plan holds, as written by its last editor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanText {
    pub title: String,
    /// A directory id.
    pub owner: String,
    pub status: String,
    /// The rest, as JSON.
    pub body: String,
}

/// A kept plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub id: i64,
    pub kind: PlanKind,
    pub text: PlanText,
    pub created_by: String,
    pub created_us: i64,
    pub updated_by: String,
    pub updated_us: i64,
    /// 1 when added, one more with each change.
    pub revision: i64,
}

const COLUMNS: &str = "id, kind, title, owner, status, body, created_by, created_us, updated_by, updated_us, revision";

pub(crate) const ADD: &str = "INSERT INTO plans
    (kind, title, owner, status, body, created_by, created_us, updated_by, updated_us, revision)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $6, $7, 1) RETURNING id";
/// Compare-and-set on the revision.
pub(crate) const CHANGE: &str = "UPDATE plans
    SET title = $3, owner = $4, status = $5, body = $6, updated_by = $7, updated_us = $8,
        revision = revision + 1
    WHERE id = $1 AND revision = $2";
pub(crate) fn by_kind() -> String {
    format!("SELECT {COLUMNS} FROM plans WHERE kind = $1 ORDER BY id")
}
pub(crate) fn by_id() -> String {
    format!("SELECT {COLUMNS} FROM plans WHERE id = $1")
}

/// The columns of [`COLUMNS`], in order.
pub(crate) type PlanColumns = (
    i64,
    String,
    String,
    String,
    String,
    String,
    String,
    i64,
    String,
    i64,
    i64,
);

pub(crate) fn plan_row(c: PlanColumns) -> Result<Plan, StoreError> {
    Ok(Plan {
        id: c.0,
        kind: PlanKind::parse(&c.1)?,
        text: PlanText {
            title: c.2,
            owner: c.3,
            status: c.4,
            body: c.5,
        },
        created_by: c.6,
        created_us: c.7,
        updated_by: c.8,
        updated_us: c.9,
        revision: c.10,
    })
}

fn sqlite_columns(r: &rusqlite::Row) -> rusqlite::Result<PlanColumns> {
    Ok((
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
    ))
}

fn q(sql: &str) -> String {
    sql.replace('$', "?")
}

impl crate::Plans for crate::SqliteStore {
    fn add_plan(
        &self,
        kind: PlanKind,
        text: &PlanText,
        by: &str,
        at_us: i64,
    ) -> Result<i64, StoreError> {
        self.write(|connection| {
            Ok(connection.prepare_cached(&q(ADD))?.query_row(
                params![
                    kind.as_str(),
                    text.title,
                    text.owner,
                    text.status,
                    text.body,
                    by,
                    at_us
                ],
                |r| r.get(0),
            )?)
        })
    }

    fn plans(&self, kind: PlanKind) -> Result<Vec<Plan>, StoreError> {
        let rows = self.with(|connection| {
            let mut query = connection.prepare_cached(&q(&by_kind()))?;
            let rows = query.query_map(params![kind.as_str()], sqlite_columns)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })?;
        rows.into_iter().map(plan_row).collect()
    }

    fn plan(&self, id: i64) -> Result<Option<Plan>, StoreError> {
        self.with(|connection| {
            Ok(connection
                .prepare_cached(&q(&by_id()))?
                .query_row(params![id], sqlite_columns)
                .optional()?)
        })?
        .map(plan_row)
        .transpose()
    }

    fn change_plan(
        &self,
        id: i64,
        revision: i64,
        text: &PlanText,
        by: &str,
        at_us: i64,
    ) -> Result<bool, StoreError> {
        self.write(|connection| {
            Ok(connection.prepare_cached(&q(CHANGE))?.execute(params![
                id,
                revision,
                text.title,
                text.owner,
                text.status,
                text.body,
                by,
                at_us
            ])? > 0)
        })
    }
}
