//! The authorization matrix: every route of the API (from its OpenAPI document) and every page
//! (from the web app's own route table), called by every kind of caller, each against a
//! resource of its own and someone else's, compared with the answers written below. A route
//! added without its row fails the test; so does any cell that changes.
//!
//! Callers, in column order:
//!
//! | col | caller |
//! |---|---|
//! | 0 | nobody |
//! | 1 | the public write key |
//! | 2 | a server key |
//! | 3 | a worker key (topic `budget-check`) |
//! | 4 | the admin token |
//! | 5 | Jennifer, the requester |
//! | 6 | Maria, her manager |
//! | 7 | Finn, Finance |
//! | 8 | Mallory, an unrelated employee (who has a request of her own) |
//! | 9 | Alex, an agent |
//! | 10 | Chris, an analyst |
//! | 11 | Olivia, the journey owner (and Mallory's manager) |
//! | 12 | Ada, an administrator (directory role `admin`) |
//! | 13 | an expired token (Jennifer's) |
//! | 14 | a revoked token (Jennifer's) |
//! | 15 | Cara, a CX lead (directory role `cx`: looks people up, reads and designs journeys) |
//!
//! Answers: `A` done (2xx, or a redirect elsewhere than sign-in), `B` authorised but refused for
//! what was sent (400, 409, 410, 413, 422: the matrix sends nothing that would change the
//! fixture), `N` not found (404), `R` sent to sign in (303 to `/login`), `U` 401, `F` 403.
//!
//! Keys go where each route expects a credential: the collection API reads HTTP Basic, the rest
//! of the API a bearer token; pages read a session cookie (people sign in; a key or an expired or
//! revoked token has no session, so it is `R` there, with an ended or expired session cookie).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, StatusCode, header};
use base64::Engine as _;
use serde_json::Value;
use tower::ServiceExt as _;
use waymark_server::AppState;
use waymark_store::KeyKind;

const CALLERS: [&str; 16] = [
    "nobody", "write", "server", "worker", "admin", "jennifer", "maria", "finn", "mallory", "alex",
    "chris", "olivia", "ada", "expired", "revoked", "cara",
];

/// Which resource a row calls: `-` none in particular, `own`/`other`: Jennifer's request (R1,
/// its approval with Maria) and Mallory's (R2, its approval with Olivia).
type Row = (&'static str, &'static str, &'static str, &'static str);

/// The API: (method, path as documented, resource, answers by caller).
const API: &[Row] = &[
    ("GET", "/healthz", "-", "AAAAAAAAAAAAAAAA"),
    ("GET", "/metrics", "-", "UFFFAFFFFFFFAUUF"),
    ("POST", "/v1/track", "-", "UAAUAUUUUUUUUUUU"),
    ("POST", "/v1/identify", "-", "UAAUAUUUUUUUUUUU"),
    ("POST", "/v1/page", "-", "UAAUAUUUUUUUUUUU"),
    ("POST", "/v1/screen", "-", "UAAUAUUUUUUUUUUU"),
    ("POST", "/v1/group", "-", "UAAUAUUUUUUUUUUU"),
    ("POST", "/v1/alias", "-", "UAAUAUUUUUUUUUUU"),
    ("POST", "/v1/batch", "-", "UAAUAUUUUUUUUUUU"),
    ("POST", "/v1/import", "-", "UFFFBFFFFFFFBUUF"),
    ("GET", "/v1/profiles", "-", "UFFFAFFFFAAFAUUA"),
    ("GET", "/v1/profiles/{id}", "-", "UFFFAFFFFAAFAUUA"),
    ("GET", "/v1/profiles/{id}/timeline", "-", "UFFFAFFFFAAFAUUA"),
    ("GET", "/v1/profiles/{id}/context", "-", "UFFFAFFFFAAFAUUA"),
    ("GET", "/v1/journeys", "-", "UFFFAFFFFFAAAUUA"),
    ("POST", "/v1/journeys", "-", "UFFFBFFFFFFBBUUB"),
    ("GET", "/v1/journeys/{id}/report", "-", "UFFFAFFFFFAAAUUA"),
    (
        "GET",
        "/v1/journeys/{id}/proposals",
        "-",
        "UFFFAFFFFFAAAUUA",
    ),
    (
        "GET",
        "/v1/journeys/{id}/proposals/{proposal}",
        "-",
        "UFFFANNNANAAAUUA",
    ),
    ("GET", "/v1/journeys/{id}/map", "-", "UFFFAFFFFFAAAUUA"),
    ("GET", "/v1/journeys/{id}/kpis", "-", "UFFFAFFFFFAAAUUA"),
    (
        "GET",
        "/v1/journeys/{id}/kpis/{kpi}/simulate",
        "-",
        "UFFFBFFFFFBBBUUB",
    ),
    ("GET", "/v1/alerts", "-", "UFFFAFFFFFAAAUUA"),
    ("POST", "/v1/alerts/{id}/{action}", "-", "UFFFBFFFFFBBBUUB"),
    ("GET", "/v1/alerts/rules", "-", "UFFFAFFFFFAAAUUA"),
    ("POST", "/v1/alerts/rules", "-", "UFFFBFFFFFFBBUUB"),
    ("DELETE", "/v1/alerts/rules/{id}", "-", "UFFFNFFFFFFNNUUN"),
    ("GET", "/v1/opportunities", "-", "UFFFAAAAAAAAAUUA"),
    ("POST", "/v1/opportunities", "-", "UFFFBFFFFFBBBUUB"),
    ("GET", "/v1/opportunities/{id}", "own", "UFFFAANNNNAAAUUA"),
    ("GET", "/v1/opportunities/{id}", "other", "UFFFANNNANAAAUUA"),
    ("PATCH", "/v1/opportunities/{id}", "own", "UFFFBBNNNNFBBUUB"),
    (
        "PATCH",
        "/v1/opportunities/{id}",
        "other",
        "UFFFBNNNBNFBBUUB",
    ),
    ("GET", "/v1/follow-ups", "-", "UFFFAFFFFFAAAUUA"),
    ("GET", "/v1/initiatives", "-", "UFFFAAAAAAAAAUUA"),
    ("POST", "/v1/initiatives", "-", "UFFFBFFFFFBBBUUB"),
    ("GET", "/v1/initiatives/{id}", "own", "UFFFAANNNNAAAUUA"),
    ("GET", "/v1/initiatives/{id}", "other", "UFFFANNNANAAAUUA"),
    ("PATCH", "/v1/initiatives/{id}", "own", "UFFFBBNNNNFBBUUB"),
    ("PATCH", "/v1/initiatives/{id}", "other", "UFFFBNNNBNFBBUUB"),
    ("GET", "/v1/directory/users", "-", "UFFFAFFFFFFFAUUF"),
    ("POST", "/v1/directory/users", "-", "UFFFBFFFFFFFBUUF"),
    (
        "DELETE",
        "/v1/directory/users/{id}",
        "-",
        "UFFFNFFFFFFFNUUF",
    ),
    (
        "POST",
        "/v1/directory/users/{id}/tokens",
        "-",
        "UFFFBFFFFFFFBUUF",
    ),
    ("GET", "/v1/keys", "-", "UFFFAFFFFFFFAUUF"),
    ("POST", "/v1/keys", "-", "UFFFBFFFFFFFBUUF"),
    ("DELETE", "/v1/keys/{id}", "-", "UFFFNFFFFFFFNUUF"),
    ("GET", "/v1/keys/trail", "-", "UFFFAFFFFFFFAUUF"),
    ("POST", "/v1/processes", "-", "UFFFBFFFFFFFBUUF"),
    ("POST", "/v1/forms/{key}", "-", "UFFFBFFFFFFFBUUF"),
    ("POST", "/v1/surveys", "-", "UFFFBFFFFFFFBUUF"),
    ("GET", "/v1/processes/{id}/form", "-", "UFFFFAAAAAAAAUUA"),
    (
        "POST",
        "/v1/processes/{id}/instances",
        "-",
        "UFFFFBBBBBBBBUUB",
    ),
    ("GET", "/v1/tasks", "-", "UFFFFAAAAAAAAUUA"),
    ("POST", "/v1/tasks/{id}/{action}", "own", "UFFFFFBFFFFFFUUF"),
    (
        "POST",
        "/v1/tasks/{id}/{action}",
        "other",
        "UFFFFFFFFFFBFUUF",
    ),
    // Administrators' actions, by an administrator's own token (never the admin token), need a
    // reason (the matrix sends none) and know no `comment`.
    (
        "POST",
        "/v1/admin/requests/{id}/cancel",
        "own",
        "UFFFFFFFFFFFBUUF",
    ),
    (
        "POST",
        "/v1/admin/requests/{id}/cancel",
        "other",
        "UFFFFFFFFFFFBUUF",
    ),
    (
        "POST",
        "/v1/admin/tasks/{id}/{action}",
        "own",
        "UFFFFFFFFFFFBUUF",
    ),
    ("GET", "/v1/requests", "-", "UFFFFAAAAAAAAUUA"),
    ("GET", "/v1/requests/{id}", "own", "UFFFAAAFFFFFAUUF"),
    ("GET", "/v1/requests/{id}", "other", "UFFFAFFFAFFAAUUF"),
    ("GET", "/v1/work", "-", "UFFAAFFFFFFFAUUF"),
    ("POST", "/v1/work/{id}/complete", "-", "UFFBBFFFFFFFFUUF"),
    ("GET", "/v1/links/{token}", "-", "AAAAAAAAAAAAAAAA"),
    ("POST", "/v1/links/{token}", "-", "BBBBBBBBBBBBBBBB"),
];

/// The pages: (method, path as routed, resource, answers by caller).
const PAGES: &[Row] = &[
    ("GET", "/", "-", "RRRRRAAAAAAAARRA"),
    ("GET", "/assets/waymark.css", "-", "AAAAAAAAAAAAAAAA"),
    ("GET", "/assets/waymark.js", "-", "AAAAAAAAAAAAAAAA"),
    ("GET", "/login", "-", "AAAAAAAAAAAAAAAA"),
    ("POST", "/login", "-", "FFFFFFFFFFFFFFFF"),
    ("POST", "/login/token", "-", "FFFFFFFFFFFFFFFF"),
    ("GET", "/login/link/{token}", "-", "AAAAAAAAAAAAAAAA"),
    ("POST", "/login/link/{token}", "-", "FFFFFFFFFFFFFFFF"),
    ("POST", "/logout", "-", "RRRRRFFFFFFFFRRF"),
    ("GET", "/links/{token}", "-", "AAAAAAAAAAAAAAAA"),
    ("POST", "/links/{token}", "-", "BBBBBBBBBBBBBBBB"),
    ("GET", "/feedback/{token}", "-", "AAAAAAAAAAAAAAAA"),
    ("POST", "/feedback/{token}", "-", "BBBBBBBBBBBBBBBB"),
    ("GET", "/customers", "-", "RRRRRFFFFAAFARRA"),
    ("GET", "/customers/browse", "-", "RRRRRFFFFAAFARRA"),
    ("GET", "/journeys", "-", "RRRRRFFFFFAAARRA"),
    ("GET", "/journeys/{id}", "-", "RRRRRFFFFFAAARRA"),
    // The journey editor: for those who design journeys (cx, journey-owner, admin).
    ("GET", "/journeys/new", "-", "RRRRRFFFFFFAARRA"),
    ("POST", "/journeys/new", "-", "RRRRRFFFFFFBBRRB"),
    ("GET", "/journeys/{id}/edit", "-", "RRRRRFFFFFFAARRA"),
    ("POST", "/journeys/{id}/edit", "-", "RRRRRFFFFFFAARRA"),
    (
        "POST",
        "/journeys/{id}/edit/preview",
        "-",
        "RRRRRFFFFFFAARRA",
    ),
    ("GET", "/journeys/{id}/download", "-", "RRRRRFFFFFAAARRA"),
    // A journey's versions and comments: for those who read journeys.
    ("GET", "/journeys/{id}/versions", "-", "RRRRRFFFFFAAARRA"),
    ("GET", "/journeys/{id}/compare", "-", "RRRRRFFFFFAAARRA"),
    (
        "GET",
        "/journeys/{id}/proposals/{proposal}",
        "-",
        "RRRRRNNNANAAARRA",
    ),
    ("POST", "/journeys/{id}/comments", "-", "RRRRRFFFFFBBBRRB"),
    (
        "POST",
        "/journeys/{id}/comments/{thread}/resolve",
        "-",
        "RRRRRFFFFFNNNRRN",
    ),
    ("GET", "/journeys/{id}/kpis", "-", "RRRRRFFFFFAAARRA"),
    ("GET", "/scorecards", "-", "RRRRRFFFFFAAARRA"),
    ("GET", "/alerts", "-", "RRRRRFFFFFAAARRA"),
    ("GET", "/alerts/{id}", "-", "RRRRRFFFFFNNNRRN"),
    ("POST", "/alerts/{id}/{action}", "-", "RRRRRFFFFFAAARRA"),
    ("POST", "/alerts/rules", "-", "RRRRRFFFFFFAARRA"),
    ("POST", "/alerts/rules/{id}/remove", "-", "RRRRRFFFFFFAARRA"),
    ("GET", "/opportunities", "-", "RRRRRAFFAFAAARRA"),
    ("POST", "/opportunities", "-", "RRRRRFFFFFBBBRRB"),
    ("GET", "/opportunities/{id}", "own", "RRRRRANNNNAAARRA"),
    ("GET", "/opportunities/{id}", "other", "RRRRRNNNANAAARRA"),
    ("POST", "/opportunities/{id}", "own", "RRRRRBNNNNFBBRRB"),
    ("POST", "/opportunities/{id}", "other", "RRRRRNNNBNFBBRRB"),
    ("GET", "/follow-ups", "-", "RRRRRFFFFFAAARRA"),
    ("GET", "/roadmap", "-", "RRRRRAFFAFAAARRA"),
    ("GET", "/roadmap.csv", "-", "RRRRRAFFAFAAARRA"),
    ("GET", "/initiatives/new", "-", "RRRRRFFFFFAAARRA"),
    ("POST", "/initiatives", "-", "RRRRRFFFFFBBBRRB"),
    ("GET", "/initiatives/{id}", "own", "RRRRRANNNNAAARRA"),
    ("GET", "/initiatives/{id}", "other", "RRRRRNNNANAAARRA"),
    ("POST", "/initiatives/{id}", "own", "RRRRRBNNNNFBBRRB"),
    ("POST", "/initiatives/{id}", "other", "RRRRRNNNBNFBBRRB"),
    ("GET", "/journeys/{id}/funnel", "-", "RRRRRFFFFFAAARRA"),
    // The people behind a figure: for those who read journeys and look people up.
    (
        "GET",
        "/journeys/{id}/funnel/people",
        "-",
        "RRRRRFFFFFAFARRA",
    ),
    ("GET", "/analyses", "-", "RRRRRFFFFFAAARRA"),
    ("POST", "/analyses", "-", "RRRRRFFFFFBBBRRB"),
    ("GET", "/analyses/{id}", "-", "RRRRRFFFFFNNNRRN"),
    ("POST", "/analyses/{id}/delete", "-", "RRRRRFFFFFNNNRRN"),
    ("GET", "/journeys/{id}/flow", "-", "RRRRRFFFFFAAARRA"),
    ("GET", "/journeys/{id}/conformance", "-", "RRRRRFFFFFAAARRA"),
    (
        "GET",
        "/journeys/{id}/touchpoints/{touchpoint}",
        "-",
        "RRRRRFFFFFAAARRA",
    ),
    // The people over a touchpoint's target: for those who read journeys and look people up.
    (
        "GET",
        "/journeys/{id}/touchpoints/{touchpoint}/people",
        "-",
        "RRRRRFFFFFAFARRA",
    ),
    ("GET", "/work", "-", "RRRRRAAAAAAAARRA"),
    ("GET", "/work/tasks/{id}", "own", "RRRRRFAFFFFFFRRF"),
    ("GET", "/work/tasks/{id}", "other", "RRRRRFFFFFFAFRRF"),
    ("POST", "/work/tasks/{id}", "own", "RRRRRFBFFFFFFRRF"),
    ("POST", "/work/tasks/{id}", "other", "RRRRRFFFFFFBFRRF"),
    ("POST", "/work/tasks/{id}/claim", "own", "RRRRRFBFFFFFFRRF"),
    (
        "POST",
        "/work/tasks/{id}/claim",
        "other",
        "RRRRRFFFFFFBFRRF",
    ),
    (
        "POST",
        "/work/tasks/{id}/delegate",
        "own",
        "RRRRRFBFFFFFFRRF",
    ),
    (
        "POST",
        "/work/tasks/{id}/delegate",
        "other",
        "RRRRRFFFFFFBFRRF",
    ),
    ("GET", "/admin/requests", "-", "RRRRRFFFFFFFARRF"),
    // Actions on requests: administrators only, and each needs a reason (the matrix sends none).
    (
        "POST",
        "/admin/requests/{id}/cancel",
        "own",
        "RRRRRFFFFFFFBRRF",
    ),
    (
        "POST",
        "/admin/requests/{id}/cancel",
        "other",
        "RRRRRFFFFFFFBRRF",
    ),
    (
        "POST",
        "/admin/tasks/{id}/reassign",
        "own",
        "RRRRRFFFFFFFBRRF",
    ),
    ("POST", "/admin/tasks/{id}/retry", "own", "RRRRRFFFFFFFBRRF"),
    ("GET", "/admin/keys", "-", "RRRRRFFFFFFFARRF"),
    ("POST", "/admin/keys", "-", "RRRRRFFFFFFFBRRF"),
    ("POST", "/admin/keys/{id}/revoke", "-", "RRRRRFFFFFFFNRRF"),
    ("GET", "/admin/people", "-", "RRRRRFFFFFFFARRF"),
    ("POST", "/admin/people", "-", "RRRRRFFFFFFFBRRF"),
    ("GET", "/admin/people/new", "-", "RRRRRFFFFFFFARRF"),
    ("GET", "/admin/people/{id}", "-", "RRRRRFFFFFFFNRRF"),
    ("POST", "/admin/people/{id}", "-", "RRRRRFFFFFFFNRRF"),
    ("GET", "/admin/deployed", "-", "RRRRRFFFFFFFARRF"),
    (
        "POST",
        "/admin/people/{id}/disable",
        "-",
        "RRRRRFFFFFFFNRRF",
    ),
    ("GET", "/admin/outbox", "-", "RRRRRNNNNNNNNRRN"),
    ("GET", "/mail", "-", "RRRRRNNNNNNNNRRN"),
    ("GET", "/mail/{id}", "-", "RRRRRNNNNNNNNRRN"),
    ("GET", "/work/start", "-", "RRRRRAAAAAAAARRA"),
    ("GET", "/work/start/{process}", "-", "RRRRRAAAAAAAARRA"),
    ("POST", "/work/start/{process}", "-", "RRRRRBBBBBBBBRRB"),
    ("GET", "/work/requests", "-", "RRRRRAAAAAAAARRA"),
    ("GET", "/work/requests/{id}", "own", "RRRRRAAFFFFFARRF"),
    ("GET", "/work/requests/{id}", "other", "RRRRRFFFAFFAARRF"),
    (
        "POST",
        "/demo/requests/{id}/send",
        "own",
        "RRRRRNNNNNNNNRRN",
    ),
];

const ADMIN: &str = "matrix-admin-token";
const WRITE: &str = "matrix-write-key";
const SERVER: &str = "matrix-server-key";

/// Everything the rows need: the router, each caller's credential, and the resources.
struct Fixture {
    router: axum::Router,
    /// Per caller: the bearer token or key (API) and the session cookie with its CSRF (pages).
    tokens: BTreeMap<&'static str, String>,
    sessions: BTreeMap<&'static str, (String, String)>,
    /// R1's and R2's ids, their open approval tasks, R3's budget-check worker task.
    requests: [i64; 2],
    tasks: [String; 2],
    worker_task: String,
    /// An opportunity and an initiative owned by Jennifer, and one of each owned by Mallory.
    opportunities: [i64; 2],
    initiatives: [i64; 2],
    /// A to-be version of the loan journey proposed by Mallory (nobody asked to approve it).
    proposal: i64,
    step_link: String,
    survey_link: String,
    sign_in_link: String,
}

fn fixture() -> Fixture {
    let dir = std::env::temp_dir().join(format!("waymark-matrix-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let store = waymark_store::open(&dir.join("m.db").into(), &Default::default()).expect("store");
    store.ensure_key(KeyKind::Admin, ADMIN).expect("key");
    store.ensure_key(KeyKind::Write, WRITE).expect("key");
    store.ensure_key(KeyKind::Server, SERVER).expect("key");
    let csv = "id,name,email,department,manager,roles\n\
        jennifer,Jennifer Lee,jennifer@example.com,customer-success,maria,\n\
        maria,Maria Lopez,maria@example.com,customer-success,olivia,manager\n\
        finn,Finn Berg,finn@example.com,finance,olivia,finance\n\
        mallory,Mallory Smith,mallory@example.com,sales,olivia,\n\
        alex,Alex Agent,alex@example.com,admin,olivia,agent\n\
        chris,Chris Analyst,chris@example.com,cx,olivia,analyst\n\
        olivia,Olivia Chen,olivia@example.com,leadership,,journey-owner\n\
        ada,Ada Admin,ada@example.com,it,olivia,admin\n\
        cara,Cara Lead,cara@example.com,cx,olivia,cx\n";
    store
        .put_users(&waymark_server::automation::users_from_csv(csv).expect("csv"))
        .expect("users");
    let example = super::workspace().join("examples");
    let process =
        std::fs::read_to_string(example.join("training-request/process.yaml")).expect("process");
    store
        .deploy_process("training-request", "Request", "yaml", &process, 0)
        .expect("deploy");
    for entry in std::fs::read_dir(example.join("training-request/forms")).expect("forms") {
        let path = entry.expect("entry").path();
        let key = path
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("key")
            .to_string();
        store
            .put_form(&key, &std::fs::read_to_string(&path).expect("form"), 0)
            .expect("form");
    }
    let loan =
        std::fs::read_to_string(example.join("loan-application/journey.yaml")).expect("loan");
    store
        .deploy_journey("loan-application", "loan", &loan, 0)
        .expect("journey");
    let (proposal, _) = store
        .propose_journey(&waymark_store::proposals::NewProposal {
            journey: "loan-application".into(),
            label: "to-be".into(),
            source: loan.replace("version: as-is", "version: to-be"),
            base: 1,
            by: "mallory".into(),
            at_us: 0,
        })
        .expect("proposal");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_micros() as i64;
    // R1: Jennifer's, with Maria; R2: Mallory's, with Olivia; R3: Jennifer's, at the budget
    // check (Maria approved it).
    let values = |course: &str| -> serde_json::Map<String, Value> {
        serde_json::json!({ "course": course, "vendor": "Skills Academy", "cost": 100, "startDate": "2026-12-01" })
            .as_object()
            .cloned()
            .expect("object")
    };
    let user = |id: &str| store.user(id).expect("read").expect("user");
    let start = |who: &str, course: &str| {
        waymark_server::work::start(
            store.as_ref(),
            &user(who),
            "training-request",
            values(course),
            now,
        )
        .expect("start")
    };
    let r1 = start("jennifer", "One");
    let r2 = start("mallory", "Two");
    let r3 = start("jennifer", "Three");
    let open_user_task = |instance: i64| {
        store
            .instance_tasks(instance)
            .expect("tasks")
            .into_iter()
            .find(|t| t.status == "open" && t.kind == "user")
            .expect("an open task")
    };
    let approval3 = open_user_task(r3);
    let mut approve = serde_json::Map::new();
    approve.insert("approved".into(), Value::Bool(true));
    waymark_server::work::complete(
        store.as_ref(),
        &user("maria"),
        waymark_server::work::TaskId::of(&approval3),
        approve,
        now,
    )
    .expect("approve R3");
    let worker_task = store
        .instance_tasks(r3)
        .expect("tasks")
        .into_iter()
        .find(|t| t.status == "open" && t.kind == "worker")
        .expect("the budget check");
    let (t1, t2) = (open_user_task(r1), open_user_task(r2));
    assert_eq!(t1.assignee.as_deref(), Some("maria"));
    assert_eq!(t2.assignee.as_deref(), Some("olivia"));

    let plan = |kind, owner: &str, body: &str| {
        use waymark_store::plans::PlanText;
        store
            .add_plan(
                kind,
                &PlanText {
                    title: format!("{owner}'s"),
                    owner: owner.into(),
                    status: if kind == waymark_store::plans::PlanKind::Opportunity {
                        "open"
                    } else {
                        "proposed"
                    }
                    .into(),
                    body: body.into(),
                },
                "cara",
                now,
            )
            .expect("plan")
    };
    let opportunity_body =
        r#"{"links":[{"journey":"loan-application","touchpoint":"application-form"}]}"#;
    let opportunities = [
        plan(
            waymark_store::plans::PlanKind::Opportunity,
            "jennifer",
            opportunity_body,
        ),
        plan(
            waymark_store::plans::PlanKind::Opportunity,
            "mallory",
            opportunity_body,
        ),
    ];
    let initiatives = [
        plan(waymark_store::plans::PlanKind::Initiative, "jennifer", "{}"),
        plan(waymark_store::plans::PlanKind::Initiative, "mallory", "{}"),
    ];

    let state = AppState::new(store.clone()).expect("state");
    let step_link = state.links.sign(&waymark_server::mail::Grant {
        instance: r1,
        person: "maria".into(),
        expires_us: now + 3_600_000_000,
    });
    let survey_link = state.surveys.sign(&waymark_server::feedback::Survey {
        journey: "loan-application".into(),
        touchpoint: "application-form".into(),
        person: "jennifer".into(),
        expires_us: now + 3_600_000_000,
    });
    let sign_in_link = state.sign_in.sign(&waymark_server::mail::Grant {
        instance: 0,
        person: "jennifer".into(),
        expires_us: now + 3_600_000_000,
    });
    let pages = waymark_web::pages(state.clone(), false);
    let router = waymark_server::app_with(state, pages);

    let mut tokens = BTreeMap::new();
    let mut sessions = BTreeMap::new();
    tokens.insert("admin", ADMIN.to_string());
    tokens.insert("write", WRITE.to_string());
    tokens.insert("server", SERVER.to_string());
    let worker = store
        .issue_key(
            &waymark_store::keys::NewKey {
                kind: KeyKind::Worker,
                label: "budget".into(),
                topics: vec!["budget-check".into()],
                expires_us: None,
            },
            "admin",
            now,
        )
        .expect("worker key");
    tokens.insert("worker", worker.1);
    for who in [
        "jennifer", "maria", "finn", "mallory", "alex", "chris", "olivia", "ada", "cara",
    ] {
        tokens.insert(who, store.issue_user_token(who).expect("token"));
        sessions.insert(
            who,
            store
                .create_session(who, now, 3_600_000_000)
                .expect("session"),
        );
    }
    let (_, expired) = store
        .issue_person_token("jennifer", "old", Some(now - 1), "admin", now - 10)
        .expect("expired");
    tokens.insert("expired", expired);
    let (revoked_id, revoked) = store
        .issue_person_token("jennifer", "gone", None, "admin", now)
        .expect("revoked");
    store.revoke_key(&revoked_id, "admin", now).expect("revoke");
    tokens.insert("revoked", revoked);
    // Sessions for the last two: one that ended, one that expired.
    let ended = store
        .create_session("jennifer", now, 3_600_000_000)
        .expect("session");
    store.end_session(&ended.0).expect("end");
    sessions.insert("revoked", ended);
    sessions.insert(
        "expired",
        store
            .create_session("jennifer", now - 10, 1)
            .expect("session"),
    );
    let id_of =
        |t: &waymark_store::workflow::TaskRow| waymark_server::work::TaskId::of(t).to_string();
    Fixture {
        router,
        tokens,
        sessions,
        requests: [r1, r2],
        tasks: [id_of(&t1), id_of(&t2)],
        worker_task: id_of(&worker_task),
        opportunities,
        initiatives,
        proposal,
        step_link,
        survey_link,
        sign_in_link,
    }
}

/// The concrete address of a row, and the body it sends.
fn concrete(f: &Fixture, path: &str, resource: &str) -> String {
    let k = usize::from(resource == "other");
    let mut out = path
        .replace(
            "{token}",
            if path.contains("feedback") {
                &f.survey_link
            } else if path.contains("/login/link") {
                &f.sign_in_link
            } else {
                &f.step_link
            },
        )
        .replace("{touchpoint}", "application-form")
        .replace("{key}", "matrix-form")
        .replace("{process}", "training-request")
        .replace("{action}", "comment")
        .replace("{thread}", "1")
        .replace("{proposal}", &f.proposal.to_string());
    let id = if path.starts_with("/v1/journeys") || path.starts_with("/journeys") {
        "loan-application".to_string()
    } else if path.starts_with("/v1/profiles") {
        "jennifer".to_string()
    } else if path.starts_with("/v1/processes") {
        "training-request".to_string()
    } else if path.starts_with("/v1/directory/users") || path.starts_with("/admin/people") {
        "nobody-here".to_string()
    } else if path.starts_with("/v1/keys") || path.starts_with("/admin/keys") {
        "k_nothing".to_string()
    } else if path.starts_with("/v1/work") {
        f.worker_task.clone()
    } else if path.contains("/tasks/") {
        f.tasks[k].clone()
    } else if path.starts_with("/mail") {
        "1".to_string()
    } else if path.contains("/opportunities/") {
        f.opportunities[k].to_string()
    } else if path.contains("/initiatives/") {
        f.initiatives[k].to_string()
    } else {
        f.requests[k].to_string()
    };
    out = out.replace("{id}", &id);
    if out == "/v1/profiles" {
        out.push_str("?trait=email&value=jennifer@example.com");
    }
    if out == "/v1/import" {
        out.push_str("?format=nothing");
    }
    if out.ends_with("/funnel/people") {
        out.push_str("?level=1");
    }
    out
}

/// The body a row sends: never one that would change the fixture (an invalid value, an empty
/// comment, an unknown id), so every caller meets the same state.
fn body_of(path: &str, method: &str) -> (String, &'static str) {
    let json = "application/json";
    let form = "application/x-www-form-urlencoded";
    if method == "GET" || method == "DELETE" {
        return (String::new(), json);
    }
    if path.starts_with("/v1/track")
        || path.starts_with("/v1/identify")
        || path.starts_with("/v1/page")
        || path.starts_with("/v1/screen")
        || path.starts_with("/v1/group")
    {
        return (
            serde_json::json!({ "userId": "matrix-visitor", "event": "Matrix", "name": "Matrix", "groupId": "g" }).to_string(),
            json,
        );
    }
    if path.starts_with("/v1/alias") {
        return (
            serde_json::json!({ "userId": "matrix-visitor", "previousId": "matrix-anon" })
                .to_string(),
            json,
        );
    }
    if path.starts_with("/v1/batch") {
        return (
            serde_json::json!({ "batch": [{ "type": "track", "userId": "matrix-visitor", "event": "Matrix" }] }).to_string(),
            json,
        );
    }
    if path.starts_with("/v1/work/") {
        return (
            serde_json::json!({ "requester": "mallory" }).to_string(),
            json,
        );
    }
    if path.starts_with("/v1/tasks/") {
        // An empty comment: refused for what it says only after the task is found to be the
        // caller's.
        return (serde_json::json!({ "text": "" }).to_string(), json);
    }
    if path.starts_with("/v1/") {
        // Unreadable or incomplete for every route that takes a body.
        return ("{\"unknown_field\": ".to_string(), json);
    }
    // Pages: what each form needs to be read at all (the checks then decide).
    let fields = match path {
        "/login" => "email=nobody%40example.com",
        "/login/token" => "token=wu_nothing",
        p if p.starts_with("/demo/") => "message=Training+Completed",
        p if p.ends_with("/delegate") => "to=",
        _ => "",
    };
    (fields.to_string(), form)
}

/// One cell: the answer `caller` gets.
async fn call(f: &Fixture, caller: usize, method: &str, path: &str, page: bool) -> char {
    let who = CALLERS[caller];
    let (body, content_type) = body_of(path, method);
    let mut request = Request::builder()
        .method(Method::from_bytes(method.as_bytes()).expect("method"))
        .uri(path)
        .header(header::CONTENT_TYPE, content_type);
    if page {
        if let Some((session, csrf)) = f.sessions.get(who) {
            request = request.header(header::COOKIE, format!("waymark_session={session}"));
            let body = if path == "/logout" {
                "csrf=wrong".to_string()
            } else if method == "POST" {
                let (fields, _) = body_of(path, method);
                if fields.is_empty() {
                    format!("csrf={csrf}")
                } else {
                    format!("csrf={csrf}&{fields}")
                }
            } else {
                String::new()
            };
            return answer(f, request, body, caller).await;
        }
        if let Some(token) = f.tokens.get(who) {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let (fields, _) = body_of(path, method);
        return answer(f, request, fields, caller).await;
    }
    if let Some(token) = f.tokens.get(who) {
        let collection = [
            "/v1/track",
            "/v1/identify",
            "/v1/page",
            "/v1/screen",
            "/v1/group",
            "/v1/alias",
            "/v1/batch",
        ];
        let credential = if collection.contains(&path) {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{token}:"))
            )
        } else {
            format!("Bearer {token}")
        };
        request = request.header(header::AUTHORIZATION, credential);
    }
    answer(f, request, body, caller).await
}

async fn answer(
    f: &Fixture,
    request: axum::http::request::Builder,
    body: String,
    caller: usize,
) -> char {
    let mut request = request.body(Body::from(body)).expect("request");
    // Each caller from an address of its own (sign-in limits are per client).
    request.extensions_mut().insert(ConnectInfo(SocketAddr::new(
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, caller as u8 + 1)),
        40_000,
    )));
    let response = f.router.clone().oneshot(request).await.expect("response");
    let status = response.status();
    let to_login = response
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|l| l.starts_with("/login"));
    match status {
        s if s.is_redirection() && to_login => 'R',
        s if s.is_success() || s.is_redirection() => 'A',
        StatusCode::UNAUTHORIZED => 'U',
        StatusCode::FORBIDDEN => 'F',
        StatusCode::NOT_FOUND => 'N',
        StatusCode::BAD_REQUEST
        | StatusCode::CONFLICT
        | StatusCode::GONE
        | StatusCode::PAYLOAD_TOO_LARGE
        | StatusCode::UNPROCESSABLE_ENTITY => 'B',
        other => panic!("an answer the matrix has no letter for: {other}"),
    }
}

#[tokio::test]
async fn every_route_answers_every_caller_as_written() {
    // Every route has its rows, and every row its route.
    let documented: std::collections::BTreeSet<(String, String)> = waymark_server::openapi()
        .paths
        .paths
        .iter()
        .flat_map(|(path, item)| {
            let item = serde_json::to_value(item).expect("json");
            item.as_object()
                .map(|o| {
                    o.keys()
                        .filter(|m| ["get", "post", "put", "delete", "patch"].contains(&m.as_str()))
                        .map(|m| (m.to_uppercase(), path.clone()))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        })
        .collect();
    let api_rows: std::collections::BTreeSet<(String, String)> = API
        .iter()
        .map(|(m, p, _, _)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(
        api_rows, documented,
        "an API route without its row (or a row without its route)"
    );
    let routed: std::collections::BTreeSet<(String, String)> = waymark_web::page_routes()
        .into_iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    let page_rows: std::collections::BTreeSet<(String, String)> = PAGES
        .iter()
        .map(|(m, p, _, _)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(
        page_rows, routed,
        "a page without its row (or a row without its page)"
    );

    let f = fixture();
    let mut wrong = Vec::new();
    let mut cells = 0;
    let mut actual_table = String::new();
    for (rows, page) in [(API, false), (PAGES, true)] {
        for (method, path, resource, expected) in rows {
            assert_eq!(
                expected.len(),
                CALLERS.len(),
                "{method} {path}: one answer per caller"
            );
            let address = concrete(&f, path, resource);
            let mut got = String::new();
            for (caller, want) in expected.chars().enumerate() {
                let answer = call(&f, caller, method, &address, page).await;
                got.push(answer);
                cells += 1;
                if answer != want {
                    wrong.push(format!(
                        "{method} {path} ({resource}) as {}: {answer}, expected {want}",
                        CALLERS[caller]
                    ));
                }
            }
            actual_table.push_str(&format!(
                "    (\"{method}\", \"{path}\", \"{resource}\", \"{got}\"),\n"
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {cells} cells differ:\n{}\n\nas answered now:\n{actual_table}",
        wrong.len(),
        wrong.join("\n")
    );
    // Reported in SECURITY.md.
    assert_eq!(cells, (API.len() + PAGES.len()) * CALLERS.len());
    println!("authorization matrix: {cells} cells");
}
