//! What is deployed, for administrators: every journey, process and form with its latest
//! version, how many versions it has, and when it changed last. Deploying stays with the CLI
//! and the API (`waymark journey deploy`, `waymark process deploy`, `POST /v1/…`), where the
//! files are checked with their places.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use maud::html;

use crate::Web;
use crate::layout::{failure, page, when};
use crate::session::Signed;

/// A deployed journey as listed: id, title, version label, version, versions, when.
struct Journey {
    id: String,
    title: String,
    label: String,
    version: i64,
    versions: usize,
    deployed_us: i64,
}

/// `GET /admin/deployed`
pub(crate) async fn list(State(web): State<Web>, signed: Signed) -> Response {
    if !crate::admin::may_administer(&signed) {
        return crate::admin::refused(&signed, "Deployed journeys, processes and forms");
    }
    let store = web.app.store.clone();
    let found = tokio::task::spawn_blocking(move || {
        let mut journeys = Vec::new();
        for d in store.journeys()? {
            let versions = store.journey_versions(&d.id)?.len();
            let title = waymark_journey::check(&d.source)
                .journey
                .map_or_else(|| d.id.clone(), |j| j.title);
            journeys.push(Journey {
                id: d.id,
                title,
                label: d.label,
                version: d.version,
                versions,
                deployed_us: d.deployed_us,
            });
        }
        journeys.sort_by(|a, b| a.title.cmp(&b.title));
        Ok::<_, waymark_store::StoreError>((journeys, store.deployments()?))
    })
    .await;
    let (journeys, deployments) = match found {
        Ok(Ok(found)) => found,
        Ok(Err(error)) => return failure(&error),
        Err(error) => return failure(&error),
    };
    let processes: Vec<_> = deployments.iter().filter(|d| d.kind == "process").collect();
    let forms: Vec<_> = deployments.iter().filter(|d| d.kind == "form").collect();
    let versions = |n: i64| {
        if n == 1 {
            "1 version".to_string()
        } else {
            format!("{n} versions")
        }
    };
    let content = html! {
        p { "Deploy with " code { "waymark journey deploy" } ", " code { "waymark process deploy" } " or the API; a file that changed becomes a new version, and running requests keep the version they started on." }
        h2 { "Journeys" }
        @if journeys.is_empty() {
            p.notice { "No journey is deployed." }
        } @else {
            table {
                caption.visually-hidden { "Deployed journeys" }
                thead { tr { th scope="col" { "Journey" } th scope="col" { "Version" } th scope="col" { "Changed" } } }
                tbody {
                    @for j in &journeys {
                        tr {
                            td { a href=(format!("/journeys/{}", j.id)) { (j.title) } br; span.meta { code { (j.id) } } }
                            td { (j.version) " (" (j.label) ") · " (versions(j.versions as i64)) }
                            td { (when(j.deployed_us)) }
                        }
                    }
                }
            }
        }
        h2 { "Processes" }
        @if processes.is_empty() {
            p.notice { "No process is deployed." }
        } @else {
            table {
                caption.visually-hidden { "Deployed processes" }
                thead { tr { th scope="col" { "Process" } th scope="col" { "Version" } th scope="col" { "Changed" } } }
                tbody {
                    @for p in &processes {
                        tr {
                            td { (p.name) br; span.meta { code { (p.id) } " · " (p.format.to_uppercase()) } }
                            td { (p.version) " · " (versions(p.versions)) br;
                                a href=(format!("/admin/requests?process={}", crate::session::form_urlencoded(&p.id))) { "Its requests" } }
                            td { (when(p.deployed_us)) }
                        }
                    }
                }
            }
        }
        h2 { "Forms" }
        @if forms.is_empty() {
            p.notice { "No form is deployed." }
        } @else {
            table {
                caption.visually-hidden { "Deployed forms" }
                thead { tr { th scope="col" { "Form" } th scope="col" { "Version" } th scope="col" { "Changed" } } }
                tbody {
                    @for f in &forms {
                        tr {
                            td { code { (f.id) } }
                            td { (f.version) " · " (versions(f.versions)) }
                            td { (when(f.deployed_us)) }
                        }
                    }
                }
            }
        }
    };
    page("Deployed", Some(&signed), content).into_response()
}
