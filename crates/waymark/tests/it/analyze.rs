//! `waymark analyze ...` and `waymark log ...`.

use serde_json::Value;

use super::*;

fn shared_log(name: &str) -> String {
    let root = std::env::var_os("WAYMARK_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("../shared"));
    let path = root.join("data/logs").join(name);
    assert!(
        path.exists(),
        "the shared test data is missing: {}",
        path.display()
    );
    path.display().to_string()
}

fn reference(name: &str) -> Value {
    let path = PathBuf::from(shared_log(name))
        .parent()
        .and_then(Path::parent)
        .expect("data")
        .join("expected")
        .join(format!("{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(path).expect("reference")).expect("json")
}

fn json(args: &[&str]) -> Value {
    let output = waymark(args);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    serde_json::from_str(&stdout(&output)).expect("json output")
}

#[test]
fn dfg_json_has_the_reference_field_names_and_values() {
    let log = shared_log("running-example.xes");
    let got = json(&["analyze", "dfg", &log, "--format", "json"]);
    let want = reference("running-example.xes");
    for key in [
        "events",
        "cases",
        "activities",
        "start_activities",
        "end_activities",
    ] {
        assert_eq!(got[key], want[key], "{key}");
    }
    let edges = got["edges"].as_array().expect("edges");
    assert_eq!(edges.len(), want["edges"].as_array().expect("edges").len());
    for edge in edges {
        let keys: Vec<&str> = edge
            .as_object()
            .expect("edge")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys.len(), 5);
        for key in ["from", "to", "count", "mean_seconds", "median_seconds"] {
            assert!(keys.contains(&key), "{key} in {keys:?}");
        }
    }
}

#[test]
fn variants_and_durations_json() {
    let log = shared_log("running-example.xes");
    let variants = json(&["analyze", "variants", &log, "--format", "json"]);
    let want = reference("running-example.xes");
    assert_eq!(
        variants["variants"].as_array().map(Vec::len),
        want["variants"].as_array().map(Vec::len)
    );
    for variant in variants["variants"].as_array().expect("variants") {
        assert!(
            variant["activities"].is_array()
                && variant["count"].is_u64()
                && variant["mean_duration_seconds"].is_f64()
        );
    }
    let durations = json(&["analyze", "durations", &log, "--format", "json"]);
    for key in ["mean", "median", "min", "max"] {
        assert_eq!(
            durations["case_duration_seconds"][key], want["case_duration_seconds"][key],
            "{key}"
        );
    }
    assert!(durations["case_duration_seconds"]["p90"].is_f64());
    assert!(durations["edges"].as_array().is_some_and(|e| !e.is_empty()));
}

#[test]
fn funnel_json_window_order_and_breakdown() {
    let log = shared_log("helpdesk.xes.gz");
    let steps = "Assign seriousness,Take in charge ticket,Resolve ticket,Closed";
    let unbounded = json(&[
        "analyze", "funnel", &log, "--steps", steps, "--format", "json",
    ]);
    assert_eq!(unbounded["cases"], 4580);
    let reached: Vec<u64> = unbounded["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| s["reached"].as_u64().expect("n"))
        .collect();
    assert_eq!(reached, [4495, 4207, 4199, 4189]);
    assert_eq!(unbounded["steps"][0]["name"], "Assign seriousness");
    let week = json(&[
        "analyze", "funnel", &log, "--steps", steps, "--within", "7d", "--format", "json",
    ]);
    let week_seconds = json(&[
        "analyze", "funnel", &log, "--steps", steps, "--within", "604800s", "--format", "json",
    ]);
    assert_eq!(week, week_seconds, "7d and 604800s are the same window");
    assert!(week["steps"][3]["reached"].as_u64() < Some(4189));
    let strict = json(&[
        "analyze", "funnel", &log, "--steps", steps, "--order", "strict", "--format", "json",
    ]);
    assert!(strict["steps"][1]["reached"].as_u64() <= Some(4207));
    let by = json(&[
        "analyze",
        "funnel",
        &log,
        "--steps",
        steps,
        "--by",
        "concept:name",
        "--format",
        "json",
    ]);
    assert_eq!(
        by["groups"].as_array().map(Vec::len),
        Some(4580),
        "one group per case name"
    );
}

#[test]
fn filters_narrow_the_cases() {
    let log = shared_log("running-example.xes");
    let all = json(&["analyze", "dfg", &log, "--format", "json"]);
    let rejected = json(&[
        "analyze",
        "dfg",
        &log,
        "--contains",
        "reject request",
        "--format",
        "json",
    ]);
    assert_eq!(rejected["cases"], 3);
    let paid = json(&[
        "analyze",
        "dfg",
        &log,
        "--lacks",
        "reject request",
        "--format",
        "json",
    ]);
    assert_eq!(
        paid["cases"].as_u64().unwrap_or(0) + 3,
        all["cases"].as_u64().unwrap_or(0)
    );
    let top = json(&[
        "analyze",
        "variants",
        &log,
        "--top-variants",
        "2",
        "--format",
        "json",
    ]);
    assert_eq!(top["variants"].as_array().map(Vec::len), Some(2));
    let long = json(&[
        "analyze",
        "durations",
        &log,
        "--min-duration",
        "10d",
        "--format",
        "json",
    ]);
    assert!(long["case_duration_seconds"]["min"].as_f64() >= Some(864000.0));
    let bad = waymark(&["analyze", "dfg", &log, "--where", "no-equals-sign"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("KEY=VALUE"));
}

#[test]
fn csv_and_table_output() {
    let log = shared_log("sepsis_eventdataR.csv");
    let output = waymark(&["analyze", "dfg", &log, "--format", "csv"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(
        text.starts_with("from,to,count,mean_seconds,median_seconds\n"),
        "{}",
        &text[..80.min(text.len())]
    );
    let table = stdout(&waymark(&["analyze", "variants", &log, "--limit", "5"]));
    assert!(table.starts_with("846 variants in 1050 cases"), "{table}");
}

#[test]
fn bad_logs_exit_2_with_the_place() {
    let dir = temp_dir("bad-logs");
    let csv = dir.join("bad.csv");
    std::fs::write(
        &csv,
        "case_id,activity,timestamp\n1,a,2024-01-01T00:00:00Z\n1,b,yesterday\n",
    )
    .expect("write");
    let output = waymark(&["analyze", "dfg", &csv.display().to_string()]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("bad.csv:3:3"),
        "{}",
        stderr(&output)
    );
    let lenient = waymark(&[
        "analyze",
        "dfg",
        &csv.display().to_string(),
        "--lenient",
        "--format",
        "json",
    ]);
    assert_eq!(lenient.status.code(), Some(0));
    assert!(
        stderr(&lenient).contains("skipped 1 bad event"),
        "{}",
        stderr(&lenient)
    );
    let unknown = dir.join("log.parquet");
    std::fs::write(&unknown, "x").expect("write");
    let output = waymark(&["analyze", "dfg", &unknown.display().to_string()]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("--log-format"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn convert_round_trips_and_keeps_the_analysis() {
    let log = shared_log("running-example.xes");
    let dir = temp_dir("convert");
    let before = json(&["analyze", "dfg", &log, "--format", "json"]);
    for extension in ["xes", "csv"] {
        let out = dir.join(format!("copy.{extension}")).display().to_string();
        let output = waymark(&["log", "convert", &log, "-o", &out]);
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        assert_eq!(
            json(&["analyze", "dfg", &out, "--format", "json"]),
            before,
            "through {extension}"
        );
    }
}

#[test]
fn parquet_export_and_ocel_import() {
    let dir = temp_dir("parquet-ocel");
    let log = shared_log("running-example.xes");
    let parquet = dir.join("events.parquet").display().to_string();
    let output = waymark(&["log", "convert", &log, "-o", &parquet]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let bytes = std::fs::read(&parquet).expect("parquet written");
    assert!(
        bytes.starts_with(b"PAR1") && bytes.ends_with(b"PAR1"),
        "a Parquet file"
    );

    let ocel = dir.join("orders.ocel.json");
    std::fs::write(
        &ocel,
        r#"{"objectTypes":[{"name":"order","attributes":[]},{"name":"item","attributes":[]}],"eventTypes":[],
            "objects":[{"id":"o1","type":"order"},{"id":"o2","type":"order"},{"id":"i1","type":"item"}],
            "events":[
              {"id":"e1","type":"place","time":"2024-01-01T10:00:00Z","relationships":[{"objectId":"o1","qualifier":"o"},{"objectId":"i1","qualifier":"i"}]},
              {"id":"e2","type":"pay","time":"2024-01-01T11:00:00Z","relationships":[{"objectId":"o1","qualifier":"o"}]},
              {"id":"e3","type":"place","time":"2024-01-02T10:00:00Z","relationships":[{"objectId":"o2","qualifier":"o"}]}]}"#,
    )
    .expect("write ocel");
    let ocel = ocel.display().to_string();
    let dfg = json(&[
        "analyze",
        "dfg",
        &ocel,
        "--object-type",
        "order",
        "--format",
        "json",
    ]);
    assert_eq!(
        (dfg["cases"].as_u64(), dfg["events"].as_u64()),
        (Some(2), Some(3))
    );
    assert_eq!(dfg["edges"][0]["from"], "place");
    let missing = waymark(&["analyze", "dfg", &ocel]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        stderr(&missing).contains("--object-type with one of `order`, `item`"),
        "{}",
        stderr(&missing)
    );
}

/// Importing a log into a database and analysing the stored events gives the same results as
/// analysing the file, and importing again adds nothing.
#[test]
fn stored_events_analyse_like_the_file() {
    let dir = temp_dir("import");
    for name in [
        "helpdesk.xes.gz",
        "sepsis_eventdataR.csv",
        "running-example.xes",
    ] {
        let log = shared_log(name);
        let db = dir.join(format!("{name}.db")).display().to_string();
        let output = waymark(&["import", &log, "--db", &db]);
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        let again = waymark(&["import", &log, "--db", &db]);
        assert!(
            stderr(&again).contains(" 0 events stored"),
            "{}",
            stderr(&again)
        );
        for analysis in ["dfg", "durations"] {
            let from_file = json(&["analyze", analysis, &log, "--format", "json"]);
            let from_db = json(&["analyze", analysis, "--db", &db, "--format", "json"]);
            assert_eq!(from_db, from_file, "{name}: {analysis}");
        }
        let variants = |args: &[&str]| -> std::collections::BTreeSet<String> {
            json(args)["variants"]
                .as_array()
                .expect("variants")
                .iter()
                .map(|v| v.to_string())
                .collect()
        };
        assert_eq!(
            variants(&["analyze", "variants", "--db", &db, "--format", "json"]),
            variants(&["analyze", "variants", &log, "--format", "json"]),
            "{name}: variants"
        );
    }
    let neither = waymark(&["analyze", "dfg"]);
    assert_eq!(neither.status.code(), Some(2));
}

/// `waymark journey report`: the loan journey on BPIC 2012 gives the same figures from the file
/// and from a database it was imported into, its funnel is `waymark analyze funnel`'s on the same
/// activities, and the Markdown says what the JSON says.
#[test]
fn journey_report_agrees_from_file_database_and_the_funnel() {
    let log = shared_log("bpic2012.xes.gz");
    let journey = example("loan-application/journey.yaml")
        .display()
        .to_string();
    let args = |source: &[&str], format: &str| -> Vec<String> {
        let mut args: Vec<String> = ["journey", "report", journey.as_str()]
            .iter()
            .map(|s| s.to_string())
            .collect();
        args.extend(source.iter().map(|s| s.to_string()));
        args.extend(
            [
                "--timeout",
                "100000d",
                "--funnel",
                "application-form,pre-acceptance,application-accepted,loan-approved",
                "--between",
                "offer-email:offer-accepted",
                "--format",
                format,
            ]
            .map(String::from),
        );
        args
    };
    let run = |args: Vec<String>| {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        waymark(&refs)
    };
    let from_file = run(args(&[&log], "json"));
    assert_eq!(from_file.status.code(), Some(0), "{}", stderr(&from_file));
    let report: Value = serde_json::from_str(&stdout(&from_file)).expect("json");
    let dir = temp_dir("journey-report");
    let db = dir.join("loan.db").display().to_string();
    let imported = waymark(&["import", &log, "--db", &db]);
    assert_eq!(imported.status.code(), Some(0), "{}", stderr(&imported));
    let from_db = run(args(&["--db", &db], "json"));
    assert_eq!(
        stdout(&from_db),
        stdout(&from_file),
        "database and file agree"
    );

    let funnel = json(&[
        "analyze",
        "funnel",
        &log,
        "--steps",
        "A_SUBMITTED,A_PREACCEPTED,A_ACCEPTED,A_APPROVED",
        "--format",
        "json",
    ]);
    let reached = |v: &Value| -> Vec<u64> {
        v["steps"]
            .as_array()
            .expect("steps")
            .iter()
            .map(|s| s["reached"].as_u64().expect("reached"))
            .collect()
    };
    assert_eq!(reached(&report["funnel"]), reached(&funnel));
    assert_eq!(
        report["instances"]["total"], 13087,
        "one instance per application"
    );
    let share = report["conformance"]["share"].as_f64().expect("share");
    assert!(share > 0.0 && share < 1.0);
    let calls = report["contacts"]["by_touchpoint"]
        .as_array()
        .expect("contacts")
        .iter()
        .find(|c| c["touchpoint"] == "offer-follow-up-call")
        .expect("the offer follow-up calls");
    assert!(calls["repeated_instances"].as_u64() > Some(0));
    assert_eq!(calls["preceded_by"][0]["touchpoint"], "offer-email");

    let markdown = run(args(&[&log], "markdown"));
    let text = stdout(&markdown);
    for needle in [
        "# Apply for a personal loan (as-is)",
        "## Funnel",
        "| loan-approved | 2246 |",
        "offer-email → offer-accepted",
        "## Repeat contacts",
        "**offer-follow-up-call**",
        "## Designed against actual",
    ] {
        assert!(text.contains(needle), "{needle} in\n{text}");
    }
    // The live map draws the report's numbers on its cards.
    let map = dir.join("loan.html");
    let rendered = waymark(&[
        "journey",
        "render",
        &journey,
        "--log",
        &log,
        "--timeout",
        "100000d",
        "-o",
        &map.display().to_string(),
    ]);
    assert_eq!(rendered.status.code(), Some(0), "{}", stderr(&rendered));
    let html = std::fs::read_to_string(&map).expect("map");
    assert!(
        html.contains("Measured: 13087 instances"),
        "the summary line"
    );
    for touchpoint in report["touchpoints"].as_array().expect("touchpoints") {
        let id = touchpoint["id"].as_str().expect("id");
        let start = html
            .find(&format!("class=\"touchpoint\" data-touchpoint=\"{id}\""))
            .unwrap_or_else(|| panic!("a card for {id}"));
        let card = &html[start..start + html[start..].find("</g>").expect("card end")];
        let instances = touchpoint["instances"].as_u64().expect("instances");
        if instances == 0 {
            assert!(card.contains("no events"), "{id}: {card}");
            continue;
        }
        assert!(card.contains(&format!(">{instances} in")), "{id}: {card}");
        if let Some(breach) = touchpoint["breach_share"].as_f64() {
            let text = format!("{:.0}% over target", breach * 100.0);
            assert!(card.contains(&text), "{id}: {text} in {card}");
        }
    }
    // Each stage's reach and conversion under its column.
    for stage in report["stages"].as_array().expect("stages") {
        let id = stage["id"].as_str().expect("id");
        let start = html
            .find(&format!("class=\"stage\" data-stage=\"{id}\""))
            .unwrap_or_else(|| panic!("a stage {id}"));
        let column = &html[start..start + html[start..].find("</g>").expect("stage end")];
        let reached = stage["reached"].as_u64().expect("reached");
        let mut line = format!("<title>{reached} reached");
        if let Some(c) = stage["conversion_to_next"].as_f64() {
            line.push_str(&format!(" · {:.0}% on", c * 100.0));
        }
        assert!(column.contains(&line), "{id}: {line} in {column}");
    }
    let wrong = run(vec![
        "journey".into(),
        "report".into(),
        journey.clone(),
        log.clone(),
        "--funnel".into(),
        "application-from".into(),
    ]);
    assert_eq!(wrong.status.code(), Some(2));
    assert!(
        stderr(&wrong).contains("did you mean `application-form`?"),
        "{}",
        stderr(&wrong)
    );
}

/// `waymark kpi check` prints the loan journey's scorecard on BPIC 2012 and exits 1 because some
/// KPIs miss their targets; its JSON holds every measurable KPI; `kpi compare` says which moved;
/// a journey without measurable KPIs is refused with what to write.
#[test]
fn kpi_check_and_compare_measure_a_journeys_kpis() {
    let log = shared_log("bpic2012.xes.gz");
    let journey = crate::example("loan-application/journey.yaml");
    let journey = journey.to_str().expect("path");
    let output = crate::waymark(&["kpi", "check", journey, &log]);
    let text = crate::stdout(&output);
    assert_eq!(
        output.status.code(),
        Some(1),
        "{text}{}",
        crate::stderr(&output)
    );
    assert!(
        text.starts_with("Apply for a personal loan: the last 28 days to 2012-03-14"),
        "{text}"
    );
    assert!(
        text.contains("Time to money") && text.contains("missed") && text.contains("met"),
        "{text}"
    );
    assert!(
        text.contains("Time to money: 11.8d, meets the target of at most 14d"),
        "{text}"
    );
    let output = crate::waymark(&[
        "kpi", "check", journey, &log, "--format", "json", "--days", "60",
    ]);
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(json["days"], 60);
    assert_eq!(json["kpis"].as_array().map(Vec::len), Some(10));
    let output = crate::waymark(&[
        "kpi",
        "compare",
        journey,
        &log,
        "--at",
        "2012-01-15",
        "--days",
        "30",
    ]);
    let text = crate::stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(
        text.contains("Time to money moved for the better") && text.contains("Mann–Whitney U test"),
        "{text}"
    );
    assert!(text.contains("did not move measurably"), "{text}");
    let dir = crate::temp_dir("kpi-none");
    let bare = dir.join("bare.yaml");
    let plain = std::fs::read_to_string(crate::example("training-request/as-is.yaml"))
        .expect("example")
        .lines()
        .filter(|line| {
            !line.contains(": median-time")
                && !line.contains(": conversion")
                && !line.contains(": completion")
                && !line.contains(": volume")
                && !line.contains(": csat")
                && !line.contains(": repeat-contacts")
                && !line.trim_start().starts_with("kpis:")
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&bare, plain).expect("write");
    let output = crate::waymark(&["kpi", "check", bare.to_str().expect("path"), &log]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        crate::stderr(&output).contains("defines no measurable KPI; add lines such as"),
        "{}",
        crate::stderr(&output)
    );
}

/// `waymark alerts simulate` finds, in BPIC 2012, the applications that did not come over
/// Christmas (an anomaly against the same weekdays before), as one alert of two days; a KPI
/// mistyped is named with the one meant; a rule that does not read says how to write one.
#[test]
fn alerts_simulate_finds_christmas_in_bpic2012() {
    let log = shared_log("bpic2012.xes.gz");
    let journey = crate::example("loan-application/journey.yaml");
    let journey = journey.to_str().expect("path");
    let output = crate::waymark(&[
        "alerts",
        "simulate",
        journey,
        &log,
        "--kpi",
        "applications",
        "--rule",
        "anomaly",
        "--days",
        "150",
        "--format",
        "json",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", crate::stderr(&output));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(json["checked"], 150);
    let alerts = json["alerts"].as_array().expect("alerts");
    assert_eq!(alerts[0]["from"], "2011-12-25", "{json}");
    assert_eq!(alerts[0]["buckets"], 2, "{json}");
    let output = crate::waymark(&[
        "alerts",
        "simulate",
        journey,
        &log,
        "--kpi",
        "time-to-mony",
        "--rule",
        "above 14d",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        crate::stderr(&output).contains("did you mean `time-to-money`?"),
        "{}",
        crate::stderr(&output)
    );
    let output = crate::waymark(&[
        "alerts",
        "simulate",
        journey,
        &log,
        "--kpi",
        "time-to-money",
        "--rule",
        "above 14",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        crate::stderr(&output).contains("--rule: `14` is not a time"),
        "{}",
        crate::stderr(&output)
    );
}

/// The ClickHouse servers `scripts/test` starts (two 18.16 shards, current ClickHouse through
/// chdb), each with a database of its own for `test`. Outside CI a missing one is skipped.
pub(super) fn clickhouse_urls(test: &str) -> Vec<String> {
    let mut urls = Vec::new();
    for variable in ["WAYMARK_TEST_CLICKHOUSE", "WAYMARK_TEST_CHDB"] {
        match std::env::var(variable) {
            Ok(url) if !url.is_empty() => {
                let (base, query) = url.split_once('?').unwrap_or((url.as_str(), ""));
                let database = format!("cli_{test}_{}", std::process::id());
                let query = if query.is_empty() {
                    String::new()
                } else {
                    format!("?{query}")
                };
                urls.push(format!("{}/{database}{query}", base.trim_end_matches('/')));
            }
            _ if std::env::var("CI").as_deref() == Ok("true") => {
                panic!("{variable} is not set: scripts/test starts the servers")
            }
            _ => eprintln!("{variable} is not set; skipping it"),
        }
    }
    urls
}

#[test]
fn analyses_of_events_kept_in_clickhouse_print_what_the_file_gives() {
    let log = shared_log("helpdesk.xes.gz");
    for url in clickhouse_urls("analyze") {
        let imported = waymark(&["import", &log, "--events", &url]);
        assert!(imported.status.success(), "{}", stderr(&imported));
        assert!(
            stderr(&imported).contains("events of 4580 cases written to"),
            "{}",
            stderr(&imported)
        );
        for args in [
            vec!["dfg", "--format", "json"],
            vec!["variants", "--format", "json", "--limit", "20"],
            vec!["durations", "--format", "json", "--contains", "Closed"],
            vec![
                "funnel",
                "--format",
                "json",
                "--steps",
                "Assign seriousness,Take in charge ticket,Resolve ticket,Closed",
                "--within",
                "30d",
            ],
            vec!["variants", "--top-variants", "3", "--format", "json"],
        ] {
            let mut from_file = vec!["analyze"];
            from_file.extend(args.iter().take(1));
            from_file.push(&log);
            from_file.extend(args.iter().skip(1));
            let mut from_clickhouse = vec!["analyze"];
            from_clickhouse.extend(args.iter().take(1));
            from_clickhouse.extend(["--events", url.as_str()]);
            from_clickhouse.extend(args.iter().skip(1));
            let expected = waymark(&from_file);
            let actual = waymark(&from_clickhouse);
            assert!(actual.status.success(), "{args:?}: {}", stderr(&actual));
            assert!(!stdout(&expected).is_empty());
            assert_eq!(stdout(&actual), stdout(&expected), "{args:?} on {url}");
        }
        // What ClickHouse cannot answer yet is refused, saying why.
        let by = waymark(&[
            "analyze", "funnel", "--events", &url, "--steps", "Closed", "--by", "customer",
        ]);
        assert_eq!(by.status.code(), Some(2));
        assert!(
            stderr(&by).contains("not measured on ClickHouse yet"),
            "{}",
            stderr(&by)
        );
    }
    let unreachable = waymark(&["analyze", "dfg", "--events", "clickhouse://127.0.0.1:1/x"]);
    assert_eq!(unreachable.status.code(), Some(2));
    assert!(stderr(&unreachable).contains("cannot be reached"));
    let bad = waymark(&[
        "analyze",
        "dfg",
        "--events",
        "clickhouse://a:1/no-such-name",
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("hint: write clickhouse://HOST:PORT"),
        "{}",
        stderr(&bad)
    );
    // A password is never printed, whether the URL is refused or the server cannot be reached.
    for url in [
        "clickhouse://alice:s3cret-pw@127.0.0.1:port/x",
        "clickhouse:alice:s3cret-pw@127.0.0.1:1/x",
        "clickhouse://alice:s3cret-pw@127.0.0.1:1/x",
    ] {
        let refused = waymark(&["analyze", "dfg", "--events", url]);
        assert_eq!(refused.status.code(), Some(2), "{url}");
        let text = format!("{}{}", stdout(&refused), stderr(&refused));
        assert!(!text.contains("s3cret-pw"), "{url}: {text}");
        assert!(text.contains("clickhouse://"), "{url}: {text}");
    }
}

#[test]
fn a_journey_report_over_events_kept_in_clickhouse_equals_the_file_s() {
    let log = shared_log("bpic2012.xes.gz");
    let journey = example("loan-application/journey.yaml")
        .display()
        .to_string();
    let report = |source: &[&str], extra: &[&str]| {
        let mut args = vec!["journey", "report", journey.as_str()];
        args.extend(source);
        args.extend(extra);
        args.extend(["--format", "json"]);
        let output = waymark(&args);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{args:?}: {}",
            stderr(&output)
        );
        stdout(&output)
    };
    let option_sets: [&[&str]; 2] = [
        &[
            "--timeout",
            "100000d",
            "--funnel",
            "application-form,pre-acceptance,application-accepted,loan-approved",
            "--between",
            "offer-email:offer-accepted",
        ],
        &["--timeout", "3d", "--by", "AMOUNT_REQ", "--period", "week"],
    ];
    let expected: Vec<String> = option_sets.iter().map(|o| report(&[&log], o)).collect();
    for url in clickhouse_urls("report") {
        let imported = waymark(&["import", &log, "--events", &url]);
        assert!(imported.status.success(), "{}", stderr(&imported));
        for (options, expected) in option_sets.iter().zip(&expected) {
            let actual = report(&["--events", &url], options);
            assert_eq!(&actual, expected, "{options:?} on {url}");
        }
    }
}
