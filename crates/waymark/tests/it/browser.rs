//! The web app in a real browser: Chromium driven by playwright-core (`tests/browser/work.mjs`)
//! against a real `waymark serve`, with axe-core checking every page. Screenshots of the main
//! pages are kept in `target/screenshots/` for people to look at.

use std::process::Command;

use serde_json::Value;

use super::automation::{ADMIN, Killed, call, deploy_training, directory, sign_in};
use super::*;

#[test]
fn the_work_pages_in_chromium_on_a_phone_and_a_desktop() {
    let Some(modules) = super::clients::required("WAYMARK_NODE_MODULES") else {
        return;
    };
    let Some(chromium) = super::clients::required("WAYMARK_CHROMIUM") else {
        return;
    };
    let db = temp_dir("browser-work").join("waymark.db");
    let args = [
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--admin-token",
        ADMIN,
        "--write-key",
        "wk_browser",
    ];
    let (child, url, _) = super::serve::launch(&args, &db, |_| true);
    let _server = Killed(child);
    directory(
        &url,
        "id,name,email,department,manager,roles\n\
         jennifer,Jennifer Lee,jennifer@example.com,customer-success,maria,\n\
         maria,Maria Lopez,maria@example.com,customer-success,olivia,manager\n\
         olivia,Olivia Chen,olivia@example.com,leadership,,\n\
         mallory,Mallory Smith,mallory@example.com,sales,olivia,\n\
         chris,Chris Analyst,chris@example.com,cx,olivia,analyst\n\
         alex,Alex Agent,alex@example.com,support,olivia,agent\n",
    );
    // A customer's events on two channels, through the collection API.
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
    let (status, body) = call(
        "POST",
        &format!("{url}/v1/batch"),
        None,
        Some(("application/json", batch.to_string())),
    );
    assert_eq!(status, 200, "{body}");
    deploy_training(&url, "process.yaml");
    let example = workspace().join("examples/training-request");
    for file in ["as-is.yaml", "to-be.yaml"] {
        let journey = std::fs::read_to_string(example.join(file)).expect("journey");
        let (status, body) = call(
            "POST",
            &format!("{url}/v1/journeys"),
            Some(ADMIN),
            Some(("application/yaml", journey)),
        );
        assert_eq!(status, 200, "{file}: {body}");
    }
    let shots = workspace().join("target/screenshots");
    std::fs::create_dir_all(&shots).expect("screenshots");
    let output = Command::new("node")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/work.mjs"))
        .env("NODE_MODULES", &modules)
        .env("CHROMIUM", &chromium)
        .env("BASE", &url)
        .env("SHOTS", &shots)
        .env("JENNIFER", sign_in(&url, "jennifer"))
        .env("MALLORY", sign_in(&url, "mallory"))
        .env("MARIA", sign_in(&url, "maria"))
        .env("CHRIS", sign_in(&url, "chris"))
        .env("ALEX", sign_in(&url, "alex"))
        .output()
        .expect("run node (scripts/test installs playwright-core and axe-core)");
    assert!(
        output.status.success(),
        "the browser script failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8_lossy(&output.stdout);
    let result: Value = serde_json::from_str(text.lines().last().unwrap_or("{}")).expect("json");
    let steps = &result["steps"];
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
    assert!(
        steps["waitingWith"]
            .as_str()
            .is_some_and(|s| s.contains("Approve the training request") && s.contains("maria")),
        "{result}"
    );
    assert!(
        steps["myRequests"]
            .as_str()
            .is_some_and(|s| s.contains("Now with")),
        "{result}"
    );
    assert_eq!(
        steps["noHorizontalScroll"], true,
        "the pages fit a 375 px phone: {result}"
    );
    assert_eq!(steps["malloryStatus"], 403, "{result}");
    assert!(
        steps["malloryPage"]
            .as_str()
            .is_some_and(|s| s.contains("This is not yours") && !s.contains("Negotiation")),
        "{result}"
    );
    assert!(
        steps["afterApproval"]
            .as_str()
            .is_some_and(|s| s.contains("Done") && s.contains("Check the department budget")),
        "{result}"
    );
    assert_eq!(steps["firstTab"], "Skip to the content", "{result}");
    assert!(
        steps["journeys"]
            .as_str()
            .is_some_and(|s| s.contains("Request professional training")),
        "{result}"
    );
    assert_eq!(steps["mapDrawn"], true, "{result}");
    assert_eq!(steps["customer"], "Dana Reyes", "{result}");
    assert!(
        steps["timeline"]
            .as_str()
            .is_some_and(|s| s.contains("Called Support")
                && s.contains("phone")
                && s.contains("Order Placed")),
        "{result}"
    );
    assert_eq!(
        result["pages"].as_array().map(Vec::len),
        Some(11),
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
    ] {
        assert!(shots.join(shot).is_file(), "{shot}");
    }
}
