//! Opportunities and initiatives, as the API and the pages share them.
//!
//! An **opportunity** is a problem worth solving: the touchpoints it concerns (of one or more
//! journeys), the evidence measured when it was raised, an owner, a status and a score (customer
//! value, business value, effort, each 1 to 5). An **initiative** addresses opportunities: an
//! owner, the departments involved, a status, a start and a target date, the journey version it
//! delivers, and the KPIs it is meant to move, each with a target and a baseline measured when it
//! starts. The store keeps each as a document (`waymark_store::plans`); this module owns its
//! shape, reads and checks it, and says who may change it (`crate::access`).

use serde::{Deserialize, Serialize};
use waymark_store::plans::{Plan, PlanKind, PlanText};

/// One problem with a plan as written, and the field it is in (a JSON pointer into the request).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub field: String,
    pub message: String,
}

impl Problem {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// The longest title.
pub const TITLE_CHARS: usize = 200;
/// The longest free text (a problem statement, a summary).
pub const TEXT_CHARS: usize = 4000;
/// The most links, KPIs, opportunities or departments on one plan.
pub const MOST: usize = 50;

/// Where an opportunity is felt: a journey, and one of its touchpoints unless the whole journey.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Link {
    pub journey: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub touchpoint: Option<String>,
}

/// A measured fact kept with an opportunity, as it stood when the opportunity was raised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Evidence {
    pub journey: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub touchpoint: Option<String>,
    /// What was measured: `instances`, `drop-off`, `conversion`, `over-target`,
    /// `repeat-contacts`, `driver`, `csat`, `nps`, `ces`, `comment`.
    pub measure: String,
    /// The fact in a sentence.
    pub words: String,
    /// The figure, when there is one (shares as fractions, times in seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
}

/// Where an opportunity was raised from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Source {
    /// `touchpoint`, `funnel`, `comment` or `api`.
    pub kind: String,
    /// In words: "the funnel step Approval (3 of 5)".
    pub words: String,
    /// The page it was raised on, to go back to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub href: Option<String>,
}

/// A change, as the plan's history says it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Change {
    pub by: String,
    pub at_us: i64,
    pub words: String,
}

/// An opportunity's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpportunityStatus {
    /// Raised, not yet taken up.
    Open,
    /// An initiative addresses it.
    Planned,
    /// Solved: the measurements moved.
    Solved,
    /// Not worth solving, or not a problem after all.
    Dismissed,
}

impl OpportunityStatus {
    pub const ALL: [OpportunityStatus; 4] = [
        OpportunityStatus::Open,
        OpportunityStatus::Planned,
        OpportunityStatus::Solved,
        OpportunityStatus::Dismissed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OpportunityStatus::Open => "open",
            OpportunityStatus::Planned => "planned",
            OpportunityStatus::Solved => "solved",
            OpportunityStatus::Dismissed => "dismissed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text.trim())
    }
}

/// An initiative's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum InitiativeStatus {
    /// Proposed, not started: no baseline yet.
    Proposed,
    /// Under way: its KPIs' baselines were measured when it started.
    Active,
    /// Delivered.
    Done,
    /// Stopped before it was delivered.
    Stopped,
}

impl InitiativeStatus {
    pub const ALL: [InitiativeStatus; 4] = [
        InitiativeStatus::Proposed,
        InitiativeStatus::Active,
        InitiativeStatus::Done,
        InitiativeStatus::Stopped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            InitiativeStatus::Proposed => "proposed",
            InitiativeStatus::Active => "active",
            InitiativeStatus::Done => "done",
            InitiativeStatus::Stopped => "stopped",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text.trim())
    }

    /// Whether it is under way or delivered: its KPIs have a baseline. (One stopped may never
    /// have started.)
    pub fn started(self) -> bool {
        matches!(self, InitiativeStatus::Active | InitiativeStatus::Done)
    }
}

/// How CX teams rank an opportunity: value to the customer and to the business against the
/// effort, each 1 (low) to 5 (high).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Score {
    pub customer_value: u8,
    pub business_value: u8,
    pub effort: u8,
}

impl Default for Score {
    fn default() -> Self {
        Score {
            customer_value: 3,
            business_value: 3,
            effort: 3,
        }
    }
}

impl Score {
    /// The value (customer plus business) per point of effort: 0.4 to 10; higher first.
    pub fn priority(self) -> f64 {
        f64::from(self.customer_value + self.business_value) / f64::from(self.effort.max(1))
    }

    /// The quadrant of the value-against-effort matrix.
    pub fn quadrant(self) -> &'static str {
        let valuable = self.customer_value + self.business_value >= 7;
        let easy = self.effort <= 2;
        match (valuable, easy) {
            (true, true) => "quick win",
            (true, false) => "big bet",
            (false, true) => "fill-in",
            (false, false) => "money pit",
        }
    }

    /// Checks each part is 1 to 5.
    pub fn check(self, at: &str) -> Vec<Problem> {
        [
            ("customer_value", self.customer_value),
            ("business_value", self.business_value),
            ("effort", self.effort),
        ]
        .into_iter()
        .filter(|(_, v)| !(1..=5).contains(v))
        .map(|(field, v)| {
            Problem::new(
                format!("{at}/{field}"),
                format!("{field} is {v}; give 1 (low) to 5 (high)"),
            )
        })
        .collect()
    }
}

/// What an opportunity holds beside the columns lists read.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
struct OpportunityBody {
    #[serde(default)]
    problem: String,
    #[serde(default)]
    links: Vec<Link>,
    source: Option<Source>,
    #[serde(default)]
    evidence: Vec<Evidence>,
    #[serde(default)]
    measured_us: Option<i64>,
    #[serde(default)]
    score: Score,
    #[serde(default)]
    history: Vec<Change>,
}

/// An opportunity, read.
#[derive(Debug, Clone, PartialEq)]
pub struct Opportunity {
    pub id: i64,
    pub revision: i64,
    pub title: String,
    /// A directory id.
    pub owner: String,
    pub status: OpportunityStatus,
    pub problem: String,
    pub links: Vec<Link>,
    pub source: Option<Source>,
    pub evidence: Vec<Evidence>,
    /// When the evidence was measured.
    pub measured_us: Option<i64>,
    pub score: Score,
    pub history: Vec<Change>,
    pub created_by: String,
    pub created_us: i64,
    pub updated_us: i64,
}

impl Opportunity {
    /// Reads a stored plan of the opportunity kind.
    pub fn read(plan: &Plan) -> Result<Self, String> {
        if plan.kind != PlanKind::Opportunity {
            return Err(format!("plan {} is not an opportunity", plan.id));
        }
        let body: OpportunityBody = serde_json::from_str(&plan.text.body)
            .map_err(|e| format!("opportunity {}: {e}", plan.id))?;
        Ok(Opportunity {
            id: plan.id,
            revision: plan.revision,
            title: plan.text.title.clone(),
            owner: plan.text.owner.clone(),
            status: OpportunityStatus::parse(&plan.text.status).unwrap_or(OpportunityStatus::Open),
            problem: body.problem,
            links: body.links,
            source: body.source,
            evidence: body.evidence,
            measured_us: body.measured_us,
            score: body.score,
            history: body.history,
            created_by: plan.created_by.clone(),
            created_us: plan.created_us,
            updated_us: plan.updated_us,
        })
    }

    /// What the store keeps of it.
    pub fn text(&self) -> PlanText {
        let body = OpportunityBody {
            problem: self.problem.clone(),
            links: self.links.clone(),
            source: self.source.clone(),
            evidence: self.evidence.clone(),
            measured_us: self.measured_us,
            score: self.score,
            history: self.history.clone(),
        };
        PlanText {
            title: self.title.clone(),
            owner: self.owner.clone(),
            status: self.status.as_str().to_string(),
            body: serde_json::to_string(&body).unwrap_or_else(|_| "{}".into()),
        }
    }

    /// Problems with what a person wrote (the evidence is measured, not written).
    pub fn check(&self) -> Vec<Problem> {
        let mut problems = check_title(&self.title);
        problems.extend(check_text(&self.problem, "/problem"));
        problems.extend(self.score.check("/score"));
        if self.links.is_empty() {
            problems.push(Problem::new(
                "/links",
                "an opportunity concerns at least one journey or touchpoint",
            ));
        }
        if self.links.len() > MOST {
            problems.push(Problem::new(
                "/links",
                format!("at most {MOST} links to touchpoints"),
            ));
        }
        problems
    }
}

/// The baseline of an initiative's KPI, measured when the initiative started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Baseline {
    /// None when nothing was observed in the window.
    pub value: Option<f64>,
    /// The observations it rests on.
    pub n: usize,
    pub from_us: i64,
    pub to_us: i64,
    pub measured_us: i64,
}

/// A KPI an initiative is meant to move.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Goal {
    pub journey: String,
    /// The KPI's id in the journey.
    pub kpi: String,
    /// The initiative's target, in the KPI's unit as stored (shares as fractions, times in
    /// seconds); none: the KPI's own target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<Baseline>,
}

/// The journey version an initiative delivers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Delivery {
    pub journey: String,
    /// The deployed version (a to-be, usually); none: the first version deployed after the
    /// initiative started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
struct InitiativeBody {
    #[serde(default)]
    summary: String,
    #[serde(default)]
    departments: Vec<String>,
    /// Days, `YYYY-MM-DD`.
    #[serde(default)]
    start: Option<String>,
    #[serde(default)]
    target_date: Option<String>,
    #[serde(default)]
    opportunities: Vec<i64>,
    #[serde(default)]
    delivers: Option<Delivery>,
    /// Measure before and after this day instead of the delivery's deployment.
    #[serde(default)]
    measure_from: Option<String>,
    #[serde(default)]
    goals: Vec<Goal>,
    #[serde(default)]
    history: Vec<Change>,
}

/// An initiative, read.
#[derive(Debug, Clone, PartialEq)]
pub struct Initiative {
    pub id: i64,
    pub revision: i64,
    pub title: String,
    pub owner: String,
    pub status: InitiativeStatus,
    pub summary: String,
    pub departments: Vec<String>,
    pub start: Option<String>,
    pub target_date: Option<String>,
    pub opportunities: Vec<i64>,
    pub delivers: Option<Delivery>,
    pub measure_from: Option<String>,
    pub goals: Vec<Goal>,
    pub history: Vec<Change>,
    pub created_by: String,
    pub created_us: i64,
    pub updated_us: i64,
}

impl Initiative {
    pub fn read(plan: &Plan) -> Result<Self, String> {
        if plan.kind != PlanKind::Initiative {
            return Err(format!("plan {} is not an initiative", plan.id));
        }
        let body: InitiativeBody = serde_json::from_str(&plan.text.body)
            .map_err(|e| format!("initiative {}: {e}", plan.id))?;
        Ok(Initiative {
            id: plan.id,
            revision: plan.revision,
            title: plan.text.title.clone(),
            owner: plan.text.owner.clone(),
            status: InitiativeStatus::parse(&plan.text.status)
                .unwrap_or(InitiativeStatus::Proposed),
            summary: body.summary,
            departments: body.departments,
            start: body.start,
            target_date: body.target_date,
            opportunities: body.opportunities,
            delivers: body.delivers,
            measure_from: body.measure_from,
            goals: body.goals,
            history: body.history,
            created_by: plan.created_by.clone(),
            created_us: plan.created_us,
            updated_us: plan.updated_us,
        })
    }

    pub fn text(&self) -> PlanText {
        let body = InitiativeBody {
            summary: self.summary.clone(),
            departments: self.departments.clone(),
            start: self.start.clone(),
            target_date: self.target_date.clone(),
            opportunities: self.opportunities.clone(),
            delivers: self.delivers.clone(),
            measure_from: self.measure_from.clone(),
            goals: self.goals.clone(),
            history: self.history.clone(),
        };
        PlanText {
            title: self.title.clone(),
            owner: self.owner.clone(),
            status: self.status.as_str().to_string(),
            body: serde_json::to_string(&body).unwrap_or_else(|_| "{}".into()),
        }
    }

    /// Problems with what was written that need nothing but the initiative itself (journeys,
    /// KPIs, people and opportunities are checked against the store by the caller).
    pub fn check(&self) -> Vec<Problem> {
        let mut problems = check_title(&self.title);
        problems.extend(check_text(&self.summary, "/summary"));
        let start = check_day(self.start.as_deref(), "/start", &mut problems);
        let target = check_day(self.target_date.as_deref(), "/target_date", &mut problems);
        check_day(self.measure_from.as_deref(), "/measure_from", &mut problems);
        if let (Some(start), Some(target)) = (start, target)
            && target < start
        {
            problems.push(Problem::new(
                "/target_date",
                "the target date is before the start",
            ));
        }
        if self.status.started() && self.start.is_none() {
            problems.push(Problem::new(
                "/start",
                "a started initiative needs its start date (the KPIs' baselines end there)",
            ));
        }
        for (i, d) in self.departments.iter().enumerate() {
            if d.trim().is_empty() || d.chars().count() > TITLE_CHARS {
                problems.push(Problem::new(
                    format!("/departments/{i}"),
                    "a department is a name of 1 to 200 characters",
                ));
            }
        }
        for (list, n) in [
            ("/departments", self.departments.len()),
            ("/opportunities", self.opportunities.len()),
            ("/goals", self.goals.len()),
        ] {
            if n > MOST {
                problems.push(Problem::new(list, format!("at most {MOST}")));
            }
        }
        let mut seen = std::collections::HashSet::new();
        for (i, g) in self.goals.iter().enumerate() {
            if !seen.insert((&g.journey, &g.kpi)) {
                problems.push(Problem::new(
                    format!("/goals/{i}/kpi"),
                    format!("the KPI `{}` of `{}` is listed twice", g.kpi, g.journey),
                ));
            }
            if g.target.is_some_and(|t| !t.is_finite()) {
                problems.push(Problem::new(
                    format!("/goals/{i}/target"),
                    "the target is not a number",
                ));
            }
        }
        problems
    }

    /// The quarter it is planned in, `2026 Q4`: the target date's, else the start's.
    pub fn quarter(&self) -> Option<String> {
        let day = self.target_date.as_deref().or(self.start.as_deref())?;
        let (year, rest) = day.split_once('-')?;
        let month: u32 = rest.get(..2)?.parse().ok()?;
        Some(format!("{year} Q{}", month.div_ceil(3)))
    }
}

fn check_title(title: &str) -> Vec<Problem> {
    let n = title.trim().chars().count();
    if n == 0 {
        vec![Problem::new(
            "/title",
            "give it a title: the problem (or the work) in a few words",
        )]
    } else if n > TITLE_CHARS {
        vec![Problem::new(
            "/title",
            format!("the title has {n} characters; at most {TITLE_CHARS}"),
        )]
    } else {
        Vec::new()
    }
}

fn check_text(text: &str, field: &str) -> Vec<Problem> {
    let n = text.chars().count();
    if n > TEXT_CHARS {
        vec![Problem::new(
            field,
            format!("{n} characters; at most {TEXT_CHARS}"),
        )]
    } else {
        Vec::new()
    }
}

/// A day as `YYYY-MM-DD`, at midnight UTC in µs.
pub fn day_us(day: &str) -> Option<i64> {
    let day = day.trim();
    let shaped = day.len() == 10
        && day.char_indices().all(|(i, c)| {
            if i == 4 || i == 7 {
                c == '-'
            } else {
                c.is_ascii_digit()
            }
        });
    if !shaped {
        return None;
    }
    waymark_eventlog::time::parse_bound(day)
}

fn check_day(day: Option<&str>, field: &str, problems: &mut Vec<Problem>) -> Option<i64> {
    let day = day?;
    match day_us(day) {
        Some(us) => Some(us),
        None => {
            problems.push(Problem::new(
                field,
                format!("“{day}” is not a day; write it as 2026-12-31"),
            ));
            None
        }
    }
}

/// The day of a time, `YYYY-MM-DD`.
pub fn day_of(us: i64) -> String {
    waymark_eventlog::time::format_micros(us)
        .get(..10)
        .unwrap_or_default()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(kind: PlanKind, status: &str, body: &str) -> Plan {
        Plan {
            id: 7,
            kind,
            text: PlanText {
                title: "Forms are hard to find".into(),
                owner: "olivia".into(),
                status: status.into(),
                body: body.into(),
            },
            created_by: "maria".into(),
            created_us: 1,
            updated_by: "maria".into(),
            updated_us: 1,
            revision: 1,
        }
    }

    #[test]
    fn an_opportunity_reads_back_as_written() {
        let read = Opportunity::read(&plan(
            PlanKind::Opportunity,
            "planned",
            r#"{"problem":"p","links":[{"journey":"training","touchpoint":"find-form"}],"score":{"customer_value":5,"business_value":4,"effort":1}}"#,
        ))
        .expect("reads");
        assert_eq!(read.status, OpportunityStatus::Planned);
        assert_eq!(read.score.priority(), 9.0);
        assert_eq!(read.score.quadrant(), "quick win");
        let again = Opportunity::read(&Plan {
            text: read.text(),
            ..plan(PlanKind::Opportunity, "", "")
        })
        .expect("again");
        assert_eq!(again, read);
        assert!(
            Initiative::read(&plan(PlanKind::Opportunity, "open", "{}")).is_err(),
            "kinds are not mixed up"
        );
    }

    #[test]
    fn scores_rank_value_against_effort() {
        let s = |c, b, e| Score {
            customer_value: c,
            business_value: b,
            effort: e,
        };
        assert_eq!(s(1, 1, 5).priority(), 0.4);
        assert_eq!(s(5, 5, 1).priority(), 10.0);
        assert_eq!(s(4, 4, 5).quadrant(), "big bet");
        assert_eq!(s(2, 2, 1).quadrant(), "fill-in");
        assert_eq!(s(2, 3, 4).quadrant(), "money pit");
        let problems = s(0, 6, 3).check("");
        assert_eq!(
            problems
                .iter()
                .map(|p| p.field.as_str())
                .collect::<Vec<_>>(),
            ["/customer_value", "/business_value"]
        );
    }

    #[test]
    fn an_initiative_is_checked_and_placed_in_its_quarter() {
        let mut i = Initiative::read(&plan(PlanKind::Initiative, "active", "{}")).expect("reads");
        assert_eq!(
            i.check()
                .iter()
                .map(|p| p.field.as_str())
                .collect::<Vec<_>>(),
            ["/start"],
            "started without a start date"
        );
        i.start = Some("2026-11-03".into());
        i.target_date = Some("2026-10-01".into());
        i.goals = vec![
            Goal {
                journey: "training".into(),
                kpi: "time".into(),
                target: None,
                baseline: None,
            };
            2
        ];
        let fields: Vec<String> = i.check().into_iter().map(|p| p.field).collect();
        assert_eq!(fields, ["/target_date", "/goals/1/kpi"]);
        assert_eq!(i.quarter().as_deref(), Some("2026 Q4"));
        i.target_date = Some("31/12/2026".into());
        assert_eq!(i.check()[0].field, "/target_date");
        i.target_date = Some("2027-02-28".into());
        assert_eq!(i.quarter().as_deref(), Some("2027 Q1"));
    }
}
