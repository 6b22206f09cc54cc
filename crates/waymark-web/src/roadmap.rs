//! Initiatives and the roadmap in the web app: the roadmap by quarter and status, by owner or by
//! department (and as CSV); an initiative's page with each KPI's baseline, its value now and
//! before and after the version it delivers (the test, the interval, a sentence); and the form
//! that starts or changes one. What is done and who may is `waymark_server::improve` and
//! `waymark_server::access`, as for the API.

use std::collections::BTreeMap;

use axum::Form;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use waymark_analytics::journey::kpis;
use waymark_server::access::{may_change_plan, may_read_plan};
use waymark_server::improve::{self, GoalInput, GoalResult, InitiativeInput};
use waymark_server::plans::{Delivery, Initiative, InitiativeStatus, Opportunity};

use crate::Web;
use crate::analyses::{one, pairs};
use crate::layout::{page, problem, when};
use crate::plans::{blocking, caller, refusal};
use crate::session::Signed;
use crate::work::{csrf_of, form_field};

fn status_badge(status: InitiativeStatus) -> Markup {
    let class = match status {
        InitiativeStatus::Proposed => "",
        InitiativeStatus::Active => "open",
        InitiativeStatus::Done => "done",
        InitiativeStatus::Stopped => "warn",
    };
    html! { span class=(format!("badge {class}")) { (status.as_str()) } }
}

fn card(i: &Initiative) -> Markup {
    html! {
        li.card {
            h3 { a href=(format!("/initiatives/{}", i.id)) { (i.title) } }
            p.meta { (status_badge(i.status)) " · " (i.owner)
                @if !i.departments.is_empty() { " · " (i.departments.join(", ")) } }
            p.meta {
                (i.start.as_deref().unwrap_or("no start")) " → " (i.target_date.as_deref().unwrap_or("no target date"))
                " · " (i.goals.len()) @if i.goals.len() == 1 { " KPI" } @else { " KPIs" }
                " · " (i.opportunities.len()) @if i.opportunities.len() == 1 { " opportunity" } @else { " opportunities" }
            }
        }
    }
}

/// `GET /roadmap?by=quarter|owner|department`
pub(crate) async fn roadmap(
    State(web): State<Web>,
    signed: Signed,
    RawQuery(raw): RawQuery,
) -> Response {
    let asked = pairs(raw);
    let by = one(&asked, "by").unwrap_or("quarter").to_string();
    let all = match blocking(&web, |web| improve::initiatives(web.app.store.as_ref())).await {
        Ok(all) => all,
        Err(page) => return page,
    };
    let who = caller(&signed);
    let shown: Vec<Initiative> = all
        .into_iter()
        .filter(|i| may_read_plan(&who, &i.owner))
        .collect();
    if shown.is_empty() && !crate::plans::may_raise(&signed) {
        return crate::journeys::refused(&signed);
    }
    let mut groups: BTreeMap<String, Vec<&Initiative>> = BTreeMap::new();
    for i in &shown {
        match by.as_str() {
            "owner" => groups.entry(i.owner.clone()).or_default().push(i),
            "department" if i.departments.is_empty() => {
                groups.entry("(no department)".into()).or_default().push(i)
            }
            "department" => {
                for d in &i.departments {
                    groups.entry(d.clone()).or_default().push(i);
                }
            }
            _ => groups
                .entry(i.quarter().unwrap_or_else(|| "~ not dated".into()))
                .or_default()
                .push(i),
        }
    }
    let tab = |key: &str, label: &str| {
        html! {
            @if by == key { li { a href=(format!("/roadmap?by={key}")) aria-current="page" { (label) } } }
            @else { li { a href=(format!("/roadmap?by={key}")) { (label) } } }
        }
    };
    let content = html! {
        p { "Initiatives address " a href="/opportunities" { "opportunities" } " and are meant to move KPIs; each KPI's baseline is measured when the initiative starts, and it is measured before and after the journey version the initiative delivers." }
        nav.tabs aria-label="Group the roadmap" { ul { (tab("quarter", "By quarter and status")) (tab("owner", "By owner")) (tab("department", "By department")) } }
        div.actions {
            a.button href="/initiatives/new" { "Start an initiative" }
            a.button.secondary href="/roadmap.csv" download="roadmap.csv" { "Download as CSV" }
        }
        @if shown.is_empty() {
            (crate::ui::empty("No initiative yet.", Some(("/initiatives/new", "Start one"))))
        }
        @for (group, members) in &groups {
            section.roadmap-group {
                h2 { (group.trim_start_matches("~ ")) }
                @if by == "quarter" {
                    div.board {
                        @for status in InitiativeStatus::ALL {
                            @let here: Vec<&&Initiative> = members.iter().filter(|i| i.status == status).collect();
                            @if !here.is_empty() {
                                div.column {
                                    h3.column-title { (status.as_str()) " (" (here.len()) ")" }
                                    ul.cards { @for i in here { (card(i)) } }
                                }
                            }
                        }
                    }
                } @else {
                    ul.cards.grid { @for i in members { (card(i)) } }
                }
            }
        }
    };
    page("Roadmap", Some(&signed), content).into_response()
}

/// `GET /roadmap.csv`
pub(crate) async fn csv(State(web): State<Web>, signed: Signed) -> Response {
    let all = match blocking(&web, |web| improve::initiatives(web.app.store.as_ref())).await {
        Ok(all) => all,
        Err(page) => return page,
    };
    let who = caller(&signed);
    let shown: Vec<Initiative> = all
        .into_iter()
        .filter(|i| may_read_plan(&who, &i.owner))
        .collect();
    if shown.is_empty() && !crate::plans::may_raise(&signed) {
        return crate::journeys::refused(&signed);
    }
    waymark_server::plans_api::csv_response(waymark_server::plans_api::roadmap_csv(&shown))
}

/// What the form shows: posted values after a refusal, else the initiative's.
#[derive(Default)]
struct Shown {
    title: String,
    summary: String,
    owner: String,
    status: String,
    departments: String,
    start: String,
    target_date: String,
    opportunities: Vec<i64>,
    delivers: String,
    measure_from: String,
    goals: String,
}

impl Shown {
    fn of(i: &Initiative, results: &[GoalResult]) -> Shown {
        Shown {
            title: i.title.clone(),
            summary: i.summary.clone(),
            owner: i.owner.clone(),
            status: i.status.as_str().into(),
            departments: i.departments.join(", "),
            start: i.start.clone().unwrap_or_default(),
            target_date: i.target_date.clone().unwrap_or_default(),
            opportunities: i.opportunities.clone(),
            delivers: i
                .delivers
                .as_ref()
                .map(|d| {
                    format!(
                        "{}@{}",
                        d.journey,
                        d.version.map(|v| v.to_string()).unwrap_or_default()
                    )
                })
                .unwrap_or_default(),
            measure_from: i.measure_from.clone().unwrap_or_default(),
            goals: i
                .goals
                .iter()
                .map(|g| {
                    let unit = results
                        .iter()
                        .find(|r| r.goal.journey == g.journey && r.goal.kpi == g.kpi)
                        .and_then(|r| r.unit);
                    match (g.target, unit) {
                        (Some(t), Some(unit)) => format!(
                            "{}/{} {}",
                            g.journey,
                            g.kpi,
                            waymark_journey::kpi::format_value(unit, t)
                        ),
                        _ => format!("{}/{}", g.journey, g.kpi),
                    }
                })
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }

    fn posted(pairs: &[(String, String)]) -> Shown {
        let f = |k: &str| form_field(pairs, k).unwrap_or("").to_string();
        Shown {
            title: f("title"),
            summary: f("summary"),
            owner: f("owner"),
            status: f("status"),
            departments: f("departments"),
            start: f("start"),
            target_date: f("target_date"),
            opportunities: pairs
                .iter()
                .filter(|(k, _)| k == "opportunities")
                .filter_map(|(_, v)| v.parse().ok())
                .collect(),
            delivers: f("delivers"),
            measure_from: f("measure_from"),
            goals: f("goals"),
        }
    }

    /// The input the server checks.
    fn input(&self, revision: Option<i64>) -> InitiativeInput {
        // Chosen, or "none" (which removes it).
        let delivers = Some(
            self.delivers
                .split_once('@')
                .map(|(journey, version)| Delivery {
                    journey: journey.to_string(),
                    version: version.parse().ok(),
                }),
        );
        InitiativeInput {
            revision,
            title: Some(self.title.clone()),
            summary: Some(self.summary.replace("\r\n", "\n")),
            owner: Some(self.owner.clone()),
            status: Some(self.status.clone()),
            departments: Some(
                self.departments
                    .split(',')
                    .map(|d| d.trim().to_string())
                    .collect(),
            ),
            start: Some(self.start.clone()),
            target_date: Some(self.target_date.clone()),
            opportunities: Some(self.opportunities.clone()),
            delivers,
            measure_from: Some(self.measure_from.clone()),
            goals: Some(
                self.goals
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(|line| {
                        let (reference, target) = match line.split_once(char::is_whitespace) {
                            Some((r, t)) => (r, Some(t.trim().to_string())),
                            None => (line, None),
                        };
                        let (journey, kpi) = reference.split_once('/').unwrap_or((reference, ""));
                        GoalInput {
                            journey: journey.to_string(),
                            kpi: kpi.to_string(),
                            target,
                        }
                    })
                    .collect(),
            ),
        }
    }
}

/// What the form offers to choose from.
struct Choices {
    users: Vec<waymark_store::workflow::User>,
    opportunities: Vec<Opportunity>,
    /// (value `journey@version`, label).
    versions: Vec<(String, String)>,
    /// `journey/kpi` with the KPI's name.
    kpis: Vec<(String, String)>,
}

fn choices(web: &Web) -> Result<Choices, waymark_server::ApiError> {
    let store = web.app.store.as_ref();
    let internal = |e: waymark_store::StoreError| waymark_server::ApiError::internal(&e);
    let users = store.users().map_err(internal)?;
    let opportunities = improve::opportunities(store)?;
    let mut versions = Vec::new();
    let mut found = Vec::new();
    for j in store.journeys().map_err(internal)? {
        versions.push((
            format!("{}@", j.id),
            format!("{}: the next version deployed after the start", j.id),
        ));
        for v in store
            .journey_versions(&j.id)
            .map_err(internal)?
            .iter()
            .rev()
        {
            versions.push((
                format!("{}@{}", j.id, v.version),
                format!(
                    "{}: version {} ({}), deployed {}",
                    j.id,
                    v.version,
                    v.label,
                    when(v.deployed_us)
                ),
            ));
        }
        if let Some(model) = waymark_journey::check(&j.source).journey {
            for (k, ..) in kpis::definitions(&model) {
                if k.measure.is_some() {
                    found.push((format!("{}/{}", j.id, k.id), k.to_string()));
                }
            }
        }
    }
    Ok(Choices {
        users,
        opportunities,
        versions,
        kpis: found,
    })
}

fn form(
    signed: &Signed,
    action: &str,
    revision: Option<i64>,
    shown: &Shown,
    error: Option<&waymark_server::ApiError>,
    choices: &Choices,
) -> Markup {
    let anchor = |e: &waymark_server::ApiError| {
        let f = e.field.clone().unwrap_or_default();
        let first = f
            .trim_start_matches('/')
            .split('/')
            .next()
            .unwrap_or("")
            .to_string();
        match first.as_str() {
            "title" | "summary" | "owner" | "status" | "departments" | "start" | "target_date"
            | "opportunities" | "delivers" | "measure_from" | "goals" => first,
            _ => "title".into(),
        }
    };
    html! {
        @if let Some(error) = error {
            div.summary role="alert" tabindex="-1" {
                h2 { "Nothing was saved" }
                ul { li { a href=(format!("#{}", anchor(error))) { (error.message) } } }
            }
        }
        form.builder method="post" action=(action) {
            input type="hidden" name="csrf" value=(signed.csrf);
            @if let Some(r) = revision { input type="hidden" name="revision" value=(r); }
            div.field {
                label for="title" { "Title" }
                input #title name="title" type="text" value=(shown.title) required maxlength="200";
            }
            div.field {
                label for="summary" { "What it changes" }
                textarea #summary name="summary" rows="3" { (shown.summary) }
            }
            div.field {
                label for="owner" { "Owner" }
                select #owner name="owner" {
                    @for u in &choices.users { option value=(u.id) selected[u.id == shown.owner] { (u.name) " (" (u.id) ")" } }
                }
            }
            div.field {
                label for="departments" { "Departments involved" }
                span.hint #departments-hint { "Separated by commas: customer-success, finance, hr" }
                input #departments name="departments" type="text" value=(shown.departments) aria-describedby="departments-hint";
            }
            div.field {
                label for="status" { "Status" }
                span.hint #status-hint { "Becoming active measures each KPI's baseline over the 28 days before the start." }
                select #status name="status" aria-describedby="status-hint" {
                    @for s in InitiativeStatus::ALL { option value=(s.as_str()) selected[s.as_str() == shown.status] { (s.as_str()) } }
                }
            }
            div.field {
                label for="start" { "Start" }
                input #start name="start" type="date" value=(shown.start);
            }
            div.field {
                label for="target_date" { "Target date" }
                input #target_date name="target_date" type="date" value=(shown.target_date);
            }
            fieldset #opportunities {
                legend { "Opportunities it addresses" }
                @if choices.opportunities.is_empty() { p.hint { "None raised yet." } }
                @for o in &choices.opportunities {
                    @let id = format!("opportunity-{}", o.id);
                    div.choice {
                        input #(id) type="checkbox" name="opportunities" value=(o.id) checked[shown.opportunities.contains(&o.id)];
                        label for=(id) { (o.title) " (" (o.status.as_str()) ")" }
                    }
                }
            }
            div.field {
                label for="delivers" { "Journey version it delivers" }
                span.hint #delivers-hint { "Its KPIs are measured before and after this version was deployed." }
                select #delivers name="delivers" aria-describedby="delivers-hint" {
                    option value="" selected[shown.delivers.is_empty()] { "none" }
                    @for (value, label) in &choices.versions { option value=(value) selected[*value == shown.delivers] { (label) } }
                }
            }
            div.field {
                label for="measure_from" { "Or measure from (optional)" }
                input #measure_from name="measure_from" type="date" value=(shown.measure_from);
            }
            div.field {
                label for="goals" { "KPIs it is meant to move" }
                span.hint #goals-hint { "One per line: journey/kpi, then its target if it differs from the KPI's own (80%, 2d, 4.2)." }
                textarea #goals name="goals" rows="4" aria-describedby="goals-hint" { (shown.goals) }
                @if !choices.kpis.is_empty() {
                    details {
                        summary { "The KPIs to choose from" }
                        ul { @for (reference, line) in &choices.kpis { li { code { (reference) } " — " (line) } } }
                    }
                }
            }
            div.actions { button type="submit" { "Save" } }
        }
    }
}

/// `GET /initiatives/new?opportunity=ID`
pub(crate) async fn new(
    State(web): State<Web>,
    signed: Signed,
    RawQuery(raw): RawQuery,
) -> Response {
    if !crate::plans::may_raise(&signed) {
        return crate::journeys::refused(&signed);
    }
    let asked = pairs(raw);
    let choices = match blocking(&web, choices).await {
        Ok(c) => c,
        Err(page) => return page,
    };
    let shown = Shown {
        owner: signed.user.id.clone(),
        status: "proposed".into(),
        departments: signed.user.department.clone().unwrap_or_default(),
        opportunities: one(&asked, "opportunity")
            .and_then(|o| o.parse().ok())
            .into_iter()
            .collect(),
        ..Shown::default()
    };
    let content = html! {
        p.meta { a href="/roadmap" { "← Roadmap" } }
        (form(&signed, "/initiatives", None, &shown, None, &choices))
    };
    page("Start an initiative", Some(&signed), content).into_response()
}

/// `POST /initiatives`
pub(crate) async fn add(
    State(web): State<Web>,
    signed: Signed,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    if !crate::plans::may_raise(&signed) {
        return crate::journeys::refused(&signed);
    }
    if let Some(refused) = crate::session::check_csrf(&signed, csrf_of(&pairs)) {
        return refused;
    }
    let shown = Shown::posted(&pairs);
    match improve::add_initiative(&web.app, &caller(&signed), shown.input(None)).await {
        Ok(i) => Redirect::to(&format!("/initiatives/{}?saved=1", i.id)).into_response(),
        Err(error) if error.status.is_server_error() => crate::layout::failure(&error.message),
        Err(error) => {
            let choices = match blocking(&web, choices).await {
                Ok(c) => c,
                Err(page) => return page,
            };
            let content = html! {
                p.meta { a href="/roadmap" { "← Roadmap" } }
                (form(&signed, "/initiatives", None, &shown, Some(&error), &choices))
            };
            let mut response = page("Start an initiative", Some(&signed), content).into_response();
            *response.status_mut() = error.status;
            response
        }
    }
}

fn goal_card(r: &GoalResult) -> Markup {
    let shown = |v: Option<f64>| match (v, r.unit) {
        (Some(v), Some(unit)) => kpis::show(unit, v),
        _ => "–".into(),
    };
    let target = r.goal.target.or(r.kpi.as_ref().and_then(|k| k.target));
    let name = r
        .kpi
        .as_ref()
        .map_or(r.goal.kpi.clone(), |k| k.name.clone());
    html! {
        li.card {
            h3 { a href=(format!("/journeys/{}/kpis", r.goal.journey)) { (name) } }
            p.meta { (r.goal.journey) }
            dl.facts {
                dt { "Target" } dd { (shown(target)) }
                dt { "Baseline" } dd {
                    @match &r.goal.baseline {
                        Some(b) => { (shown(b.value)) " (" (b.n) @if b.n == 1 { " observation" } @else { " observations" } ", the 28 days to " (when(b.to_us).get(..10).unwrap_or_default()) ")" },
                        None => "measured when the initiative starts",
                    }
                }
                dt { "The last 28 days" } dd { (shown(r.now.map(|(v, _)| v))) @if let Some((_, n)) = r.now { " (" (n) ")" } }
            }
            p { strong { (r.words) } }
        }
    }
}

/// `GET /initiatives/{id}`
pub(crate) async fn show(
    State(web): State<Web>,
    signed: Signed,
    Path(id): Path<i64>,
    RawQuery(raw): RawQuery,
) -> Response {
    let saved = one(&pairs(raw), "saved").is_some();
    render(&web, &signed, id, None, saved).await
}

async fn render(
    web: &Web,
    signed: &Signed,
    id: i64,
    refused: Option<(Shown, waymark_server::ApiError)>,
    saved: bool,
) -> Response {
    let who = caller(signed);
    let reads = crate::plans::may_raise(signed);
    let found = blocking(web, move |web| {
        let Some(i) = improve::initiative(web.app.store.as_ref(), id)?
            .filter(|i| may_read_plan(&who, &i.owner))
        else {
            return Ok(None);
        };
        // The KPIs' figures and the form's choices name journeys and other plans: for those who
        // may read journeys.
        if !reads {
            let choices = Choices {
                users: Vec::new(),
                opportunities: Vec::new(),
                versions: Vec::new(),
                kpis: Vec::new(),
            };
            return Ok(Some((i, (None, Vec::new()), choices)));
        }
        let results = improve::results(&web.app, &i)?;
        Ok(Some((i, results, choices(web)?)))
    })
    .await;
    let (i, (split, results), choices) = match found {
        Ok(Some(found)) => found,
        Ok(None) => {
            return problem(
                StatusCode::NOT_FOUND,
                "No such initiative",
                "There is no initiative at this address, or it is not one you may read.",
                Some(signed),
            );
        }
        Err(page) => return page,
    };
    let editable = reads && may_change_plan(&caller(signed), &i.owner, &i.created_by);
    let addressed: Vec<&Opportunity> = choices
        .opportunities
        .iter()
        .filter(|o| i.opportunities.contains(&o.id))
        .filter(|o| may_read_plan(&caller(signed), &o.owner))
        .collect();
    let (shown, error) = match refused {
        Some((shown, error)) => (shown, Some(error)),
        None => (Shown::of(&i, &results), None),
    };
    let content = html! {
        p.meta { a href="/roadmap" { "← Roadmap" } }
        @if saved { p.notice.saved role="status" { "Saved." } }
        p { (status_badge(i.status)) }
        dl.facts {
            dt { "Owner" } dd { (choices.users.iter().find(|u| u.id == i.owner).map_or(i.owner.clone(), |u| u.name.clone())) }
            dt { "Departments" } dd { (if i.departments.is_empty() { "none named".to_string() } else { i.departments.join(", ") }) }
            dt { "Dates" } dd { (i.start.as_deref().unwrap_or("no start")) " → " (i.target_date.as_deref().unwrap_or("no target date")) }
            dt { "Delivers" } dd { (i.delivers.as_ref().map(improve::delivered).unwrap_or_else(|| "no journey version named".into())) }
            dt { "Measured" } dd { (split.as_ref().map(|s| s.words.clone()).unwrap_or_else(|| "not yet: before and after starts when the version it delivers is deployed, or from a day set below".into())) }
            @if !i.summary.is_empty() { dt { "What it changes" } dd { (i.summary) } }
        }
        h2 { "KPIs" }
        @if results.is_empty() {
            p { "No KPI is named yet: say which KPIs it is meant to move." }
        } @else {
            ul.cards.grid { @for r in &results { (goal_card(r)) } }
        }
        h2 { "Opportunities it addresses" }
        @if addressed.is_empty() { p { "None yet." } }
        @else { ul { @for o in &addressed { li { a href=(format!("/opportunities/{}", o.id)) { (o.title) } " (" (o.status.as_str()) ")" } } } }
        @if editable {
            details.change open[error.is_some()] {
                summary { h2 #change { "Change it" } }
                (form(signed, &format!("/initiatives/{}", i.id), Some(i.revision), &shown, error.as_ref(), &choices))
            }
        }
        h2 { "History" }
        ol.history { @for c in i.history.iter().rev() { li { (c.by) " " (c.words) ", " (when(c.at_us)) } } }
    };
    page(&i.title, Some(signed), content).into_response()
}

/// `POST /initiatives/{id}`
pub(crate) async fn change(
    State(web): State<Web>,
    signed: Signed,
    Path(id): Path<i64>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    if let Some(refused) = crate::session::check_csrf(&signed, csrf_of(&pairs)) {
        return refused;
    }
    let shown = Shown::posted(&pairs);
    let revision = form_field(&pairs, "revision").and_then(|r| r.trim().parse().ok());
    match improve::change_initiative(&web.app, &caller(&signed), id, shown.input(revision)).await {
        Ok(_) => Redirect::to(&format!("/initiatives/{id}?saved=1")).into_response(),
        Err(error) => match refusal(&signed, "initiative", &error) {
            Some(page) => page,
            None => {
                let mut response =
                    render(&web, &signed, id, Some((shown, error.clone())), false).await;
                *response.status_mut() = error.status;
                response
            }
        },
    }
}
