use axum::http::StatusCode;

use super::*;

#[tokio::test]
async fn pages_need_a_session_and_tokens_are_checked() {
    let (_store, router) = setup("sign-in");
    let page = get(&router, "/work/requests", None).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(
        page.location.as_deref(),
        Some("/login?next=%2Fwork%2Frequests")
    );
    let page = get(&router, "/login?next=/work/requests", None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.html.contains("<label for=\"token\">"), "{}", page.html);
    assert!(
        !page.html.contains("Email me a link"),
        "no SMTP, no email sign-in"
    );
    // A sign-in form without its login token (sent from another site, say) does nothing.
    let page = post(
        &router,
        "/login/token",
        None,
        &[("token", "wu_wrong"), ("next", "/work")],
    )
    .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "{}", page.html);
    assert!(page.html.contains("had expired"), "{}", page.html);
    let (login, login_cookie) = login_form(&router, "/login").await;
    let page = post(
        &router,
        "/login/token",
        Some(&login_cookie),
        &[("token", "wu_wrong"), ("next", "/work"), ("login", &login)],
    )
    .await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    assert!(
        page.html.contains("That access token is not valid"),
        "{}",
        page.html
    );
    assert!(page.html.contains("aria-invalid=\"true\""));
    assert!(
        page.cookie
            .as_deref()
            .is_some_and(|c| c.starts_with("waymark_login=")),
        "no session, only a new login token"
    );
    // Only paths of this site are followed after signing in, however they are written.
    for away in [
        "https://evil.example",
        "//evil.example",
        "/\t/evil.example",
        "/\\evil.example",
    ] {
        let page = get(&router, &format!("/login?next={}", url_encode(away)), None).await;
        assert!(page.html.contains("value=\"/\""), "{away}: {}", page.html);
    }
}

fn url_encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// Signing in always starts a fresh session, ending the one the browser had; the sign-in forms
/// are rate limited per client with 429 and Retry-After.
#[tokio::test]
async fn signing_in_starts_a_fresh_session_and_is_rate_limited() {
    let (store, router) = setup("fresh-session");
    let before = sign_in(&router, store.as_ref(), "maria").await;
    let token = store.issue_user_token("jennifer").expect("token");
    let (login, login_cookie) = login_form(&router, "/login").await;
    let page = post(
        &router,
        "/login/token",
        Some(&format!("{before}; {login_cookie}")),
        &[("token", &token), ("next", "/work"), ("login", &login)],
    )
    .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.html);
    let after = page.cookie.expect("a new session");
    assert_ne!(after.split(';').next(), Some(before.as_str()));
    assert_eq!(
        get(&router, "/work", Some(&before)).await.status,
        StatusCode::SEE_OTHER,
        "the session the browser had is over"
    );
    // Attempts from one client: after the burst, 429 with Retry-After.
    let mut limited = None;
    for _ in 0..20 {
        let (login, login_cookie) = login_form(&router, "/login").await;
        let page = post(
            &router,
            "/login/token",
            Some(&login_cookie),
            &[("token", "wu_guess"), ("login", &login)],
        )
        .await;
        if page.status == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(page);
            break;
        }
    }
    let page = limited.expect("limited within 20 attempts");
    assert!(page.retry_after.is_some_and(|s| s >= 1), "Retry-After");
    assert!(page.html.contains("Too many attempts"), "{}", page.html);
}

/// Every page says it may not be framed, runs no inline script, and is not cached.
#[tokio::test]
async fn pages_carry_the_security_headers() {
    let (store, router) = setup("headers");
    let session = sign_in(&router, store.as_ref(), "jennifer").await;
    for path in ["/login", "/work", "/work/requests", "/nowhere"] {
        let response = tower::ServiceExt::oneshot(
            router.clone(),
            Request::get(path)
                .header(header::COOKIE, &session)
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("response");
        let headers = response.headers();
        let csp = headers
            .get(header::CONTENT_SECURITY_POLICY)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(csp.contains("script-src 'self'"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        assert_eq!(
            headers.get(header::REFERRER_POLICY).map(|v| v.as_bytes()),
            Some(&b"no-referrer"[..]),
            "{path}"
        );
        assert_eq!(
            headers.get(header::CACHE_CONTROL).map(|v| v.as_bytes()),
            Some(&b"no-store"[..]),
            "{path}"
        );
    }
    // An unknown address is a page in the app's layout, not a blank 404; the API's is JSON.
    let page = get(&router, "/nowhere", Some(&session)).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(page.html.contains("Page not found"), "{}", page.html);
    assert!(
        page.html.contains("Sign out"),
        "in the layout, signed in: {}",
        page.html
    );
    let page = get(&router, "/v1/nothing", None).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(page.html.contains("\"not_found\""), "{}", page.html);
}

#[tokio::test]
async fn jennifer_requests_training_and_her_manager_approves_it() {
    let (store, router) = setup("training");
    let jennifer = sign_in(&router, store.as_ref(), "jennifer").await;

    // What she can request, and the one form, with what the directory knows filled in.
    let page = get(&router, "/work/start", Some(&jennifer)).await;
    assert!(
        page.html.contains("href=\"/work/start/training-request\""),
        "{}",
        page.html
    );
    let page = get(&router, "/work/start/training-request", Some(&jennifer)).await;
    assert_eq!(page.status, StatusCode::OK);
    for label in ["Course or certification", "Training provider", "Start date"] {
        assert!(page.html.contains(label), "{label}");
    }
    assert!(
        page.html.contains("value=\"maria\""),
        "her manager is filled in"
    );
    assert!(page.html.contains("readonly"), "and cannot be changed");
    let token = csrf(&page.html);

    // Without the form's CSRF token nothing happens.
    let page = post(
        &router,
        "/work/start/training-request",
        Some(&jennifer),
        &[("course", "Negotiation")],
    )
    .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(page.html.contains("This form has expired"));
    assert!(store.instances_of("jennifer").expect("read").is_empty());

    // Mistakes are named per field, what she typed stays, and nothing is stored.
    let page = post(
        &router,
        "/work/start/training-request",
        Some(&jennifer),
        &[("csrf", &token), ("course", "Negotiation"), ("cost", "-5")],
    )
    .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.html.contains("There is a problem"), "{}", page.html);
    assert!(page.html.contains("href=\"#field-vendor\""));
    assert!(page.html.contains("value=\"Negotiation\""), "kept");
    assert!(page.html.contains("aria-describedby=\"field-cost-error\""));
    assert!(store.instances_of("jennifer").expect("read").is_empty());

    // A good one.
    let page = post(
        &router,
        "/work/start/training-request",
        Some(&jennifer),
        &[
            ("csrf", &token),
            ("course", "Negotiation Skills"),
            ("vendor", "Skills Academy"),
            ("cost", "1,200"),
            ("startDate", "2026-12-01"),
        ],
    )
    .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.html);
    let instances = store.instances_of("jennifer").expect("read");
    assert_eq!(instances.len(), 1);
    let request = format!("/work/requests/{}", instances[0]);
    assert!(
        page.location
            .as_deref()
            .is_some_and(|l| l.starts_with(&request))
    );
    let page = get(&router, &request, Some(&jennifer)).await;
    assert!(
        page.html.contains("Approve the training request"),
        "{}",
        page.html
    );
    assert!(
        page.html.contains("Now</span> with Maria Lopez"),
        "names, not ids: {}",
        page.html
    );
    assert!(page.html.contains("<h1>Request professional training</h1>"));
    assert!(page.html.contains("started the request"), "{}", page.html);
    let page = get(&router, "/work/requests", Some(&jennifer)).await;
    assert!(
        page.html
            .contains("Now: Approve the training request (Maria Lopez)"),
        "{}",
        page.html
    );
    assert!(
        page.html
            .contains("Request professional training (request ")
    );

    // Someone else cannot see it; the attempt is in the audit trail.
    let mallory = sign_in(&router, store.as_ref(), "mallory").await;
    let page = get(&router, &request, Some(&mallory)).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(page.html.contains("This is not yours"));
    assert!(
        !page.html.contains("Negotiation"),
        "nothing of the request leaks"
    );
    let trail = store.audit_trail(instances[0]).expect("trail");
    assert!(
        trail
            .iter()
            .any(|a| a.actor == "mallory" && a.action.contains("refused")),
        "{trail:?}"
    );

    let maria = sign_in(&router, store.as_ref(), "maria").await;
    // Her manager finds it in the inbox; declining needs a reason.
    let page = get(&router, "/work", Some(&maria)).await;
    assert!(
        page.html.contains("Approve the training request"),
        "{}",
        page.html
    );
    let task = store
        .tasks_for(&store.user("maria").expect("read").expect("maria"))
        .expect("tasks");
    let task_page = format!("/work/tasks/{}-{}", task[0].instance, task[0].task);
    let page = get(&router, &task_page, Some(&maria)).await;
    assert!(
        page.html
            .contains(r#"<button type="submit" name="approved" value="true">Approve</button>"#)
            && page.html.contains(
                r#"<button class="secondary" type="submit" name="approved" value="false">Reject</button>"#
            ),
        "{}",
        page.html
    );
    // What Jennifer asked for is on the page, by the start form's labels.
    assert!(
        page.html
            .contains("Request professional training, request ")
            && page
                .html
                .contains("asked by Jennifer Lee · assigned to you"),
        "{}",
        page.html
    );
    // People and departments by their names, not their ids.
    assert!(
        page.html
            .contains("<dt>Your manager (approves it)</dt><dd>Maria Lopez</dd>")
            && page
                .html
                .contains("<dt>Your department (its budget pays)</dt><dd>Customer Success</dd>"),
        "{}",
        page.html
    );
    // Her inbox says who asks and for what.
    let inbox = get(&router, "/work", Some(&maria)).await;
    assert!(
        inbox
            .html
            .contains("Request professional training: Negotiation Skills")
            && inbox.html.contains("Asked by Jennifer Lee, request "),
        "{}",
        inbox.html
    );
    assert!(
        page.html
            .contains("<dt>Course or certification</dt><dd>Negotiation Skills</dd>"),
        "{}",
        page.html
    );
    let token = csrf(&page.html);
    let page = post(&router, &task_page, Some(&maria), &[("csrf", &token)]).await;
    assert_eq!(
        page.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        page.html
    );
    assert!(page.html.contains("field-reason"), "{}", page.html);
    // Mallory cannot act on it.
    let mallory_token = csrf(&get(&router, "/work", Some(&mallory)).await.html);
    let page = post(
        &router,
        &task_page,
        Some(&mallory),
        &[("csrf", &mallory_token), ("approved", "true")],
    )
    .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    // Maria hands it to her manager (by email), who hands it back (by id); someone unknown is
    // refused with a sentence.
    let delegate = format!("{task_page}/delegate");
    let page = post(
        &router,
        &delegate,
        Some(&maria),
        &[("csrf", &token), ("to", "ghost")],
    )
    .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.html);
    let page = post(
        &router,
        &delegate,
        Some(&maria),
        &[("csrf", &token), ("to", "olivia@example.com")],
    )
    .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.html);
    let olivia = sign_in(&router, store.as_ref(), "olivia").await;
    let olivia_token = csrf(&get(&router, "/work", Some(&olivia)).await.html);
    let page = post(
        &router,
        &delegate,
        Some(&olivia),
        &[("csrf", &olivia_token), ("to", "maria")],
    )
    .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.html);
    let page = get(&router, &request, Some(&jennifer)).await;
    assert!(
        page.html
            .contains("handed “Approve the training request” to Olivia Chen"),
        "{}",
        page.html
    );
    // Reject pressed without the reason a no needs: the page asks for it, nothing is decided.
    let page = post(
        &router,
        &task_page,
        Some(&maria),
        &[("csrf", &token), ("approved", "false"), ("reason", "")],
    )
    .await;
    assert_eq!(
        page.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        page.html
    );
    assert!(
        page.html.contains(r##"<a href="#field-reason">"##),
        "{}",
        page.html
    );
    // Neither button (a form sent some other way): nothing is decided, the choice is asked for.
    let page = post(
        &router,
        &task_page,
        Some(&maria),
        &[("csrf", &token), ("reason", "because")],
    )
    .await;
    assert_eq!(
        page.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        page.html
    );
    assert!(
        page.html.contains("choose: Approve or Reject"),
        "{}",
        page.html
    );
    // Approved, with the Approve button (the reason left empty is not asked for a yes).
    let page = post(
        &router,
        &task_page,
        Some(&maria),
        &[("csrf", &token), ("approved", "true"), ("reason", "")],
    )
    .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.html);
    let page = get(&router, &request, Some(&jennifer)).await;
    assert!(
        page.html.contains("Done</span> by Maria Lopez"),
        "{}",
        page.html
    );
    assert!(
        page.html.contains("Check the department budget"),
        "{}",
        page.html
    );

    // An administrator sees every request and its whole trail; others are refused the list.
    let page = get(&router, "/admin/requests", Some(&jennifer)).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    let ada = sign_in(&router, store.as_ref(), "ada").await;
    let page = get(&router, "/admin/requests?status=running", Some(&ada)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(
        page.html.contains(&format!("href=\"{request}\"")),
        "{}",
        page.html
    );
    assert!(page.html.contains("<td>Jennifer Lee</td>"), "{}", page.html);
    let page = get(&router, "/admin/requests?status=completed", Some(&ada)).await;
    assert!(page.html.contains("No request matches"), "{}", page.html);
    let page = get(&router, &request, Some(&ada)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(
        page.html.contains("was given out"),
        "the whole trail: {}",
        page.html
    );
    assert!(
        page.html.contains("was refused"),
        "Mallory's attempt: {}",
        page.html
    );
}

#[tokio::test]
async fn signing_out_ends_the_session() {
    let (store, router) = setup("sign-out");
    let jennifer = sign_in(&router, store.as_ref(), "jennifer").await;
    let page = get(&router, "/work", Some(&jennifer)).await;
    assert_eq!(page.status, StatusCode::OK);
    let token = csrf(&page.html);
    // Not without the token.
    let page = post(&router, "/logout", Some(&jennifer), &[]).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    let page = post(&router, "/logout", Some(&jennifer), &[("csrf", &token)]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert!(
        page.cookie
            .as_deref()
            .is_some_and(|c| c.contains("Max-Age=0"))
    );
    let page = get(&router, "/work", Some(&jennifer)).await;
    assert_eq!(
        page.status,
        StatusCode::SEE_OTHER,
        "the old cookie no longer works"
    );
}

#[tokio::test]
async fn journeys_are_for_the_people_who_look_after_them() {
    let (store, router) = setup("journeys");

    let example = workspace().join("examples/training-request");
    for file in ["as-is.yaml", "to-be.yaml"] {
        let source = std::fs::read_to_string(example.join(file)).expect("journey");
        let label = file.trim_end_matches(".yaml");
        store
            .deploy_journey("training-request", label, &source, 0)
            .expect("deploy");
    }
    // Jennifer is not a journey reader: no link, and the page says why.
    let jennifer = sign_in(&router, store.as_ref(), "jennifer").await;
    let page = get(&router, "/work", Some(&jennifer)).await;
    assert!(!page.html.contains("href=\"/journeys\""));
    let page = get(&router, "/journeys", Some(&jennifer)).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(page.html.contains("CX leads, journey owners and analysts"));
    // An analyst sees the list with owner and figures, and the map of each version.
    let chris = sign_in(&router, store.as_ref(), "chris").await;
    let page = get(&router, "/journeys", Some(&chris)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(
        page.html.contains("Request professional training"),
        "{}",
        page.html
    );
    assert!(
        page.html.contains("HR Learning &amp; Development"),
        "{}",
        page.html
    );
    assert!(page.html.contains("<th scope=\"col\">Trend</th>"));
    let page = get(
        &router,
        "/journeys/training-request?version=to-be",
        Some(&chris),
    )
    .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(page.html.contains("<svg"), "the map is drawn");
    assert!(
        page.html.contains("How will my customer find out?"),
        "the change-impact answers"
    );
    assert!(
        page.html
            .contains("href=\"/journeys/training-request?version=as-is\""),
        "the as-is is one click away"
    );
    let page = get(
        &router,
        "/journeys/training-request?version=as-is",
        Some(&chris),
    )
    .await;
    assert!(
        !page.html.contains("How will my customer find out?"),
        "an as-is has no change"
    );
    let page = get(&router, "/journeys/nothing", Some(&chris)).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_agent_finds_a_customer_by_any_identifier() {
    use waymark_store::NewEvent;
    let (store, router) = setup("customers");
    let event =
        |id: &str, kind: &str, name: Option<&str>, at: i64, body: serde_json::Value| NewEvent {
            message_id: id.into(),
            kind: kind.into(),
            name: name.map(str::to_string),
            user_id: Some("c42".into()),
            anonymous_id: None,
            timestamp_us: at,
            received_us: at,
            body: body.to_string(),
        };
    store
        .append(vec![
            event("m1", "identify", None, 1_000_000, serde_json::json!({ "type": "identify", "userId": "c42", "traits": { "email": "dana@example.com", "name": "Dana Reyes", "plan": "gold" } })),
            event("m2", "track", Some("Order Placed"), 2_000_000, serde_json::json!({ "type": "track", "userId": "c42", "event": "Order Placed", "context": { "channel": "web" } })),
            event("m3", "track", Some("Called Support"), 3_000_000, serde_json::json!({ "type": "track", "userId": "c42", "event": "Called Support", "properties": { "channel": "phone", "note": "Where is my parcel?", "csat": 2 } })),
        ])
        .expect("append");
    let journey = "id: shop\ntitle: Shopping\nowner: E-commerce\nversion: as-is\nstages:\n  - id: buy\n    name: Buy\n    touchpoints:\n      - id: order\n        name: Order online\n        channel: web\n        department: Sales\n        actor: customer\n        kind: form\n        events:\n          - event: Order Placed\n  - id: help\n    name: Get help\n    touchpoints:\n      - id: support-call\n        name: Support call\n        channel: phone\n        department: Support\n        actor: staff\n        kind: conversation\n        events:\n          - event: Called Support\n";
    store
        .deploy_journey("shop", "as-is", journey, 0)
        .expect("journey");
    let jennifer = sign_in(&router, store.as_ref(), "jennifer").await;
    let page = get(&router, "/customers?q=dana%40example.com", Some(&jennifer)).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(!page.html.contains("Dana"), "nothing leaks");
    let alex = sign_in(&router, store.as_ref(), "alex").await;
    let page = get(&router, "/work", Some(&alex)).await;
    assert!(page.html.contains("href=\"/customers\""));
    let page = get(&router, "/customers?q=dana%40example.com", Some(&alex)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(page.html.contains("<h2>Dana Reyes</h2>"), "{}", page.html);
    assert!(page.html.contains("user:c42"), "{}", page.html);
    let called = page.html.find("Called Support").expect("the phone call");
    let ordered = page.html.find("Order Placed").expect("the order");
    assert!(called < ordered, "newest first");
    assert!(
        page.html.contains("<td>phone</td>") && page.html.contains("<td>web</td>"),
        "{}",
        page.html
    );
    // Where Dana is in each journey: the stage and touchpoint of her latest visit; an agent
    // without the journey role sees the title, not a link to the map.
    assert!(
        page.html
            .contains("<td>Shopping</td><td>Get help: Support call</td><td>completed</td>"),
        "{}",
        page.html
    );
    // The timeline speaks in touchpoint names, with what was said and the scores given.
    assert!(
        page.html
            .contains(r#"Support call <span class="meta">(Called Support)</span> <span class="badge">CSAT 2</span><br><span class="meta">“Where is my parcel?”</span>"#),
        "{}",
        page.html
    );
    // Where we are: the context answer, the last thing on each channel.
    let context = &page.html[page.html.find("Last on each channel").expect("context")..];
    let phone = context.find("<strong>phone</strong>").expect("the phone");
    let web = context.find("<strong>web</strong>").expect("the web");
    assert!(phone < web, "newest first");
    assert!(
        context[phone..web].contains("Support call (Shopping)")
            && context[phone..web].contains("“Where is my parcel?”"),
        "{context}"
    );
    // The same person by their user id; someone unknown is said so.
    let page = get(&router, "/customers?q=c42", Some(&alex)).await;
    assert!(page.html.contains("Dana Reyes"));
    let page = get(&router, "/customers?q=nobody%40example.com", Some(&alex)).await;
    assert!(page.html.contains("No one matches"), "{}", page.html);
    // Two letters identify nobody and are too few to look for as a part.
    let page = get(&router, "/customers?q=re", Some(&alex)).await;
    assert!(
        page.html.contains("type at least 3 characters") && !page.html.contains("Dana"),
        "{}",
        page.html
    );
    // By part of her name: a list to choose from, each linking to the whole profile.
    let page = get(&router, "/customers?q=reye", Some(&alex)).await;
    assert!(
        page.html.contains("1 person matching “reye”:")
            && page
                .html
                .contains(r#"<a href="/customers?q=user%3Ac42">Dana Reyes</a>"#)
            && page.html.contains("dana@example.com"),
        "{}",
        page.html
    );
    let page = get(&router, "/customers?q=user%3Ac42", Some(&alex)).await;
    assert!(page.html.contains("<h2>Dana Reyes</h2>"), "{}", page.html);
    // Alex's home lists whom he looked at last, newest first, each once.
    let home = get(&router, "/", Some(&alex)).await;
    let looked = &home.html[home.html.find("You looked at last").expect("the list")..];
    assert!(
        looked.contains(r#"<a href="/customers?q=user%3Ac42">Dana Reyes</a>"#),
        "{looked}"
    );
    assert_eq!(
        looked.matches("Dana Reyes").count(),
        1,
        "once, whatever she was looked up by: {looked}"
    );
    // Someone not allowed to look people up finds nobody by a part either.
    let page = get(&router, "/customers?q=reye", Some(&jennifer)).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(!page.html.contains("Dana"), "nothing leaks");
}

/// An emailed sign-in link signs in once; used again, expired or changed, it is refused with a
/// sentence and the way to a new one.
#[tokio::test]
async fn a_sign_in_link_works_once() {
    let (store, router) = setup("sign-in-link");
    let links = waymark_server::mail::Links::new(&store.secret("sign-in").expect("key"));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_micros() as i64;
    let link = |expires_us: i64| {
        format!(
            "/login/link/{}",
            links.sign(&waymark_server::mail::Grant {
                instance: 0,
                person: "jennifer".into(),
                expires_us,
            })
        )
    };
    let fresh = link(now + 600_000_000);
    // Opening the link (a mail scanner does) signs nobody in and spends nothing: its page has
    // a button.
    for _ in 0..2 {
        let page = get(&router, &fresh, None).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.html);
        assert!(
            page.html
                .contains("<button type=\"submit\">Sign in</button>"),
            "{}",
            page.html
        );
        assert!(
            !page
                .cookie
                .as_deref()
                .is_some_and(|c| c.starts_with("waymark_session"))
        );
    }
    let press = |path: String| {
        let router = router.clone();
        async move {
            let (login, login_cookie) = login_form(&router, &path).await;
            post(&router, &path, Some(&login_cookie), &[("login", &login)]).await
        }
    };
    let page = press(fresh.clone()).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.html);
    let session = page.cookie.expect("a session");
    let session = session.split(';').next().expect("cookie");
    assert_eq!(
        get(&router, "/work", Some(session)).await.status,
        StatusCode::OK
    );
    let (login, login_cookie) = login_form(&router, "/login").await;
    let again = post(&router, &fresh, Some(&login_cookie), &[("login", &login)]).await;
    assert_eq!(again.status, StatusCode::GONE);
    assert!(again.html.contains("used already"), "{}", again.html);
    assert!(
        !again
            .cookie
            .as_deref()
            .is_some_and(|c| c.starts_with("waymark_session")),
        "no second session"
    );
    let expired = get(&router, &link(now - 1), None).await;
    assert_eq!(expired.status, StatusCode::GONE);
    assert!(expired.html.contains("expired"));
    let changed = get(&router, &format!("{fresh}x"), None).await;
    assert_eq!(changed.status, StatusCode::FORBIDDEN);
    // A request's step link is signed with another key: it never signs anyone in.
    let step = waymark_server::mail::Links::new(&store.secret("links").expect("key")).sign(
        &waymark_server::mail::Grant {
            instance: 0,
            person: "jennifer".into(),
            expires_us: now + 600_000_000,
        },
    );
    let page = get(&router, &format!("/login/link/{step}"), None).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
}

/// Asking for a sign-in link answers the same whether the address is known, and the link goes
/// out after the answer (here into the in-app mailbox); the person's link page has a button.
#[tokio::test]
async fn a_sign_in_link_is_asked_for_without_telling_who_works_here() {
    let (store, _) = setup("ask-link");
    let mut state = waymark_server::AppState::new(store.clone()).expect("state");
    state.mailer = Some(std::sync::Arc::new(
        waymark_server::mail::Mailer::in_app(
            store.clone(),
            "Waymark <w@example.com>",
            "http://w.example",
        )
        .expect("mailer"),
    ));
    let pages = waymark_web::pages(state.clone(), false);
    let router = waymark_server::app_with(state, pages);
    let mut answers = Vec::new();
    for address in ["jennifer@example.com", "nobody@example.com"] {
        let (login, login_cookie) = login_form(&router, "/login").await;
        let page = post(
            &router,
            "/login",
            Some(&login_cookie),
            &[("email", address), ("login", &login)],
        )
        .await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.html);
        // The same page but for the address echoed and the fresh login tokens.
        let mut html = page.html.replace(address, "ADDRESS");
        let marker = "name=\"login\" value=\"";
        let mut from = 0;
        while let Some(at) = html[from..].find(marker) {
            let start = from + at + marker.len();
            html.replace_range(start..start + 32, "TOKEN");
            from = start;
        }
        answers.push(html);
    }
    assert_eq!(
        answers[0], answers[1],
        "known and unknown addresses answer alike"
    );
    let mail = (0..100)
        .find_map(|_| {
            std::thread::sleep(std::time::Duration::from_millis(20));
            store
                .mails(Some("jennifer"), 10)
                .ok()
                .and_then(|m| m.into_iter().next())
        })
        .expect("the link went out after the answer");
    assert!(
        mail.body.contains("http://w.example/login/link/"),
        "{}",
        mail.body
    );
    assert!(
        store.mails(None, 10).expect("mails").len() == 1,
        "nothing for the unknown address"
    );
}

/// Review finding: a session begun with an access token outlived the token. It ends when the
/// token is revoked, and lasts no longer than the token.
#[tokio::test]
async fn a_session_ends_with_the_token_it_began_with() {
    let (store, router) = setup("session-token");
    let token = store.issue_user_token("jennifer").expect("token");
    let (login, login_cookie) = login_form(&router, "/login").await;
    let page = post(
        &router,
        "/login/token",
        Some(&login_cookie),
        &[("token", &token), ("login", &login)],
    )
    .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let session = page.cookie.expect("session");
    let session = session.split(';').next().expect("cookie").to_string();
    assert_eq!(
        get(&router, "/work", Some(&session)).await.status,
        StatusCode::OK
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_micros() as i64;
    let Some(waymark_store::keys::Holder::Person { id, .. }) =
        store.holder(&token, now).expect("holder")
    else {
        panic!("a person's token");
    };
    assert!(store.revoke_key(&id, "ada", now).expect("revoke"));
    let page = get(&router, "/work", Some(&session)).await;
    assert_eq!(
        page.status,
        StatusCode::SEE_OTHER,
        "signed out with the token"
    );
    // A token that ends in a minute makes a session that ends with it, not 12 hours later.
    let (kid, short) = store
        .issue_person_token("jennifer", "short", Some(now + 60_000_000), "ada", now)
        .expect("token");
    let (session_id, _) = store
        .create_session_by("jennifer", Some(&kid), now, 12 * 3_600_000_000)
        .expect("session");
    let found = store
        .session(&session_id, now)
        .expect("read")
        .expect("live");
    assert!(found.expires_us <= now + 60_000_000, "{}", found.expires_us);
    assert!(
        store
            .session(&session_id, now + 61_000_000)
            .expect("read")
            .is_none()
    );
    let _ = short;
}

/// Each person lands on a home page made of what they do: what waits for them first (Maria's
/// approval, with who asks and for what), their requests (Jennifer's), and the parts for
/// journeys, customers and the whole installation only for those who may read them.
#[tokio::test]
async fn every_person_lands_on_a_home_made_for_them() {
    let (store, router) = setup("home");
    let jennifer = sign_in(&router, store.as_ref(), "jennifer").await;
    let page = get(&router, "/work/start/training-request", Some(&jennifer)).await;
    let token = csrf(&page.html);
    let page = post(
        &router,
        "/work/start/training-request",
        Some(&jennifer),
        &[
            ("csrf", &token),
            ("course", "Negotiation Skills"),
            ("vendor", "Skills Academy"),
            ("cost", "1200"),
            ("startDate", "2026-12-01"),
        ],
    )
    .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.html);
    let maria = sign_in(&router, store.as_ref(), "maria").await;
    let home = get(&router, "/", Some(&maria)).await;
    assert_eq!(home.status, StatusCode::OK, "{}", home.html);
    assert!(
        home.html.contains("<h1>Hello, Maria</h1>")
            && home.html.contains("Approve the training request")
            && home
                .html
                .contains("Request professional training: Negotiation Skills")
            && home.html.contains("Asked by Jennifer Lee"),
        "{}",
        home.html
    );
    let home = get(&router, "/", Some(&jennifer)).await;
    assert!(
        home.html.contains("Nothing is waiting for you.")
            && home
                .html
                .contains("Request professional training (request ")
            && home.html.contains("In progress"),
        "{}",
        home.html
    );
    let parts = [
        "Your journeys",
        "Find a customer",
        "This installation",
        "Your saved analyses",
    ];
    for part in parts {
        assert!(!home.html.contains(part), "not for Jennifer: {part}");
    }
    for (who, theirs) in [
        (
            "chris",
            &["Your journeys", "Find a customer", "Your saved analyses"][..],
        ),
        ("alex", &["Find a customer"][..]),
        // An administrator reads everything; the installation comes first.
        ("ada", &parts[..]),
    ] {
        let person = sign_in(&router, store.as_ref(), who).await;
        let home = get(&router, "/", Some(&person)).await;
        if who == "ada" {
            // The installation's health in figures: Jennifer's request is in progress.
            assert!(
                home.html.contains(r#"<a href="/admin/requests?status=running"><span class="figure">1</span><span class="label">requests in progress</span></a>"#)
                    && home.html.contains(r#"<span class="figure">0</span><span class="label">webhook calls failing</span>"#),
                "{}",
                home.html
            );
        }
        for part in parts {
            assert_eq!(
                home.html.contains(part),
                theirs.contains(&part),
                "{who}, {part}: {}",
                home.html
            );
        }
    }
}

/// An administrator manages keys in the browser: a mistake is named at its field, a new key's
/// secret is shown once and works, and a revoked key or person's token is refused at once (her
/// session ends with it). Nobody else sees the page.
#[tokio::test]
async fn an_administrator_issues_and_revokes_keys_in_the_browser() {
    let (store, router) = setup("keys");
    let jennifer = sign_in(&router, store.as_ref(), "jennifer").await;
    let page = get(&router, "/admin/keys", Some(&jennifer)).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    // A key the server was started with (`--server-key`).
    store
        .ensure_key(waymark_store::KeyKind::Server, "sk_started_with")
        .expect("configured");
    let ada = sign_in(&router, store.as_ref(), "ada").await;
    let page = get(&router, "/admin/keys", Some(&ada)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(
        page.html.contains("Jennifer Lee"),
        "her token, by name: {}",
        page.html
    );
    let token = csrf(&page.html);
    // The keys the server was started with are changed in its settings, not revoked here.
    let configured = page
        .html
        .matches("Set in the server&#39;s settings")
        .count()
        + page.html.matches("Set in the server's settings").count();
    assert!(configured >= 1, "{}", page.html);
    // A typed address claims nothing.
    let page = get(&router, "/admin/keys?revoked=k_made_up", Some(&ada)).await;
    assert!(
        !page.html.contains("revoked: it is refused"),
        "{}",
        page.html
    );
    // Without the form's token nothing is issued.
    let before = store.keys().expect("keys").len();
    let page = post(
        &router,
        "/admin/keys",
        Some(&ada),
        &[("csrf", "forged"), ("kind", "server")],
    )
    .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert_eq!(store.keys().expect("keys").len(), before);
    // A worker key without topics: named at its field, nothing issued.
    let page = post(
        &router,
        "/admin/keys",
        Some(&ada),
        &[
            ("csrf", &token),
            ("kind", "worker"),
            ("topics", " "),
            ("label", "lms"),
        ],
    )
    .await;
    assert_eq!(
        page.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        page.html
    );
    assert!(
        page.html.contains(r##"<a href="#key-topics">"##),
        "{}",
        page.html
    );
    assert!(page.html.contains(r#"value="lms""#), "what was typed stays");
    assert_eq!(store.keys().expect("keys").len(), before);
    // Without the form's own token (an old page), nothing is issued.
    const ONCE: &str = "0123456789abcdef0123456789abcdef";
    let page = post(
        &router,
        "/admin/keys",
        Some(&ada),
        &[("csrf", &token), ("kind", "server"), ("label", "stale")],
    )
    .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.html);
    assert!(page.html.contains("This form has expired"), "{}", page.html);
    assert_eq!(store.keys().expect("keys").len(), before);
    // A server key for the learning system: its secret once, and it works.
    let page = post(
        &router,
        "/admin/keys",
        Some(&ada),
        &[
            ("csrf", &token),
            ("kind", "server"),
            ("label", "Learning system"),
            ("expires_in", "90d"),
            ("once", ONCE),
        ],
    )
    .await;
    assert_eq!(page.status, StatusCode::CREATED, "{}", page.html);
    // The same form again (a reload): no second key, and the page says why.
    let issued = store.keys().expect("keys").len();
    let again = post(
        &router,
        "/admin/keys",
        Some(&ada),
        &[
            ("csrf", &token),
            ("kind", "server"),
            ("label", "Learning system"),
            ("expires_in", "90d"),
            ("once", ONCE),
        ],
    )
    .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.html);
    assert!(
        again.html.contains("already issued its key"),
        "{}",
        again.html
    );
    assert!(!again.html.contains("<code class=\"secret\">"));
    assert_eq!(store.keys().expect("keys").len(), issued);
    // Each rendering of the form carries a token of its own.
    let form = get(&router, "/admin/keys", Some(&ada)).await;
    let once = |html: &str| {
        let marker = r#"name="once" value=""#;
        let at = html.find(marker).expect("the form's token") + marker.len();
        html[at..].split('"').next().expect("value").to_string()
    };
    let first = once(&form.html);
    assert_eq!(first.len(), 32, "{first}");
    assert_ne!(
        first,
        once(&get(&router, "/admin/keys", Some(&ada)).await.html)
    );
    let marker = "<code class=\"secret\">";
    let at = page.html.find(marker).expect("the secret") + marker.len();
    let secret = page.html[at..].split('<').next().expect("text").to_string();
    let now = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_micros(),
    )
    .expect("a time");
    let held = store.holder(&secret, now).expect("read");
    let Some(waymark_store::keys::Holder::Key { id, .. }) = held else {
        panic!("the new key works: {held:?}");
    };
    let listed = get(&router, "/admin/keys", Some(&ada)).await;
    assert!(!listed.html.contains(&secret), "the secret is never listed");
    assert!(listed.html.contains("Learning system"), "{}", listed.html);
    // Revoked: refused from now on, and the page says so.
    let page = post(
        &router,
        &format!("/admin/keys/{id}/revoke"),
        Some(&ada),
        &[("csrf", &token)],
    )
    .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.html);
    assert_eq!(store.holder(&secret, now).expect("read"), None);
    let page = get(&router, page.location.as_deref().expect("back"), Some(&ada)).await;
    assert!(
        page.html.contains("revoked: it is refused from now on"),
        "{}",
        page.html
    );
    // Again: nothing live has that id.
    let page = post(
        &router,
        &format!("/admin/keys/{id}/revoke"),
        Some(&ada),
        &[("csrf", &token)],
    )
    .await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    // Without the form's token nothing happens.
    let hers = store
        .keys()
        .expect("keys")
        .into_iter()
        .find(|k| k.user.as_deref() == Some("jennifer") && k.revoked_us.is_none())
        .expect("her token");
    let page = post(
        &router,
        &format!("/admin/keys/{}/revoke", hers.id),
        Some(&ada),
        &[("csrf", "forged")],
    )
    .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert_eq!(
        get(&router, "/work", Some(&jennifer)).await.status,
        StatusCode::OK
    );
    // Her token revoked: her session ends with it.
    let page = post(
        &router,
        &format!("/admin/keys/{}/revoke", hers.id),
        Some(&ada),
        &[("csrf", &token)],
    )
    .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let page = get(&router, "/work", Some(&jennifer)).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "sent to sign in again");
    assert!(
        page.location
            .as_deref()
            .is_some_and(|l| l.starts_with("/login")),
        "{:?}",
        page.location
    );
}

/// The directory in the browser: administrators read everyone by name, with their department,
/// manager and roles, and take a leaver out (her session ends); nobody takes themselves out, and
/// nobody else sees the page.
#[tokio::test]
async fn an_administrator_reads_the_directory_and_takes_a_leaver_out() {
    let (store, router) = setup("people");
    let mallory = sign_in(&router, store.as_ref(), "mallory").await;
    assert_eq!(
        get(&router, "/admin/people", Some(&mallory)).await.status,
        StatusCode::FORBIDDEN
    );
    let ada = sign_in(&router, store.as_ref(), "ada").await;
    let page = get(&router, "/admin/people", Some(&ada)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(
        page.html
            .contains("<td>Customer Success</td><td>Olivia Chen</td><td>manager</td>"),
        "Maria by names: {}",
        page.html
    );
    assert!(
        !page.html.contains("/admin/people/ada/disable"),
        "not herself: {}",
        page.html
    );
    let token = csrf(&page.html);
    let page = post(
        &router,
        "/admin/people/ada/disable",
        Some(&ada),
        &[("csrf", &token)],
    )
    .await;
    assert_eq!(page.status, StatusCode::CONFLICT);
    let page = post(
        &router,
        "/admin/people/mallory/disable",
        Some(&ada),
        &[("csrf", "forged")],
    )
    .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(!store.disabled("mallory").expect("read"));
    let page = post(
        &router,
        "/admin/people/mallory/disable",
        Some(&ada),
        &[("csrf", &token)],
    )
    .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.html);
    assert!(store.disabled("mallory").expect("read"));
    let page = get(&router, page.location.as_deref().expect("back"), Some(&ada)).await;
    assert!(
        page.html
            .contains("<code>mallory</code> was taken out of the directory")
            && !page.html.contains("Mallory Smith"),
        "{}",
        page.html
    );
    let page = get(&router, "/work", Some(&mallory)).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "her session ended");
}

/// Ada, an administrator, moves a stuck request: gives Maria's approval to Olivia while Maria is
/// away, then cancels the request; each with a reason in its history, each refused without
/// one, never to the requester, never on her own request, and never by anyone else.
#[tokio::test]
async fn an_administrator_reassigns_a_step_and_cancels_a_request_with_reasons() {
    let (store, router) = setup("manage-requests");
    let variables = |course: &str| {
        serde_json::json!({ "course": course, "vendor": "Skills Academy", "cost": 1200, "startDate": "2026-12-01" })
            .as_object()
            .cloned()
            .expect("variables")
    };
    let id = store
        .start_instance("training-request", "jennifer", variables("Negotiation"), 0)
        .expect("start");
    let approval = store
        .instance_tasks(id)
        .expect("tasks")
        .into_iter()
        .find(|t| t.status == "open")
        .expect("the approval");
    assert_eq!(approval.assignee.as_deref(), Some("maria"));
    let task = format!("{}-{}", approval.instance, approval.task);
    let ada = sign_in(&router, store.as_ref(), "ada").await;
    let page = get(&router, &format!("/work/requests/{id}"), Some(&ada)).await;
    assert!(page.html.contains("Give “"), "{}", page.html);
    assert!(page.html.contains("Cancel the request…"), "{}", page.html);
    // Jennifer is not offered her own approval.
    let offered = &page.html[page
        .html
        .find(&format!("/admin/tasks/{task}/reassign"))
        .expect("form")..];
    let offered = &offered[..offered.find("</select>").expect("select")];
    assert!(
        offered.contains(r#"<option value="olivia">Olivia Chen</option>"#),
        "{offered}"
    );
    assert!(!offered.contains(r#"value="jennifer""#), "{offered}");
    let token = crate::csrf(&page.html);
    let reassign = format!("/admin/tasks/{task}/reassign");
    // A reason is needed.
    let page = post(
        &router,
        &reassign,
        Some(&ada),
        &[("csrf", &token), ("to", "olivia"), ("reason", " ")],
    )
    .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.html.contains("Say why"), "{}", page.html);
    // Never to the requester.
    let page = post(
        &router,
        &reassign,
        Some(&ada),
        &[
            ("csrf", &token),
            ("to", "jennifer"),
            ("reason", "she knows best"),
        ],
    )
    .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(
        page.html.contains("Jennifer Lee asked for this request"),
        "{}",
        page.html
    );
    // Nobody but an administrator.
    let maria = sign_in(&router, store.as_ref(), "maria").await;
    let maria_token = crate::csrf(&get(&router, "/work", Some(&maria)).await.html);
    let page = post(
        &router,
        &reassign,
        Some(&maria),
        &[("csrf", &maria_token), ("to", "olivia"), ("reason", "away")],
    )
    .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    // To Olivia, because Maria is away.
    let page = post(
        &router,
        &reassign,
        Some(&ada),
        &[
            ("csrf", &token),
            ("to", "olivia"),
            ("reason", "Maria is on leave"),
        ],
    )
    .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.html);
    assert_eq!(
        store
            .task(approval.instance, approval.task)
            .expect("read")
            .expect("task")
            .assignee
            .as_deref(),
        Some("olivia")
    );
    let page = get(
        &router,
        &format!("/work/requests/{id}?reassigned=1"),
        Some(&ada),
    )
    .await;
    assert!(page.html.contains("Handed over"), "{}", page.html);
    assert!(page.html.contains("Maria is on leave"), "{}", page.html);
    // Cancelled, with its reason; its open step ends; a second cancel is told it has ended.
    let cancel = format!("/admin/requests/{id}/cancel");
    let page = post(
        &router,
        &cancel,
        Some(&ada),
        &[("csrf", &token), ("reason", "Booked through another team")],
    )
    .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.html);
    let row = store.instance(id).expect("read").expect("request");
    assert_eq!(row.status, "cancelled");
    assert!(
        store
            .instance_tasks(id)
            .expect("tasks")
            .iter()
            .all(|t| t.status != "open"),
        "nothing is left open"
    );
    let jennifer = sign_in(&router, store.as_ref(), "jennifer").await;
    let page = get(&router, &format!("/work/requests/{id}"), Some(&jennifer)).await;
    assert!(
        page.html.contains("Cancelled by an administrator"),
        "{}",
        page.html
    );
    assert!(
        page.html
            .contains("cancelled the request: Booked through another team"),
        "she reads why: {}",
        page.html
    );
    let page = post(
        &router,
        &cancel,
        Some(&ada),
        &[("csrf", &token), ("reason", "again")],
    )
    .await;
    assert_eq!(page.status, StatusCode::CONFLICT);
    // Ada's own request is another administrator's to move.
    let own = store
        .start_instance("training-request", "ada", variables("Rust"), 0)
        .expect("start");
    let page = get(&router, &format!("/work/requests/{own}"), Some(&ada)).await;
    assert!(
        page.html.contains("This is your own request"),
        "{}",
        page.html
    );
    let page = post(
        &router,
        &format!("/admin/requests/{own}/cancel"),
        Some(&ada),
        &[("csrf", &token), ("reason", "changed my mind")],
    )
    .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert_eq!(
        store.instance(own).expect("read").expect("request").status,
        "running"
    );
}

/// What is deployed, for administrators: each journey, process and form with its version and
/// how many there are; a new file makes a new version.
#[tokio::test]
async fn an_administrator_sees_what_is_deployed_and_its_versions() {
    let (store, router) = setup("deployed");
    let journey = std::fs::read_to_string(
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../examples/training-request/as-is.yaml"),
    )
    .expect("journey");
    store
        .deploy_journey("training-request", "as-is", &journey, 0)
        .expect("journey");
    store
        .deploy_journey(
            "training-request",
            "as-is",
            &journey.replace("title:", "title: New:"),
            1,
        )
        .expect("a second version");
    let ada = sign_in(&router, store.as_ref(), "ada").await;
    let page = get(&router, "/admin/deployed", Some(&ada)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(
        page.html.contains("2 (as-is) · 2 versions"),
        "{}",
        page.html
    );
    assert!(
        page.html.contains("<code>training-request</code> · YAML"),
        "{}",
        page.html
    );
    assert!(
        page.html.contains("<td><code>request-training</code></td>"),
        "{}",
        page.html
    );
    let maria = sign_in(&router, store.as_ref(), "maria").await;
    let page = get(&router, "/admin/deployed", Some(&maria)).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
}

/// An administrator adds a person and changes their roles in the browser: mistakes are named at
/// their fields, every change is in the access trail with the roles before and after, and
/// nobody takes the administrator role from themselves.
#[tokio::test]
async fn an_administrator_adds_and_changes_people_in_the_browser() {
    let (store, router) = setup("directory-edit");
    let ada = sign_in(&router, store.as_ref(), "ada").await;
    let page = get(&router, "/admin/people/new", Some(&ada)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    let token = csrf(&page.html);
    // Mistakes, each at its field; nothing saved.
    let page = post(
        &router,
        "/admin/people",
        Some(&ada),
        &[
            ("csrf", &token),
            ("id", "maria"),
            ("name", ""),
            ("email", "not an address"),
            ("manager", "sam"),
        ],
    )
    .await;
    assert_eq!(
        page.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        page.html
    );
    for (field, words) in [
        ("id", "Someone already has the id maria"),
        ("name", "Write their name"),
        ("email", "is not an email address"),
        ("manager", "Nobody with the id sam"),
    ] {
        assert!(
            page.html
                .contains(&format!(r##"<a href="#person-{field}">"##)),
            "{field}: {}",
            page.html
        );
        assert!(page.html.contains(words), "{field}: {}", page.html);
    }
    assert!(
        page.html.contains(r#"value="not an address""#),
        "what was typed stays"
    );
    // Sam, an agent reporting to Olivia, in a group of their own.
    let page = post(
        &router,
        "/admin/people",
        Some(&ada),
        &[
            ("csrf", &token),
            ("id", "sam"),
            ("name", "Sam Cole"),
            ("email", "sam@example.com"),
            ("department", "support"),
            ("manager", "olivia"),
            ("role", "agent"),
            ("other", "it-support"),
        ],
    )
    .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.html);
    let sam = store.user("sam").expect("read").expect("sam");
    assert_eq!(
        (sam.manager.as_deref(), sam.roles.clone()),
        (
            Some("olivia"),
            vec!["agent".to_string(), "it-support".to_string()]
        )
    );
    let listed = get(&router, page.location.as_deref().expect("back"), Some(&ada)).await;
    assert!(
        listed.html.contains("Sam Cole is saved in the directory"),
        "{}",
        listed.html
    );
    // Made an analyst instead; the form shows what they have.
    let page = get(&router, "/admin/people/sam", Some(&ada)).await;
    assert!(
        page.html
            .contains(r#"value="agent" id="role-agent" checked"#),
        "{}",
        page.html
    );
    assert!(page.html.contains(r#"value="it-support""#), "{}", page.html);
    let page = post(
        &router,
        "/admin/people/sam",
        Some(&ada),
        &[
            ("csrf", &token),
            ("name", "Sam Cole"),
            ("role", "analyst"),
            ("manager", "olivia"),
        ],
    )
    .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.html);
    assert_eq!(
        store.user("sam").expect("read").expect("sam").roles,
        ["analyst"]
    );
    let trail = store
        .audit_trail(waymark_store::workflow::ACCESS_TRAIL)
        .expect("trail");
    let changed = trail
        .iter()
        .find(|a| a.action == "person changed" && a.data["user"] == "sam")
        .expect("in the access trail");
    assert_eq!(changed.actor, "ada");
    assert_eq!(
        changed.data["roles_before"],
        serde_json::json!(["agent", "it-support"])
    );
    assert_eq!(changed.data["roles"], serde_json::json!(["analyst"]));
    // Not the administrator role from herself.
    let page = post(
        &router,
        "/admin/people/ada",
        Some(&ada),
        &[("csrf", &token), ("name", "Ada Admin"), ("role", "agent")],
    )
    .await;
    assert_eq!(
        page.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        page.html
    );
    assert!(
        page.html
            .contains("cannot take the administrator role from yourself"),
        "{}",
        page.html
    );
    assert!(
        store
            .user("ada")
            .expect("read")
            .expect("ada")
            .has_role("admin")
    );
    // Nobody else changes the directory.
    let maria = sign_in(&router, store.as_ref(), "maria").await;
    let maria_token = csrf(&get(&router, "/work", Some(&maria)).await.html);
    let page = post(
        &router,
        "/admin/people/maria",
        Some(&maria),
        &[("csrf", &maria_token), ("name", "Maria"), ("role", "admin")],
    )
    .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(
        !store
            .user("maria")
            .expect("read")
            .expect("maria")
            .has_role("admin")
    );
}
