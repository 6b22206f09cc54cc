//! The web app in a real browser: Chromium driven by playwright-core (`tests/browser/work.mjs`)
//! against a real `waymark serve`, with axe-core checking every page. Screenshots of the main
//! pages are kept in `target/screenshots/` for people to look at.

use std::process::Command;

use serde_json::Value;

use super::automation::{ADMIN, call, deploy_training, directory, sign_in};
use super::*;

/// Loan applicants' events for the loan journey: of every three, one goes all the way, one stops
/// after the pre-acceptance and one is declined; every second is a `returning` customer. Returns
/// the batch and the funnel (application form, pre-acceptance, loan approved) they make.
fn loan_events() -> (Value, [usize; 3]) {
    let walks: [&[&str]; 3] = [
        &[
            "A_SUBMITTED",
            "A_PARTLYSUBMITTED",
            "A_PREACCEPTED",
            "W_Completeren aanvraag",
            "A_ACCEPTED",
            "O_SENT",
            "W_Nabellen offertes",
            "W_Nabellen offertes",
            "O_SENT_BACK",
            "A_APPROVED",
            "O_ACCEPTED",
            "A_ACTIVATED",
        ],
        &["A_SUBMITTED", "A_PARTLYSUBMITTED", "A_PREACCEPTED"],
        &["A_SUBMITTED", "A_PARTLYSUBMITTED", "A_DECLINED"],
    ];
    let mut batch = Vec::new();
    let mut funnel = [0; 3];
    let day0 = 1_794_700_800_i64; // 2026-11-15
    for n in 0..30_i64 {
        let who = format!("applicant-{n}");
        let segment = if n % 2 == 0 { "new" } else { "returning" };
        batch.push(
            serde_json::json!({ "type": "identify", "userId": who, "messageId": format!("{who}-id"),
            "timestamp": "2026-11-14T08:00:00Z", "traits": { "segment": segment } }),
        );
        let walk = walks[(n % 3) as usize];
        funnel[0] += 1;
        if walk.contains(&"A_PREACCEPTED") {
            funnel[1] += 1;
        }
        if walk.contains(&"A_APPROVED") {
            funnel[2] += 1;
        }
        for (k, event) in walk.iter().enumerate() {
            let at = day0 + n * 600 + k as i64 * 5_400;
            batch.push(
                serde_json::json!({ "type": "track", "userId": who, "event": event,
                "messageId": format!("{who}-{k}"),
                "timestamp": waymark_eventlog::time::format_micros(at * 1_000_000) }),
            );
        }
    }
    (
        serde_json::json!({ "writeKey": "wk_browser", "batch": batch }),
        funnel,
    )
}

/// Anything a script's environment is given, as text.
fn as_text(value: impl AsRef<std::ffi::OsStr>) -> String {
    value.as_ref().to_string_lossy().to_string()
}

/// The access token `waymark demo`'s banner prints for one of its people.
fn demo_token(banner: &[String], who: &str) -> String {
    banner
        .iter()
        .find_map(|line| {
            let mut words = line.split_whitespace();
            (words.next() == Some(who)).then(|| words.next().map(str::to_string))?
        })
        .unwrap_or_else(|| panic!("a token for {who}: {banner:?}"))
}

/// Runs one of `tests/browser/*.mjs` with `env`, and reads the JSON object it prints last.
fn run_script(script: &str, env: &[(&str, String)]) -> Value {
    let output = Command::new("node")
        .arg(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/browser")
                .join(script),
        )
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .expect("run node (scripts/test installs playwright-core and axe-core)");
    assert!(
        output.status.success(),
        "the browser script {script} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(text.lines().last().unwrap_or("{}")).expect("json")
}

/// Approves, as `who`, the one journey change waiting in their inbox.
fn approve(url: &str, who: &str) {
    let token = sign_in(url, who);
    let (status, inbox) = call("GET", &format!("{url}/v1/tasks"), Some(&token), None);
    assert_eq!(status, 200, "{inbox}");
    let task = inbox["tasks"][0]["id"].as_str().expect("the approval");
    let (status, body) = call(
        "POST",
        &format!("{url}/v1/tasks/{task}/complete"),
        Some(&token),
        Some(("application/json", r#"{"approved": true}"#.to_string())),
    );
    assert_eq!(status, 200, "{body}");
}

#[test]
fn the_web_app_in_chromium_on_a_phone_and_a_desktop() {
    let Some(modules) = super::clients::required("WAYMARK_NODE_MODULES") else {
        return;
    };
    let Some(chromium) = super::clients::required("WAYMARK_CHROMIUM") else {
        return;
    };
    let Some(python) = super::clients::required("WAYMARK_PYTHON") else {
        return;
    };
    let servers = super::automation::serve_with_mail(&python, "browser-work", "wk_browser");
    let (url, maildir) = (servers.url.clone(), servers.maildir.clone());
    directory(
        &url,
        "id,name,email,department,manager,roles\n\
         jennifer,Jennifer Lee,jennifer@example.com,customer-success,maria,\n\
         maria,Maria Lopez,maria@example.com,customer-success,olivia,manager\n\
         finn,Finn Berg,finn@example.com,finance,olivia,finance\n\
         olivia,Olivia Chen,olivia@example.com,leadership,,journey-owner\n\
         mallory,Mallory Smith,mallory@example.com,sales,olivia,\n\
         chris,Chris Analyst,chris@example.com,cx,olivia,analyst\n\
         alex,Alex Agent,alex@example.com,support,olivia,agent\n\
         ada,Ada Admin,ada@example.com,it,olivia,admin\n\
         hana,Hana Weber,hana@example.com,hr,olivia,manager\n",
    );
    // A customer's events on two channels, and the loan applicants', through the collection API.
    let batch = serde_json::json!({
        "writeKey": "wk_browser",
        "batch": [
            { "type": "identify", "userId": "c42", "messageId": "b1", "timestamp": "2026-11-01T09:00:00Z",
              "traits": { "email": "dana@example.com", "name": "Dana Reyes" } },
            { "type": "track", "userId": "c42", "messageId": "b2", "event": "Order Placed", "timestamp": "2026-11-01T09:05:00Z",
              "context": { "channel": "web" } },
            { "type": "track", "userId": "c42", "messageId": "b3", "event": "Called Support", "timestamp": "2026-11-02T10:00:00Z",
              "properties": { "channel": "phone" } }
        ]
    });
    let (loans, funnel) = loan_events();
    for batch in [batch, loans] {
        let (status, body) = call(
            "POST",
            &format!("{url}/v1/batch"),
            None,
            Some(("application/json", batch.to_string())),
        );
        assert_eq!(status, 200, "{body}");
    }
    deploy_training(&url, "process.yaml");
    let example = workspace().join("examples");
    for file in [
        "training-request/as-is.yaml",
        "training-request/to-be.yaml",
        "loan-application/journey.yaml",
    ] {
        let journey = std::fs::read_to_string(example.join(file)).expect("journey");
        let (status, body) = call(
            "POST",
            &format!("{url}/v1/journeys"),
            Some(ADMIN),
            Some(("application/yaml", journey)),
        );
        if file.ends_with("to-be.yaml") {
            // A to-be version is current once Hana, who leads HR (its owner), approves it.
            assert_eq!(
                (status, &body["approver"]),
                (202, &serde_json::json!("hana")),
                "{body}"
            );
            approve(&url, "hana");
        } else {
            assert_eq!(status, 200, "{file}: {body}");
        }
    }
    // The budget system's key: worker tasks of its topic only.
    let (status, issued) = call(
        "POST",
        &format!("{url}/v1/keys"),
        Some(ADMIN),
        Some((
            "application/json",
            serde_json::json!({ "kind": "worker", "label": "budget system", "topics": ["budget-check"] })
                .to_string(),
        )),
    );
    assert_eq!(status, 201, "{issued}");
    let worker_key = issued["key"].as_str().expect("key").to_string();
    let shots = workspace().join("target/screenshots");
    std::fs::create_dir_all(&shots).expect("screenshots");
    let result = run_script(
        "work.mjs",
        &[
            ("NODE_MODULES", as_text(&modules)),
            ("CHROMIUM", as_text(&chromium)),
            ("BASE", as_text(&url)),
            ("SHOTS", as_text(&shots)),
            ("MAILDIR", as_text(&maildir)),
            ("ADMIN", as_text(ADMIN)),
            ("WORKER_KEY", worker_key),
            ("WRITE_KEY", as_text("wk_browser")),
            ("SERVER_KEY", as_text(super::automation::SERVER)),
            ("JENNIFER", as_text(sign_in(&url, "jennifer"))),
            ("MALLORY", as_text(sign_in(&url, "mallory"))),
            ("MARIA", as_text(sign_in(&url, "maria"))),
            ("FINN", as_text(sign_in(&url, "finn"))),
            ("OLIVIA", as_text(sign_in(&url, "olivia"))),
            ("CHRIS", as_text(sign_in(&url, "chris"))),
            ("ALEX", as_text(sign_in(&url, "alex"))),
            ("ADA", as_text(sign_in(&url, "ada"))),
        ],
    );
    let steps = &result["steps"];
    let says = |step: &str, words: &[&str]| {
        let said = steps[step].as_str().unwrap_or_default();
        for word in words {
            assert!(said.contains(word), "{step} says {word:?}: {result}");
        }
    };
    // Jennifer on her phone: sign-in first, her manager filled in, every problem named.
    assert_eq!(steps["redirectedToSignIn"], true, "{result}");
    assert_eq!(steps["managerPrefilled"], "maria", "{result}");
    let problems = steps["problems"].to_string();
    for field in [
        "Course or certification",
        "Training provider",
        "Cost",
        "Start date",
    ] {
        assert!(problems.contains(field), "{field} is named: {problems}");
    }
    says(
        "waitingWith",
        &["Approve the training request", "Maria Lopez"],
    );
    says("myRequests", &["Request professional training", "Now:"]);
    assert_eq!(
        steps["noHorizontalScroll"], true,
        "the pages fit a 375 px phone: {result}"
    );
    // Mallory is refused, and sees nothing of it.
    assert_eq!(steps["malloryStatus"], 403, "{result}");
    says("malloryPage", &["This is not yours"]);
    assert!(!steps["malloryPage"].to_string().contains("Negotiation"));
    // The provider's email is asked only for a new supplier; Maria decides with two buttons, the
    // reason a rejection needs beside them.
    assert_eq!(steps["emailShownBefore"], true, "{result}");
    assert_eq!(steps["emailHiddenAfterTick"], true, "{result}");
    assert_eq!(steps["reasonShown"], true, "{result}");
    assert_eq!(
        steps["decision"],
        serde_json::json!(["Approve", "Reject"]),
        "{result}"
    );
    says("afterApproval", &["Done", "Check the department budget"]);
    assert_eq!(steps["firstTab"], "Skip to the content", "{result}");
    // The budget system worked with its own key, which sees no other topic.
    assert_eq!(steps["workerOtherTopic"], 403, "{result}");
    // Finance's three steps, through the pages, on a phone.
    assert_eq!(steps["financeFits"], true, "{result}");
    says(
        "financeDone",
        &[
            "Add the vendor",
            "Issue the purchase order",
            "Record the payment",
        ],
    );
    // The emailed link opens the assessment on Jennifer's phone, without signing in.
    says("emailLink", &["/links/"]);
    says(
        "assessmentPage",
        &["Assess the training", "For Jennifer Lee"],
    );
    says("assessmentSent", &["Your answers are saved"]);
    says("requestDone", &["Done", "Finished", "Assess the training"]);
    says("myRequestsAtEnd", &["Done"]);
    // A journey owner on the loan map with live data, a card's detail, and a funnel.
    assert!(steps["loanCards"].as_u64() > Some(10), "{result}");
    says("loanTouchpoint", &["Application pre-accepted"]);
    assert_eq!(
        steps["funnel"],
        serde_json::json!(funnel.map(|n| n.to_string())),
        "the funnel built in the page counts the applicants as generated: {result}"
    );
    says("funnelBreakdown", &["new", "returning"]);
    says("flow", &["journey instances pass"]);
    says("conformance", &["followed the designed journey"]);
    // An analyst, an agent, the survey page and the administrators' list.
    says(
        "journeys",
        &["Request professional training", "Apply for a personal loan"],
    );
    assert_eq!(steps["mapDrawn"], true, "{result}");
    assert_eq!(steps["customer"], "Dana Reyes", "{result}");
    // Found by part of her name, in another letter case.
    assert!(
        steps["partialList"]
            .as_str()
            .is_some_and(|t| t.contains("1 person matching")),
        "{result}"
    );
    assert_eq!(steps["partial"], "Dana Reyes", "{result}");
    // A token revoked in the browser is refused at once.
    assert_eq!(
        (&steps["tokenBefore"], &steps["tokenAfter"]),
        (&Value::from(200), &Value::from(401)),
        "{result}"
    );
    assert!(
        steps["revoked"]
            .as_str()
            .is_some_and(|t| t.contains("revoked: it is refused from now on")),
        "{result}"
    );
    says("timeline", &["Called Support", "phone", "Order Placed"]);
    says("surveySent", &["Your answer is saved"]);
    says(
        "surveyThrottled",
        &["409", "asked_lately", "jennifer was asked for feedback on"],
    );
    says("adminList", &["Jennifer Lee", "Done"]);
    assert_eq!(
        result["pages"].as_array().map(Vec::len),
        Some(23),
        "{result}"
    );
    assert_eq!(
        result["violations"],
        Value::Array(Vec::new()),
        "axe-core finds no WCAG 2.1 A/AA problem"
    );
    for shot in [
        "02-inbox-phone.png",
        "03-request-form-phone.png",
        "07-inbox-desktop.png",
        "14-assessment-link-phone.png",
        "16-loan-map-desktop.png",
        "18-funnel-desktop.png",
    ] {
        assert!(shots.join(shot).is_file(), "{shot}");
    }
}

/// The reference case whole, from `waymark demo` itself, as its people play it in Chromium
/// (`tests/browser/demo.mjs`): nobody calls the API by hand.
#[test]
fn the_demo_plays_the_whole_training_request() {
    let Some(modules) = super::clients::required("WAYMARK_NODE_MODULES") else {
        return;
    };
    let Some(chromium) = super::clients::required("WAYMARK_CHROMIUM") else {
        return;
    };
    let dir = temp_dir("browser-demo");
    let (child, url, banner) = super::serve::start_demo(&dir.join("demo.db"), "30");
    let _server = super::automation::Killed(child);
    let token_of = |who: &str| demo_token(&banner, who);
    let shots = workspace().join("target/screenshots");
    std::fs::create_dir_all(&shots).expect("screenshots");
    let result = run_script(
        "demo.mjs",
        &[
            ("NODE_MODULES", as_text(&modules)),
            ("CHROMIUM", as_text(&chromium)),
            ("BASE", as_text(&url)),
            ("SHOTS", as_text(&shots)),
            ("JENNIFER", as_text(token_of("jennifer"))),
            ("MARIA", as_text(token_of("maria"))),
            ("FINN", as_text(token_of("finn"))),
            ("ADA", as_text(token_of("ada"))),
            ("OLIVIA", as_text(token_of("olivia"))),
        ],
    );
    let steps = &result["steps"];
    let says = |step: &str, words: &[&str]| {
        let said = steps[step].as_str().unwrap_or_default();
        for word in words {
            assert!(said.contains(word), "{step} says {word:?}: {said}");
        }
    };
    // On a phone the bar charts show their phone drawing, with text of a readable size.
    let charts = &steps["funnelCharts"];
    assert_eq!(
        (charts["narrow"].as_str(), charts["wide"].as_str()),
        (Some("block"), Some("none")),
        "{result}"
    );
    assert!(
        charts["labelPx"].as_i64() >= Some(11),
        "chart text on a phone: {result}"
    );
    says("sentNotice", &["Your request was sent"]);
    says("approvedNotice", &["your answer was recorded"]);
    says("budgetChecked", &["Check the department budget — Done"]);
    says(
        "approvalMail",
        &["Tell Jennifer it was approved", "/feedback/"],
    );
    says("poPage", &["Skills Academy", "S-1042"]);
    says("paymentPage", &["PO-20931"]);
    says("waiting", &["Waiting for “Training Completed”"]);
    says("trainingNotice", &["Training Completed"]);
    assert!(
        steps["linkHref"]
            .as_str()
            .is_some_and(|l| l.starts_with("/links/")),
        "{result}"
    );
    says("assessmentPage", &["Assess the training"]);
    says(
        "requestDone",
        &[
            "Assess the training — Done by Jennifer Lee",
            "Finished — Done",
        ],
    );
    says("myRequests", &["Done"]);
    says(
        "outbox",
        &[
            "Tell Jennifer it was approved",
            "Invite Jennifer to the assessment",
        ],
    );
    assert_eq!(
        result["violations"],
        serde_json::json!([]),
        "axe-core, the content policy and the phone width: {result}"
    );
}

/// Every main page of `waymark demo`, as the person it is made for, on a 375 px phone and a
/// 1366 px desktop (`tests/browser/tour.mjs`): a screenshot of each in `target/screenshots/`,
/// axe-core's checks, and no page wider than the phone.
#[test]
fn every_main_page_fits_a_phone_and_a_desktop() {
    let Some(modules) = super::clients::required("WAYMARK_NODE_MODULES") else {
        return;
    };
    let Some(chromium) = super::clients::required("WAYMARK_CHROMIUM") else {
        return;
    };
    let dir = temp_dir("browser-tour");
    let (child, url, banner) = super::serve::start_demo(&dir.join("demo.db"), "30");
    let _server = super::automation::Killed(child);
    let people: serde_json::Map<String, Value> = [
        "jennifer", "maria", "finn", "olivia", "chris", "alex", "ada", "carl", "hana",
    ]
    .iter()
    .map(|who| (who.to_string(), Value::from(demo_token(&banner, who))))
    .collect();
    let shots = workspace().join("target/screenshots");
    std::fs::create_dir_all(&shots).expect("screenshots");
    let result = run_script(
        "tour.mjs",
        &[
            ("NODE_MODULES", as_text(&modules)),
            ("CHROMIUM", as_text(&chromium)),
            ("BASE", as_text(&url)),
            ("SHOTS", as_text(&shots)),
            ("PEOPLE", Value::Object(people.clone()).to_string()),
        ],
    );
    let pages = result["pages"].as_array().map_or(0, Vec::len);
    assert_eq!(pages, 102, "51 pages on each of two screens: {result}");
    assert_eq!(
        result["violations"],
        serde_json::json!([]),
        "axe-core, the content policy and the phone width: {result}"
    );
    // The map is wider than either screen at its actual size; Fit makes it as wide as its room,
    // and zooming in from there makes it wider again.
    for device in ["phone", "desktop"] {
        let zoom = &result["steps"][format!("zoom-{device}")];
        let width = |at: &str| zoom[at]["picture"].as_i64().unwrap_or_default();
        let room = zoom["fitted"]["room"].as_i64().unwrap_or_default();
        assert!(width("actual") > room, "{device}: {zoom}");
        assert!(
            (room - 2..=room).contains(&width("fitted")),
            "{device}: {zoom}"
        );
        assert!(width("zoomed") > width("fitted"), "{device}: {zoom}");
        assert_eq!(zoom["actual"]["level"], "100 %", "{device}: {zoom}");
        assert_eq!(
            result["steps"][format!("map-downloads-{device}")],
            1,
            "{device}: the map's SVG, nothing else"
        );
    }
    let steps = &result["steps"];
    for device in ["phone", "desktop"] {
        // Olivia opened the funnel Chris saved, from its link.
        let shared = steps[format!("shared-{device}")]
            .as_str()
            .unwrap_or_default();
        assert!(
            shared.contains("Where requests stall") && shared.contains("saved by Chris"),
            "{device}: {shared:?}"
        );
        // Browsing the people at the first stage of a journey lists some.
        assert!(
            steps[format!("browsed-{device}")].as_u64() > Some(0),
            "{device}: {steps}"
        );
        // From a funnel's drop-off to a person, and their Customer 360.
        let drilled = steps[format!("drilled-{device}")]
            .as_str()
            .unwrap_or_default();
        assert!(drilled.starts_with("/customers?q="), "{device}: {steps}");
        assert_eq!(steps[format!("drilled-profile-{device}")], 1, "{device}");
    }
    // The downloads are what the page shows: the table as CSV (UTF-8 with a byte-order mark),
    // the chart as an SVG file and as a PNG picture.
    let export = &steps["export"];
    let rows = export["table"].as_array().expect("the table's cells");
    let expected: String = rows
        .iter()
        .map(|row| {
            let cells: Vec<String> = row
                .as_array()
                .expect("cells")
                .iter()
                .map(|c| {
                    let text = c.as_str().unwrap_or_default();
                    if text.contains([',', '"']) {
                        format!("\"{}\"", text.replace('"', "\"\""))
                    } else {
                        text.to_string()
                    }
                })
                .collect();
            cells.join(",") + "\r\n"
        })
        .collect();
    assert!(rows.len() >= 3, "{export}");
    assert_eq!(
        export["csv"]["text"].as_str().unwrap_or_default(),
        format!("\u{feff}{expected}"),
        "{export}"
    );
    assert!(
        export["csv"]["file"]
            .as_str()
            .is_some_and(|f| f.starts_with("funnel-") && f.ends_with(".csv")),
        "{export}"
    );
    let svg = export["svg"]["text"].as_str().unwrap_or_default();
    assert!(
        svg.starts_with("<?xml")
            && svg.contains("<svg")
            && export["svg"]["length"].as_u64() > Some(500),
        "{export}"
    );
    assert_eq!(export["png"]["signature"], "89504e470d0a1a0a", "{export}");
    assert!(export["png"]["length"].as_u64() > Some(2_000), "{export}");
    // The context answer: the profile page lists the same channels, in the same order, as the
    // one API call every channel makes, and the person has events on more than one.
    let alex = people["alex"].as_str().expect("Alex's token").to_string();
    let (status, context) = super::automation::call(
        "GET",
        &format!("{url}/v1/profiles/employee-3%40example.com/context"),
        Some(&alex),
        None,
    );
    assert_eq!(status, 200, "{context}");
    let channels: Vec<Value> = context["channels"]
        .as_array()
        .expect("channels")
        .iter()
        .map(|c| c["channel"].clone())
        .collect();
    assert!(channels.len() >= 2, "{context}");
    for device in ["phone", "desktop"] {
        assert_eq!(
            steps[format!("context-{device}")],
            Value::from(channels.clone()),
            "{device}"
        );
    }
    for page in [
        "home-maria",
        "home-olivia",
        "home-ada",
        "journey-map",
        "funnel",
        "customer",
        "approval",
        "request",
        "analyses",
        "funnel-people",
        "saved-funnel",
    ] {
        for device in ["phone", "desktop"] {
            let shot = shots.join(format!("tour-{page}-{device}.png"));
            assert!(shot.is_file(), "{}", shot.display());
        }
    }
}

/// Journeys designed in the browser, in `waymark demo` (`tests/browser/design.mjs`): Olivia
/// creates a journey from picked event rules, sees its figures, mentions Chris who answers from
/// his email; two editors merge or see their clash; a journey is discovered and saved; the YAML
/// downloaded from the browser lints clean with the CLI.
#[test]
fn journeys_are_designed_together_in_the_browser() {
    let Some(modules) = super::clients::required("WAYMARK_NODE_MODULES") else {
        return;
    };
    let Some(chromium) = super::clients::required("WAYMARK_CHROMIUM") else {
        return;
    };
    let dir = temp_dir("browser-design");
    let (child, url, banner) = super::serve::start_demo(&dir.join("demo.db"), "30");
    let _server = super::automation::Killed(child);
    let token_of = |who: &str| demo_token(&banner, who);
    let shots = workspace().join("target/screenshots");
    std::fs::create_dir_all(&shots).expect("screenshots");
    let downloads = dir.join("downloads");
    std::fs::create_dir_all(&downloads).expect("downloads");
    let result = run_script(
        "design.mjs",
        &[
            ("NODE_MODULES", as_text(&modules)),
            ("CHROMIUM", as_text(&chromium)),
            ("BASE", as_text(&url)),
            ("SHOTS", as_text(&shots)),
            ("DOWNLOADS", as_text(&downloads)),
            ("OLIVIA", as_text(token_of("olivia"))),
            ("CHRIS", as_text(token_of("chris"))),
            ("ADA", as_text(token_of("ada"))),
        ],
    );
    assert!(result.get("error").is_none(), "{result}");
    let steps = &result["steps"];
    let says = |step: &str, words: &[&str]| {
        let said = steps[step].as_str().unwrap_or_default();
        for word in words {
            assert!(said.contains(word), "{step} says {word:?}: {said}");
        }
    };
    // The rules were picked from the demo's events, each offered with its count.
    let options = steps["eventOptions"].to_string();
    assert!(
        options.contains("Form Submitted (") && options.contains(" events)"),
        "{options}"
    );
    let offered = steps["offered"]["Form Submitted"].to_string();
    assert!(
        offered.contains("form = ") && offered.contains(" events)"),
        "{offered}"
    );
    says("problem", &["error", "soon"]);
    assert_eq!(steps["problemInvalid"], "true", "{result}");
    says("saved", &["Saved as version 1"]);
    assert_eq!(steps["cards"], 6, "six touchpoints on the map: {result}");
    says("figures", &["instances", "completed"]);
    let figures = steps["figures"].as_str().unwrap_or_default();
    assert!(
        !figures.contains(" 0 instances"),
        "the picked rules bind events: {figures}"
    );
    says(
        "emailedNotice",
        &["Emailed a link to the thread: Chris Analyst"],
    );
    assert_eq!(steps["badge"], serde_json::json!(["1 comment"]), "{result}");
    assert!(
        steps["mentionLink"]
            .as_str()
            .is_some_and(|l| l.starts_with("/journeys/home-insurance-claim#comment-")),
        "{result}"
    );
    says(
        "thread",
        &[
            "how many claims wait",
            "About forty a week",
            "Chris Analyst",
        ],
    );
    says("adaSaved", &["Saved as version 2"]);
    says("merged", &["Saved as version 3", "merged"]);
    says(
        "clash",
        &[
            "Report the damage on the website",
            "Report the damage in the app",
        ],
    );
    assert_eq!(
        steps["clashKept"], "Report the damage in the app",
        "{result}"
    );
    says(
        "activity",
        &[
            "by Olivia Chen",
            "by Ada Admin",
            "first version",
            "the owner",
        ],
    );
    says("compared", &["In words:", "changed "]);
    assert!(
        steps["compareMarks"]
            .as_array()
            .is_some_and(|m| m.iter().any(|t| t == "changed")),
        "a changed card is marked on the map: {result}"
    );
    says("discoveredNotice", &["discovered from the events"]);
    says("discoveredSaved", &["Saved as version 1"]);
    assert!(
        steps["discoveredTouchpoints"].as_i64() >= Some(8),
        "the training's steps: {result}"
    );
    // The keyboard alone: Tab moves on from the title, the arrow keys change a choice, Enter
    // opens a touchpoint's details and, in a field, saves.
    assert_eq!(steps["keyboardNext"], "f-j.owner", "{result}");
    let channels = &steps["keyboardChannel"];
    assert_ne!(channels[0], channels[1], "{result}");
    assert_eq!(
        steps["keyboardDetails"],
        serde_json::json!(false),
        "a short journey's details start open; Enter closes them: {result}"
    );
    says("keyboardSaved", &["Saved as version"]);
    // The file downloaded from the browser lints clean with the CLI.
    let downloaded = steps["downloaded"].as_str().expect("a downloaded file");
    let lint = Command::new(env!("CARGO_BIN_EXE_waymark"))
        .args(["journey", "lint", downloaded])
        .output()
        .expect("lint");
    let text = std::fs::read_to_string(downloaded).expect("the download");
    assert!(
        text.contains("Claims Operations") && text.contains("Underwriting"),
        "both editors' changes are in the file: {text}"
    );
    assert!(
        lint.status.success(),
        "{}{}",
        String::from_utf8_lossy(&lint.stdout),
        String::from_utf8_lossy(&lint.stderr)
    );
    assert_eq!(
        result["violations"],
        serde_json::json!([]),
        "axe-core, the content policy and the phone width: {result}"
    );
}
