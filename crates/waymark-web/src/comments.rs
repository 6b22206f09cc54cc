//! Comments on a journey, a stage or a touchpoint, for everyone who reads journeys: threads that
//! are open or resolved, shown under the map and as badges on its cards. Mentioning someone in
//! the directory (`@chris`) emails them a link to the thread, when they may read journeys.

use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};

use waymark_journey::Journey;
use waymark_map::{Mark, Marks, Tone};
use waymark_store::{JourneyComment, NewComment};

use crate::Web;
use crate::journeys::{may_read, refused};
use crate::layout::{problem, stored};
use crate::people::Names;
use crate::session::Signed;

/// The longest comment kept, in characters.
const LONGEST: usize = 4000;
/// The most people one comment emails: a comment is not a mailing list.
const MENTIONS: usize = 10;

/// What a comment is about, in words.
fn about(journey: &Journey, target: &str) -> String {
    match target.split_once(':') {
        Some(("stage", id)) => journey
            .stages
            .iter()
            .find(|s| s.id == id)
            .map_or_else(|| format!("stage {id}"), |s| format!("stage {}", s.name)),
        Some(("touchpoint", id)) => journey
            .touchpoint(id)
            .map_or_else(|| format!("touchpoint {id}"), |t| t.name.clone()),
        _ => "the whole journey".to_string(),
    }
}

/// Badges for the cards with open threads: "1 comment", "3 comments".
pub(crate) fn marks(comments: &[JourneyComment]) -> Marks {
    let mut counts: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for thread in comments
        .iter()
        .filter(|c| c.comment.parent.is_none() && c.resolved.is_none())
    {
        if let Some(id) = thread.comment.target.strip_prefix("touchpoint:") {
            *counts.entry(id).or_default() += 1;
        }
    }
    counts
        .into_iter()
        .map(|(id, n)| {
            let text = if n == 1 {
                "1 comment".to_string()
            } else {
                format!("{n} comments")
            };
            (
                id.to_string(),
                Mark {
                    text,
                    tone: Tone::Note,
                },
            )
        })
        .collect()
}

/// The people a comment mentions: `@id` words, each once.
pub(crate) fn mentioned(body: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    for word in body.split_whitespace() {
        let Some(rest) = word.strip_prefix('@') else {
            continue;
        };
        let id: String = rest
            .trim_end_matches(|c: char| !(c.is_ascii_alphanumeric()))
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            .collect();
        if !id.is_empty() && !found.contains(&id) {
            found.push(id);
        }
    }
    found
}

/// The comments section of a journey's page: open threads first, each with its replies, a reply
/// form and resolve; then a form to start a thread.
pub(crate) fn section(
    signed: &Signed,
    id: &str,
    journey: &Journey,
    comments: &[JourneyComment],
    names: &Names,
) -> Markup {
    let mut threads: Vec<&JourneyComment> = comments
        .iter()
        .filter(|c| c.comment.parent.is_none())
        .collect();
    // Open ones first, newest first within each.
    threads.sort_by_key(|t| (t.resolved.is_some(), std::cmp::Reverse(t.id)));
    let open = threads.iter().filter(|t| t.resolved.is_none()).count();
    html! {
        section.comments aria-labelledby="comments" {
            h2 id="comments" { "Comments" @if open > 0 { " (" (open) " open)" } }
            @if threads.is_empty() {
                p.meta { "No comments yet. Start a thread below: on the whole journey, a stage or a touchpoint." }
            }
            @for thread in &threads {
                @let replies: Vec<&JourneyComment> = comments.iter().filter(|c| c.comment.parent == Some(thread.id)).collect();
                article.thread.resolved[thread.resolved.is_some()] id=(format!("comment-{}", thread.id)) {
                    p.meta {
                        "On " strong { (about(journey, &thread.comment.target)) }
                        @if let Some((by, at)) = &thread.resolved {
                            " · " span.badge.done { "resolved" } " by " (names.of(by)) ", " (crate::layout::when(*at))
                        } @else {
                            " · " span.badge.open { "open" }
                        }
                    }
                    @for comment in std::iter::once(*thread).chain(replies.iter().copied()) {
                        div.comment id=(format!("comment-{}", comment.id)) {
                            p.meta { strong { (names.of(&comment.comment.author)) } " · " (crate::layout::when(comment.comment.at_us)) }
                            p.body { (comment.comment.body) }
                        }
                    }
                    form method="post" action=(format!("/journeys/{id}/comments")) {
                        input type="hidden" name="csrf" value=(signed.csrf);
                        input type="hidden" name="parent" value=(thread.id);
                        div.field {
                            label for=(format!("reply-{}", thread.id)) { "Reply" }
                            textarea id=(format!("reply-{}", thread.id)) name="body" rows="2" required {}
                        }
                        div.actions {
                            button type="submit" { "Reply" }
                            @if thread.resolved.is_some() {
                                button.secondary type="submit" name="reopen" value="true" formaction=(format!("/journeys/{id}/comments/{}/resolve", thread.id)) formnovalidate { "Open again" }
                            } @else {
                                button.secondary type="submit" formaction=(format!("/journeys/{id}/comments/{}/resolve", thread.id)) formnovalidate { "Resolve" }
                            }
                        }
                    }
                }
            }
            form.builder method="post" action=(format!("/journeys/{id}/comments")) {
                input type="hidden" name="csrf" value=(signed.csrf);
                h3 { "Start a thread" }
                div.field {
                    label for="comment-on" { "About" }
                    select #comment-on name="target" {
                        option value="" { "The whole journey" }
                        @for stage in &journey.stages {
                            option value=(format!("stage:{}", stage.id)) { "Stage: " (stage.name) }
                            @for t in &stage.touchpoints {
                                option value=(format!("touchpoint:{}", t.id)) { "Touchpoint: " (t.name) }
                            }
                        }
                    }
                }
                div.field {
                    label for="comment-body" { "Comment" }
                    textarea #comment-body name="body" rows="3" required aria-describedby="comment-hint" {}
                    small.meta #comment-hint { "Mention people with @ and their id, e.g. @chris: they are emailed a link to the thread (up to ten people, who read journeys)." }
                }
                button type="submit" { "Comment" }
            }
        }
    }
}

/// `POST /journeys/{id}/comments`: a new thread, or a reply (`parent`).
pub(crate) async fn add(
    State(web): State<Web>,
    signed: Signed,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    if !may_read(&signed) {
        return refused(&signed);
    }
    if let Some(refused) = crate::session::check_csrf(&signed, crate::work::csrf_of(&pairs)) {
        return refused;
    }
    let field = |key: &str| {
        crate::work::form_field(&pairs, key)
            .unwrap_or("")
            .trim()
            .to_string()
    };
    let body = field("body");
    let target = field("target");
    let parent: Option<i64> = field("parent").parse().ok();
    let refuse = |sentence: &str| {
        problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "The comment was not kept",
            sentence,
            Some(&signed),
        )
    };
    if body.is_empty() {
        return refuse("Write something first: the comment was empty.");
    }
    if body.chars().count() > LONGEST {
        return refuse(&format!(
            "A comment has at most {LONGEST} characters; shorten it or split it in two."
        ));
    }
    let key = id.clone();
    let found = stored(&web, move |store| {
        Ok((store.journey(&key, None)?, store.journey_comments(&key)?))
    })
    .await;
    let (latest, comments) = match found {
        Ok(found) => found,
        Err(page) => return page,
    };
    let Some(journey) = latest.and_then(|d| waymark_journey::check(&d.source).journey) else {
        return problem(
            StatusCode::NOT_FOUND,
            "No such journey",
            &format!("No journey `{id}` is deployed."),
            Some(&signed),
        );
    };
    // A reply goes to a thread of this journey, about what the thread is about.
    let target = match parent {
        Some(parent) => match comments
            .iter()
            .find(|c| c.id == parent && c.comment.parent.is_none())
        {
            Some(thread) => thread.comment.target.clone(),
            None => return refuse("That thread is not one of this journey's."),
        },
        None => {
            let known = target.is_empty()
                || target
                    .strip_prefix("stage:")
                    .is_some_and(|s| journey.stages.iter().any(|x| x.id == s))
                || target
                    .strip_prefix("touchpoint:")
                    .is_some_and(|t| journey.touchpoint(t).is_some());
            if !known {
                return refuse(
                    "Choose the whole journey, one of its stages or one of its touchpoints.",
                );
            }
            target
        }
    };
    let now = web.app.clock.now_us();
    let comment = NewComment {
        journey: id.clone(),
        target: target.clone(),
        parent,
        author: signed.user.id.clone(),
        body: body.clone(),
        at_us: now,
    };
    let mailer = web.app.mailer.clone();
    let (author, title, about) = (
        signed.user.name.clone(),
        journey.title.clone(),
        about(&journey, &target),
    );
    let author_id = signed.user.id.clone();
    let key = id.clone();
    let kept = stored(&web, move |store| {
        let id_kept = store.add_comment(&comment)?;
        let thread = parent.unwrap_or(id_kept);
        let mut emailed = Vec::new();
        for person in mentioned(&comment.body).into_iter().take(MENTIONS) {
            if person == author_id {
                continue;
            }
            let Ok(Some(user)) = store.user(&person) else { continue };
            // Only someone who may open the journey is sent a link to it.
            if !waymark_server::access::person_may(&user, waymark_server::access::Capability::ReadJourneys) {
                tracing::info!(journey = %key, "a mentioned person may not read journeys and was not emailed");
                continue;
            }
            let Some(mailer) = &mailer else { continue };
            let link = format!("{}/journeys/{key}#comment-{thread}", mailer.public_url());
            let text = format!(
                "Hello {},\n\n{author} mentioned you in a comment on {about}, in the journey \"{title}\":\n\n{}\n\nRead and answer it here:\n{link}\n\n— Waymark\n",
                user.name.split_whitespace().next().unwrap_or(&user.name),
                comment.body
            );
            match mailer.send_to(&user, &format!("{author} mentioned you on \"{title}\""), text) {
                Ok(()) => emailed.push(user.id.clone()),
                Err(error) => tracing::warn!(%error, "a mention could not be emailed"),
            }
        }
        Ok((thread, emailed))
    })
    .await;
    match kept {
        Ok((thread, emailed)) => {
            let query = if emailed.is_empty() {
                String::new()
            } else {
                format!("?emailed={}", emailed.join(","))
            };
            Redirect::to(&format!("/journeys/{id}{query}#comment-{thread}")).into_response()
        }
        Err(page) => page,
    }
}

/// `POST /journeys/{id}/comments/{thread}/resolve`: resolves a thread (`reopen=true`: opens it
/// again).
pub(crate) async fn resolve(
    State(web): State<Web>,
    signed: Signed,
    Path((id, thread)): Path<(String, i64)>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    if !may_read(&signed) {
        return refused(&signed);
    }
    if let Some(refused) = crate::session::check_csrf(&signed, crate::work::csrf_of(&pairs)) {
        return refused;
    }
    let reopen = crate::work::form_field(&pairs, "reopen") == Some("true");
    let (key, by, now) = (id.clone(), signed.user.id.clone(), web.app.clock.now_us());
    let done = stored(&web, move |store| {
        store.resolve_thread(&key, thread, (!reopen).then_some(by.as_str()), now)
    })
    .await;
    match done {
        Ok(true) => Redirect::to(&format!("/journeys/{id}#comment-{thread}")).into_response(),
        Ok(false) => problem(
            StatusCode::NOT_FOUND,
            "No such thread",
            "That thread is not one of this journey's.",
            Some(&signed),
        ),
        Err(page) => page,
    }
}
