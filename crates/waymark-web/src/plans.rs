//! Opportunities in the web app: raised in one click from a touchpoint's page, a funnel step or
//! a comment (the evidence measured on the server as the button is pressed), listed by priority,
//! and each on a page of its own: its evidence, the initiatives addressing it, its history, and
//! a form for its owner, status, score and links. What is done and who may is
//! `waymark_server::improve` and `waymark_server::access`, as for the API.

use axum::Form;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use waymark_server::access::{Caller, may_change_plan, may_read_plan};
use waymark_server::improve::{self, CommentAsked, FunnelAsked, OpportunityChange, Raise};
use waymark_server::plans::{Initiative, Link, Opportunity, OpportunityStatus, Score};

use crate::Web;
use crate::analyses::{one, pairs};
use crate::layout::{page, problem, when};
use crate::session::Signed;
use crate::work::{csrf_of, form_field};

pub(crate) fn caller(signed: &Signed) -> Caller {
    Caller::Person(signed.user.clone())
}

/// Whether the person may raise opportunities (whoever reads journeys).
pub(crate) fn may_raise(signed: &Signed) -> bool {
    crate::journeys::may_read(signed)
}

/// The one-click form that raises an opportunity: `fields` say where from; the evidence is
/// measured by the server.
pub(crate) fn raise_button(signed: &Signed, fields: &[(&str, String)], label: &str) -> Markup {
    html! {
        form.inline method="post" action="/opportunities" {
            input type="hidden" name="csrf" value=(signed.csrf);
            @for (name, value) in fields {
                input type="hidden" name=(name) value=(value);
            }
            @if !fields.iter().any(|(name, _)| *name == "href") {
                input type="hidden" name="href" value=(signed.path);
            }
            button.secondary type="submit" { (label) }
        }
    }
}

/// Runs `call` on the blocking pool for a page: its error becomes a page (the events still being
/// read, a sentence saying so).
pub(crate) async fn blocking<T: Send + 'static>(
    web: &Web,
    call: impl FnOnce(&Web) -> Result<T, waymark_server::ApiError> + Send + 'static,
) -> Result<T, Response> {
    let web2 = web.clone();
    match tokio::task::spawn_blocking(move || call(&web2)).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) if error.status == StatusCode::SERVICE_UNAVAILABLE => Err(problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "The events are still being read",
            "Try again in a few seconds.",
            None,
        )),
        Ok(Err(error)) => Err(crate::layout::failure(&error.message)),
        Err(error) => Err(crate::layout::failure(&error)),
    }
}

/// The page for a change of a plan (`what`: opportunity, initiative) refused for who asked or by
/// a failure; `None` when it was refused for what was written: the form comes back with it.
pub(crate) fn refusal(
    signed: &Signed,
    what: &str,
    error: &waymark_server::ApiError,
) -> Option<Response> {
    match error.status {
        StatusCode::SERVICE_UNAVAILABLE => None,
        status if status.is_server_error() => Some(crate::layout::failure(&error.message)),
        StatusCode::NOT_FOUND => Some(problem(
            StatusCode::NOT_FOUND,
            &format!("No such {what}"),
            &format!("There is no {what} at this address, or it is not one you may read."),
            Some(signed),
        )),
        StatusCode::FORBIDDEN => Some(problem(
            StatusCode::FORBIDDEN,
            "Not yours to change",
            &format!("{}.", error.message),
            Some(signed),
        )),
        _ => None,
    }
}

pub(crate) fn status_badge(status: OpportunityStatus) -> Markup {
    let class = match status {
        OpportunityStatus::Open => "open",
        OpportunityStatus::Planned => "warn",
        OpportunityStatus::Solved => "done",
        OpportunityStatus::Dismissed => "",
    };
    html! { span class=(format!("badge {class}")) { (status.as_str()) } }
}

fn score_words(s: Score) -> String {
    format!(
        "priority {:.1} — {} (customer value {}, business value {}, effort {}, each of 5)",
        s.priority(),
        s.quadrant(),
        s.customer_value,
        s.business_value,
        s.effort
    )
}

fn link_words(link: &Link) -> String {
    match &link.touchpoint {
        Some(t) => format!("{} · {t}", link.journey),
        None => link.journey.clone(),
    }
}

fn link_href(link: &Link) -> String {
    match &link.touchpoint {
        Some(t) => format!("/journeys/{}/touchpoints/{t}", link.journey),
        None => format!("/journeys/{}", link.journey),
    }
}

/// `GET /opportunities`: the ones the person may read, the highest priority first.
pub(crate) async fn list(
    State(web): State<Web>,
    signed: Signed,
    RawQuery(raw): RawQuery,
) -> Response {
    let asked = pairs(raw);
    let wanted = one(&asked, "status").and_then(OpportunityStatus::parse);
    let all = match blocking(&web, |web| improve::opportunities(web.app.store.as_ref())).await {
        Ok(all) => all,
        Err(page) => return page,
    };
    let who = caller(&signed);
    let readable: Vec<&Opportunity> = all
        .iter()
        .filter(|o| may_read_plan(&who, &o.owner))
        .collect();
    if readable.is_empty() && !may_raise(&signed) {
        return crate::journeys::refused(&signed);
    }
    let count = |s: OpportunityStatus| readable.iter().filter(|o| o.status == s).count();
    let shown: Vec<&&Opportunity> = readable
        .iter()
        .filter(|o| wanted.is_none_or(|w| o.status == w))
        .collect();
    let content = html! {
        p { "Problems worth solving, each with the evidence measured when it was raised. Raise one from a touchpoint's page, a funnel step or a comment; plan it in an "
            a href="/roadmap" { "initiative" } "." }
        (crate::ui::stats("Opportunities by status", &OpportunityStatus::ALL.iter().map(|&s| crate::ui::Stat {
            figure: count(s).to_string(),
            label: s.as_str().into(),
            href: Some(format!("/opportunities?status={}", s.as_str())),
            warn: false,
        }).collect::<Vec<_>>()))
        @if wanted.is_some() {
            p { a href="/opportunities" { "Show every status" } }
        }
        @if shown.is_empty() {
            (crate::ui::empty("No opportunity here yet. Open a journey, then a touchpoint, and press “Raise an opportunity”.", Some(("/journeys", "Journeys"))))
        } @else {
            ul.cards {
                @for o in shown {
                    li.card {
                        h2 { a href=(format!("/opportunities/{}", o.id)) { (o.title) } }
                        p.meta { (status_badge(o.status)) " " span.badge { (o.score.quadrant()) } " priority " (format!("{:.1}", o.score.priority())) " · owner " (o.owner) " · " (o.evidence.len()) " facts measured " (o.measured_us.map(when).unwrap_or_default()) }
                        p.meta { @for (k, l) in o.links.iter().enumerate() { @if k > 0 { ", " } (link_words(l)) } }
                    }
                }
            }
        }
    };
    page("Opportunities", Some(&signed), content).into_response()
}

/// `POST /opportunities`: raises one from where the button was.
pub(crate) async fn raise(
    State(web): State<Web>,
    signed: Signed,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    if !may_raise(&signed) {
        return crate::journeys::refused(&signed);
    }
    if let Some(refused) = crate::session::check_csrf(&signed, csrf_of(&pairs)) {
        return refused;
    }
    let field = |key: &str| form_field(&pairs, key).map(|v| v.trim().to_string());
    let steps: Vec<String> = pairs
        .iter()
        .filter(|(k, v)| k == "steps" && !v.is_empty())
        .map(|(_, v)| v.clone())
        .collect();
    let asked = Raise {
        journey: field("journey").unwrap_or_default(),
        touchpoint: field("touchpoint").filter(|t| !t.is_empty()),
        funnel: field("step")
            .and_then(|s| s.parse().ok())
            .map(|step| FunnelAsked {
                steps: steps.clone(),
                step,
                window: field("window"),
                order: field("order"),
            }),
        comment: match (field("case"), field("at_us").and_then(|t| t.parse().ok())) {
            (Some(case), Some(at_us)) => Some(CommentAsked { case, at_us }),
            _ => None,
        },
        href: field("href"),
        ..Raise::default()
    };
    let back = asked
        .href
        .clone()
        .unwrap_or_else(|| "/opportunities".into());
    match improve::raise(&web.app, &caller(&signed), asked).await {
        Ok(o) => Redirect::to(&format!("/opportunities/{}?raised=1", o.id)).into_response(),
        Err(error) if error.status == StatusCode::INTERNAL_SERVER_ERROR => {
            crate::layout::failure(&error.message)
        }
        Err(error) => problem(
            error.status,
            "The opportunity was not raised",
            &format!("{}. Go back to {back} and try again.", error.message),
            Some(&signed),
        ),
    }
}

/// What the edit form shows: the posted values after a refusal, else the stored ones.
struct Shown {
    title: String,
    problem: String,
    owner: String,
    status: String,
    customer: String,
    business: String,
    effort: String,
    links: String,
}

impl Shown {
    fn of(o: &Opportunity) -> Shown {
        Shown {
            title: o.title.clone(),
            problem: o.problem.clone(),
            owner: o.owner.clone(),
            status: o.status.as_str().into(),
            customer: o.score.customer_value.to_string(),
            business: o.score.business_value.to_string(),
            effort: o.score.effort.to_string(),
            links: o.links.iter().map(link_line).collect::<Vec<_>>().join("\n"),
        }
    }

    fn posted(pairs: &[(String, String)]) -> Shown {
        let f = |k: &str| form_field(pairs, k).unwrap_or("").to_string();
        Shown {
            title: f("title"),
            problem: f("problem"),
            owner: f("owner"),
            status: f("status"),
            customer: f("customer_value"),
            business: f("business_value"),
            effort: f("effort"),
            links: f("links"),
        }
    }
}

/// A link as one line of the form: `journey` or `journey/touchpoint`.
fn link_line(link: &Link) -> String {
    match &link.touchpoint {
        Some(t) => format!("{}/{t}", link.journey),
        None => link.journey.clone(),
    }
}

/// `GET /opportunities/{id}`
pub(crate) async fn show(
    State(web): State<Web>,
    signed: Signed,
    Path(id): Path<i64>,
    RawQuery(raw): RawQuery,
) -> Response {
    let asked = pairs(raw);
    let notice = if one(&asked, "raised").is_some() {
        Some(
            "Raised, with the evidence measured just now. Give it an owner, a score and a problem statement.",
        )
    } else if one(&asked, "saved").is_some() {
        Some("Saved.")
    } else {
        None
    };
    render(&web, &signed, id, None, notice).await
}

async fn render(
    web: &Web,
    signed: &Signed,
    id: i64,
    refused: Option<(Shown, waymark_server::ApiError)>,
    notice: Option<&str>,
) -> Response {
    let found = blocking(web, move |web| {
        let store = web.app.store.as_ref();
        Ok((
            improve::opportunity(store, id)?,
            improve::initiatives(store)?,
            store
                .users()
                .map_err(|e| waymark_server::ApiError::internal(&e))?,
        ))
    })
    .await;
    let (found, initiatives, users) = match found {
        Ok(found) => found,
        Err(page) => return page,
    };
    let who = caller(signed);
    let Some(o) = found.filter(|o| may_read_plan(&who, &o.owner)) else {
        return problem(
            StatusCode::NOT_FOUND,
            "No such opportunity",
            "There is no opportunity at this address, or it is not one you may read.",
            Some(signed),
        );
    };
    let addressing: Vec<&Initiative> = initiatives
        .iter()
        .filter(|i| i.opportunities.contains(&o.id))
        .filter(|i| may_read_plan(&who, &i.owner))
        .collect();
    let editable = may_raise(signed) && may_change_plan(&who, &o.owner, &o.created_by);
    let owner_name = users
        .iter()
        .find(|u| u.id == o.owner)
        .map_or(o.owner.clone(), |u| u.name.clone());
    let content = html! {
        p.meta { a href="/opportunities" { "← Opportunities" } }
        @if let Some(notice) = notice { p.notice.saved role="status" { (notice) } }
        p { (status_badge(o.status)) " " span.badge { (o.score.quadrant()) } }
        dl.facts {
            dt { "Owner" } dd { (owner_name) }
            dt { "Score" } dd { (score_words(o.score)) }
            dt { "Where" } dd { @for (k, l) in o.links.iter().enumerate() { @if k > 0 { ", " } a href=(link_href(l)) { (link_words(l)) } } }
            @if let Some(source) = &o.source {
                dt { "Raised from" } dd {
                    @match &source.href { Some(href) => a href=(href) { (source.words) }, None => (source.words) }
                    " by " (o.created_by) ", " (when(o.created_us))
                }
            }
            @if !o.problem.is_empty() { dt { "The problem" } dd { (o.problem) } }
        }
        h2 { "Evidence" }
        @if o.evidence.is_empty() {
            p { "Nothing was measured here when it was raised." }
        } @else {
            p.meta { "As measured " (o.measured_us.map(when).unwrap_or_default()) ". The figures stay as they were then; the touchpoint's page has them now." }
            ul.evidence {
                @for e in &o.evidence {
                    li { span.badge { (e.measure) } " " (e.words) }
                }
            }
        }
        h2 { "Initiatives" }
        @if addressing.is_empty() {
            p { "No initiative addresses it yet. " a href=(format!("/initiatives/new?opportunity={}", o.id)) { "Start one" } }
        } @else {
            ul { @for i in &addressing { li { a href=(format!("/initiatives/{}", i.id)) { (i.title) } " (" (i.status.as_str()) ")" } } }
        }
        @if editable {
            details.change open[refused.is_some()] {
                summary { h2 #change { "Change it" } }
                (form(signed, &o, refused, &users))
            }
        }
        h2 { "History" }
        ol.history { @for c in o.history.iter().rev() { li { (c.by) " " (c.words) ", " (when(c.at_us)) } } }
    };
    page(&o.title, Some(signed), content).into_response()
}

fn form(
    signed: &Signed,
    o: &Opportunity,
    refused: Option<(Shown, waymark_server::ApiError)>,
    users: &[waymark_store::workflow::User],
) -> Markup {
    let (shown, error) = match refused {
        Some((shown, error)) => (shown, Some(error)),
        None => (Shown::of(o), None),
    };
    let field_of = |e: &waymark_server::ApiError| -> String {
        let f = e.field.clone().unwrap_or_default();
        let f = f.trim_start_matches('/');
        match f.split('/').next().unwrap_or("") {
            "customer_value" | "business_value" | "effort" | "title" | "problem" | "owner"
            | "status" => f.split('/').next().unwrap_or("").to_string(),
            "links" => "links".into(),
            _ => "title".into(),
        }
    };
    let scale = |name: &str, label: &str, value: &str| {
        html! {
            div.field {
                label for=(name) { (label) }
                select #(name) name=(name) {
                    @for v in 1..=5 { option value=(v) selected[value == v.to_string()] { (v) } }
                }
            }
        }
    };
    html! {
        @if let Some(error) = &error {
            div.summary role="alert" tabindex="-1" {
                h2 { "Nothing was saved" }
                ul { li { a href=(format!("#{}", field_of(error))) { (error.message) } } }
            }
        }
        form.builder method="post" action=(format!("/opportunities/{}", o.id)) {
            input type="hidden" name="csrf" value=(signed.csrf);
            input type="hidden" name="revision" value=(o.revision);
            div.field {
                label for="title" { "Title" }
                input #title name="title" type="text" value=(shown.title) required maxlength="200";
            }
            div.field {
                label for="problem" { "The problem" }
                span.hint #problem-hint { "Who it hurts, when, and what it costs them and us." }
                textarea #problem name="problem" rows="4" aria-describedby="problem-hint" { (shown.problem) }
            }
            div.field {
                label for="owner" { "Owner" }
                select #owner name="owner" {
                    @for u in users { option value=(u.id) selected[u.id == shown.owner] { (u.name) " (" (u.id) ")" } }
                }
            }
            div.field {
                label for="status" { "Status" }
                select #status name="status" {
                    @for s in OpportunityStatus::ALL { option value=(s.as_str()) selected[s.as_str() == shown.status] { (s.as_str()) } }
                }
            }
            fieldset {
                legend { "Score, each 1 (low) to 5 (high)" }
                (scale("customer_value", "Value to the customer", &shown.customer))
                (scale("business_value", "Value to the business", &shown.business))
                (scale("effort", "Effort", &shown.effort))
            }
            div.field {
                label for="links" { "Where it is felt" }
                span.hint #links-hint { "One per line: a journey, or journey/touchpoint (ids)." }
                textarea #links name="links" rows="3" aria-describedby="links-hint" { (shown.links) }
            }
            div.actions { button type="submit" { "Save" } }
        }
    }
}

/// Reads the links textarea.
fn read_links(text: &str) -> Vec<Link> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| match l.split_once('/') {
            Some((j, t)) => Link {
                journey: j.trim().to_string(),
                touchpoint: Some(t.trim().to_string()),
            },
            None => Link {
                journey: l.to_string(),
                touchpoint: None,
            },
        })
        .collect()
}

/// `POST /opportunities/{id}`
pub(crate) async fn change(
    State(web): State<Web>,
    signed: Signed,
    Path(id): Path<i64>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    if let Some(refused) = crate::session::check_csrf(&signed, csrf_of(&pairs)) {
        return refused;
    }
    let f = |k: &str| form_field(&pairs, k).unwrap_or("").to_string();
    let number = |k: &str| f(k).trim().parse::<u8>().unwrap_or(0);
    let change = OpportunityChange {
        revision: f("revision").trim().parse().unwrap_or(-1),
        title: Some(f("title")),
        problem: Some(f("problem").replace("\r\n", "\n")),
        owner: Some(f("owner")),
        status: Some(f("status")),
        score: Some(Score {
            customer_value: number("customer_value"),
            business_value: number("business_value"),
            effort: number("effort"),
        }),
        links: Some(read_links(&f("links"))),
    };
    match improve::change_opportunity(&web.app, &caller(&signed), id, change).await {
        Ok(_) => Redirect::to(&format!("/opportunities/{id}?saved=1")).into_response(),
        Err(error) => match refusal(&signed, "opportunity", &error) {
            Some(page) => page,
            None => {
                let mut response = render(
                    &web,
                    &signed,
                    id,
                    Some((Shown::posted(&pairs), error.clone())),
                    None,
                )
                .await;
                *response.status_mut() = error.status;
                response
            }
        },
    }
}

/// The link to raise from, for pages that show a journey's figures.
pub(crate) fn from_touchpoint(signed: &Signed, journey: &str, touchpoint: &str) -> Markup {
    if !may_raise(signed) {
        return html! {};
    }
    raise_button(
        signed,
        &[
            ("journey", journey.to_string()),
            ("touchpoint", touchpoint.to_string()),
        ],
        "Raise an opportunity here",
    )
}

/// The same, for one survey comment (who wrote it and when identify it; neither is kept).
pub(crate) fn from_comment(
    signed: &Signed,
    journey: &str,
    touchpoint: &str,
    case: &str,
    at_us: i64,
) -> Markup {
    if !may_raise(signed) {
        return html! {};
    }
    raise_button(
        signed,
        &[
            ("journey", journey.to_string()),
            ("touchpoint", touchpoint.to_string()),
            ("case", case.to_string()),
            ("at_us", at_us.to_string()),
        ],
        "Raise an opportunity from this comment",
    )
}

/// The same, for step `asked.step` (1-based) of a funnel, asked again at `href`.
pub(crate) fn from_funnel_step(
    signed: &Signed,
    journey: &str,
    asked: &FunnelAsked,
    href: String,
    label: &str,
) -> Markup {
    if !may_raise(signed) {
        return html! {};
    }
    let mut fields = vec![
        ("href", href),
        ("journey", journey.to_string()),
        ("step", asked.step.to_string()),
        ("window", asked.window.clone().unwrap_or_default()),
        ("order", asked.order.clone().unwrap_or_default()),
    ];
    fields.extend(asked.steps.iter().map(|s| ("steps", s.clone())));
    raise_button(signed, &fields, label)
}
