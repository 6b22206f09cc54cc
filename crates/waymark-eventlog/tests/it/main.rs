//! Reading and writing logs: every XES attribute type, round trips, real-data pitfalls and the
//! errors people see for bad input.

use std::path::PathBuf;

use waymark_eventlog::{ActivityKey, EventLog, Format, ReadOptions, Value};

fn shared_data() -> PathBuf {
    let root = std::env::var_os("WAYMARK_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    let data = root.join("data");
    assert!(
        data.is_dir(),
        "the shared test data is missing at {}",
        data.display()
    );
    data
}

fn options(file: &str) -> ReadOptions {
    ReadOptions {
        file: file.to_string(),
        ..Default::default()
    }
}

fn read_str(
    text: &str,
    format: Format,
) -> Result<waymark_eventlog::ReadOutcome, waymark_eventlog::ReadError> {
    waymark_eventlog::read(text.as_bytes(), format, &options("test"))
}

fn shared(name: &str) -> EventLog {
    waymark_eventlog::read_path(
        &shared_data().join("logs").join(name),
        None,
        &ReadOptions::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"))
    .log
}

/// Every event as (case, activity, time, attributes as text), for comparing logs.
fn dump(log: &EventLog) -> Vec<(String, String, i64, Vec<String>)> {
    fn attribute(log: &EventLog, a: &waymark_eventlog::Attribute) -> String {
        let children: Vec<String> = a.children().iter().map(|c| attribute(log, c)).collect();
        format!(
            "{}={:?}:{}[{}]",
            log.resolve(a.key),
            std::mem::discriminant(&a.value),
            log.value_text(&a.value),
            children.join(",")
        )
    }
    let mut out = Vec::new();
    for case in log.iter_cases() {
        for event in case.events() {
            let mut attributes: Vec<String> = log
                .event_attributes(event)
                .iter()
                .map(|a| attribute(log, a))
                .collect();
            attributes.sort();
            out.push((
                case.name().to_string(),
                log.resolve(log.activity_column()[event]).to_string(),
                log.time_column()[event],
                attributes,
            ));
        }
    }
    out
}

const EVERY_TYPE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<log xes.version="1849-2016" xmlns="http://www.xes-standard.org/">
  <extension name="Concept" prefix="concept" uri="http://www.xes-standard.org/concept.xesext"/>
  <global scope="event"><string key="concept:name" value="UNKNOWN"/></global>
  <classifier name="Activity" keys="concept:name lifecycle:transition"/>
  <string key="source" value="hand &amp; written"/>
  <trace>
    <string key="concept:name" value="c1"/>
    <int key="priority" value="2"/>
    <event>
      <string key="concept:name" value="Submit &lt;form&gt;"/>
      <string key="lifecycle:transition" value="complete"/>
      <date key="time:timestamp" value="2024-05-01T10:00:00.000+02:00"/>
      <int key="amount" value="-12"/>
      <float key="score" value="4.25"/>
      <boolean key="urgent" value="true"/>
      <id key="ref" value="a1b2"/>
      <list key="tags"><values><string key="tag" value="x"/><string key="tag" value="y"/></values></list>
      <container key="address"><string key="city" value="Utrecht"/><int key="zip" value="3511"/></container>
      <string key="parent" value="p"><float key="child" value="1.5"><int key="grandchild" value="7"/></float></string>
    </event>
    <event>
      <string key="concept:name" value="Approve"/>
      <string key="lifecycle:transition" value="complete"/>
      <date key="time:timestamp" value="2024-05-01T08:30:00Z"/>
    </event>
  </trace>
  <trace>
    <string key="concept:name" value="c2"/>
  </trace>
</log>
"#;

#[test]
fn xes_reads_every_attribute_type_and_nesting() {
    let log = read_str(EVERY_TYPE, Format::Xes).expect("valid xes").log;
    assert_eq!((log.cases(), log.events()), (2, 2));
    let case = log.case(0);
    assert_eq!(case.name(), "c1");
    assert!(matches!(
        case.attribute("priority").map(|a| a.value),
        Some(Value::Int(2))
    ));
    // 08:30Z is before 10:00+02:00 (08:00Z)? No: 10:00+02:00 is 08:00Z, so Submit comes first.
    let names: Vec<&str> = case.activities().iter().map(|a| log.resolve(*a)).collect();
    assert_eq!(names, ["Submit <form>", "Approve"]);
    let first = log.event_attributes(case.events().start);
    let get = |key: &str| first.iter().find(|a| log.resolve(a.key) == key).expect(key);
    assert!(matches!(get("amount").value, Value::Int(-12)));
    assert!(matches!(get("score").value, Value::Float(f) if f == 4.25));
    assert!(matches!(get("urgent").value, Value::Boolean(true)));
    assert!(matches!(get("ref").value, Value::Id(_)));
    assert!(matches!(get("tags").value, Value::List));
    assert_eq!(get("tags").children().len(), 2);
    assert!(matches!(get("address").value, Value::Container));
    assert_eq!(get("address").children().len(), 2);
    let child = &get("parent").children()[0];
    assert!(matches!(child.value, Value::Float(f) if f == 1.5));
    assert!(matches!(child.children()[0].value, Value::Int(7)));
    assert_eq!(log.meta.extensions.len(), 1);
    assert_eq!(
        log.meta.classifiers[0].keys,
        ["concept:name", "lifecycle:transition"]
    );
    assert_eq!(log.meta.globals.len(), 1);
    assert_eq!(
        log.value_text(&log.meta.attributes[0].value),
        "hand & written"
    );
    assert!(
        log.case(1).is_empty(),
        "an empty trace is a case without events"
    );
}

#[test]
fn xes_round_trips_through_the_writer() {
    let log = read_str(EVERY_TYPE, Format::Xes).expect("valid").log;
    let mut written = Vec::new();
    waymark_eventlog::xes::write(&log, &mut written).expect("write");
    let again = waymark_eventlog::read(&written[..], Format::Xes, &options("written"))
        .expect("read back")
        .log;
    assert_eq!(dump(&again), dump(&log));
    assert_eq!(again.meta, log.meta);
    assert_eq!(again.cases(), log.cases());
}

#[test]
fn real_logs_round_trip_through_xes_and_csv() {
    for name in [
        "running-example.xes",
        "roadtraffic100traces.xes",
        "helpdesk.xes.gz",
    ] {
        let log = shared(name);
        let mut xes = Vec::new();
        waymark_eventlog::xes::write(&log, &mut xes).expect("write xes");
        let from_xes = waymark_eventlog::read(&xes[..], Format::Xes, &options(name))
            .expect("xes back")
            .log;
        assert_eq!(dump(&from_xes), dump(&log), "{name} through XES");

        let mut csv = Vec::new();
        waymark_eventlog::csv::write(&log, &mut csv).expect("write csv");
        let from_csv = waymark_eventlog::read(&csv[..], Format::Csv, &options(name))
            .expect("csv back")
            .log;
        let sequence = |l: &EventLog| -> Vec<(String, String, i64)> {
            dump(l).into_iter().map(|(c, a, t, _)| (c, a, t)).collect()
        };
        assert_eq!(sequence(&from_csv), sequence(&log), "{name} through CSV");
    }
}

#[test]
fn a_case_named_na_is_a_case() {
    let log = shared("sepsis_eventdataR.csv");
    let na = log
        .iter_cases()
        .find(|c| c.name() == "NA")
        .expect("case NA");
    assert_eq!(na.len(), 24);
    assert_eq!(log.events(), 15_214);
}

#[test]
fn ties_keep_file_order_and_cases_are_sorted_by_time() {
    let csv = "case_id,activity,timestamp\n1,b,2024-01-01T10:00:00Z\n1,a,2024-01-01T09:00:00Z\n1,c,2024-01-01T10:00:00Z\n1,d,2024-01-01T10:00:00Z\n2,x,2024-01-01T08:00:00Z\n";
    let log = read_str(csv, Format::Csv).expect("csv").log;
    let names: Vec<&str> = log
        .case(0)
        .activities()
        .iter()
        .map(|a| log.resolve(*a))
        .collect();
    assert_eq!(names, ["a", "b", "c", "d"]);
    assert_eq!(log.case(1).name(), "2");
}

#[test]
fn csv_detects_delimiters_and_timestamp_formats() {
    for (text, seconds) in [
        (
            "Case ID;Activity;Complete Timestamp\nA;x;2014/10/22 11:15:41.000\n",
            1_413_976_541,
        ),
        (
            "case_id\tactivity\ttimestamp\nA\tx\t1413976541\n",
            1_413_976_541,
        ),
        (
            "case_id|activity|timestamp\nA|x|1413976541000\n",
            1_413_976_541,
        ),
        (
            "case_id,activity,timestamp\nA,x,2014-10-22\n",
            1_413_936_000,
        ),
        (
            "case_id,activity,timestamp\nA,x,2014-10-22T13:15:41+02:00\n",
            1_413_976_541,
        ),
        (
            "case_id,activity,timestamp\nA,x,2014-10-22 11:15:41\n",
            1_413_976_541,
        ),
    ] {
        let log = read_str(text, Format::Csv)
            .unwrap_or_else(|e| panic!("{text}: {e}"))
            .log;
        assert_eq!(log.time_column()[0], seconds * 1_000_000, "{text}");
    }
}

#[test]
fn csv_column_flags_pick_the_columns() {
    let text = "ticket,step,at,agent\nT1,open,2024-01-01T00:00:00Z,ann\nT1,close,2024-01-02T00:00:00Z,bob\n";
    let mut options = options("tickets.csv");
    assert!(
        waymark_eventlog::read(text.as_bytes(), Format::Csv, &options).is_err(),
        "no default column matches"
    );
    options.columns = waymark_eventlog::csv::Columns {
        case: Some("ticket".into()),
        activity: Some("step".into()),
        timestamp: Some("at".into()),
    };
    let log = waymark_eventlog::read(text.as_bytes(), Format::Csv, &options)
        .expect("mapped")
        .log;
    assert_eq!((log.cases(), log.events()), (1, 2));
    let agent = log
        .event_attributes(0)
        .iter()
        .find(|a| log.resolve(a.key) == "agent")
        .expect("other columns are attributes");
    assert_eq!(log.value_text(&agent.value), "ann");
}

#[test]
fn bad_csv_rows_name_the_line_and_column_and_lenient_skips_them() {
    let text = "case_id,activity,timestamp\n1,a,2024-01-01T00:00:00Z\n1,b,not a time\n1,c,2024-01-03T00:00:00Z\n,d,2024-01-03T00:00:00Z\n";
    let error = read_str(text, Format::Csv).expect_err("bad timestamp");
    let message = error.to_string();
    assert!(message.starts_with("test:3:3: "), "{message}");
    assert!(message.contains("not a time"), "{message}");
    let lenient = ReadOptions {
        lenient: true,
        ..options("test")
    };
    let outcome = waymark_eventlog::read(text.as_bytes(), Format::Csv, &lenient).expect("lenient");
    assert_eq!((outcome.log.events(), outcome.skipped), (2, 2));
    let ragged = read_str(
        "case_id,activity,timestamp\n1,a,2024-01-01T00:00:00Z,extra\n",
        Format::Csv,
    )
    .expect_err("ragged");
    assert!(
        ragged
            .to_string()
            .contains("test:2: this row has 4 fields, the header has 3"),
        "{ragged}"
    );
}

#[test]
fn truncated_compressed_xes_says_so() {
    let bytes = std::fs::read(shared_data().join("logs/helpdesk.xes.gz")).expect("gz");
    let cut = &bytes[..bytes.len() / 2];
    let error = waymark_eventlog::read(cut, Format::Xes, &options("helpdesk.xes.gz"))
        .expect_err("truncated");
    let message = error.to_string();
    assert!(message.starts_with("helpdesk.xes.gz:"), "{message}");
    assert!(message.contains("truncated or corrupt"), "{message}");
    let place = error.place.expect("a place");
    assert!(place.line > 1000, "the line where it broke: {place:?}");
}

/// A bound on what a file may unpack to (a server's uploads): a compressed file beyond it is
/// refused with a sentence, never decompressed without end; within it, it reads as ever.
#[test]
fn a_file_that_unpacks_beyond_the_bound_is_refused() {
    let bytes = std::fs::read(shared_data().join("logs/helpdesk.xes.gz")).expect("gz");
    let bounded = |max: u64| ReadOptions {
        max_bytes: Some(max),
        ..options("helpdesk.xes.gz")
    };
    let error = waymark_eventlog::read(&bytes[..], Format::Xes, &bounded(1 << 20))
        .expect_err("beyond the bound");
    assert!(
        error.to_string().contains("unpacks to more than 1 MiB"),
        "{error}"
    );
    let plain = format!(
        "case_id,activity,timestamp\n{}",
        "c1,A,2024-01-01T10:00:00Z\n".repeat(100)
    );
    let error = waymark_eventlog::read(plain.as_bytes(), Format::Csv, &bounded(1000))
        .expect_err("beyond the bound");
    assert!(
        error.to_string().contains("unpacks to more than"),
        "{error}"
    );
    let whole = waymark_eventlog::read(&bytes[..], Format::Xes, &bounded(1 << 30)).expect("within");
    assert_eq!(whole.log.cases(), shared("helpdesk.xes.gz").cases());
}

#[test]
fn truncated_xml_says_where_it_broke() {
    let text =
        std::fs::read_to_string(shared_data().join("logs/running-example.xes")).expect("xes");
    let cut = &text[..text.len() / 2];
    let error = read_str(cut, Format::Xes).expect_err("truncated");
    let message = error.to_string();
    assert!(
        message.contains("truncated") || message.contains("malformed"),
        "{message}"
    );
    let line = error.place.expect("place").line;
    assert!(
        line + 2 >= cut.lines().count(),
        "near the end: line {line} of {}",
        cut.lines().count()
    );
}

#[test]
fn malformed_xes_values_are_named() {
    let text = EVERY_TYPE.replace(r#"value="-12""#, r#"value="twelve""#);
    let error = read_str(&text, Format::Xes).expect_err("bad int");
    let message = error.to_string();
    assert!(message.contains("`twelve` is not an int"), "{message}");
    assert!(message.starts_with("test:14:"), "{message}");
    let lenient = ReadOptions {
        lenient: true,
        ..options("test")
    };
    let outcome = waymark_eventlog::read(text.as_bytes(), Format::Xes, &lenient).expect("lenient");
    assert_eq!((outcome.log.events(), outcome.skipped), (1, 1));
    let not_xes = read_str("<html><body/></html>", Format::Xes).expect_err("not a log");
    assert!(
        not_xes.to_string().contains("no <log> element"),
        "{not_xes}"
    );
}

#[test]
fn segment_json_lines() {
    let text = r#"{"type":"track","event":"Order Completed","userId":"u1","timestamp":"2024-05-01T10:00:00Z","properties":{"total":12.5,"items":[{"sku":"a"}],"coupon":null}}
{"type":"page","name":"Pricing","anonymousId":"anon-7","timestamp":"2024-05-01T09:00:00.123Z","properties":{"path":"/pricing"}}

{"type":"screen","name":"Home","userId":"u1","timestamp":"2024-05-01T09:30:00+02:00"}
{"type":"identify","userId":42,"timestamp":"2024-05-02T00:00:00Z","traits":{"plan":"gold"}}
"#;
    let log = read_str(text, Format::Jsonl).expect("jsonl").log;
    assert_eq!((log.cases(), log.events()), (3, 4));
    let u1 = log.iter_cases().find(|c| c.name() == "u1").expect("u1");
    let names: Vec<&str> = u1.activities().iter().map(|a| log.resolve(*a)).collect();
    assert_eq!(
        names,
        ["Home", "Order Completed"],
        "ordered by time: 07:30Z before 10:00Z"
    );
    let order = log.event_attributes(u1.events().end - 1);
    let total = order
        .iter()
        .find(|a| log.resolve(a.key) == "total")
        .expect("properties become attributes");
    assert!(matches!(total.value, Value::Float(f) if f == 12.5));
    assert!(
        order.iter().all(|a| log.resolve(a.key) != "coupon"),
        "null means missing"
    );
    assert!(
        log.iter_cases().any(|c| c.name() == "anon-7"),
        "anonymousId when there is no userId"
    );
    assert!(
        log.iter_cases().any(|c| c.name() == "42"),
        "numeric ids are ids"
    );
    let identify = log.iter_cases().find(|c| c.name() == "42").expect("42");
    assert_eq!(log.resolve(identify.activities()[0]), "identify");

    let error = read_str("{\"userId\":\"u\",\"event\":\"x\",\"timestamp\":\"2024-05-01T10:00:00Z\"}\n{\"userId\": oops}\n", Format::Jsonl)
        .expect_err("bad json");
    assert!(error.to_string().starts_with("test:2:"), "{error}");
    let error = read_str(
        "{\"event\":\"x\",\"timestamp\":\"2024-05-01T10:00:00Z\"}\n",
        Format::Jsonl,
    )
    .expect_err("no id");
    assert!(
        error
            .to_string()
            .contains("neither `userId` nor `anonymousId`"),
        "{error}"
    );
}

#[test]
fn a_classifier_can_name_activities() {
    let mut log = shared("bpic2012.xes.gz");
    let plain = log
        .activity_column()
        .iter()
        .collect::<std::collections::HashSet<_>>()
        .len();
    assert_eq!(plain, 24);
    log.set_activity_key(ActivityKey::parse("concept:name+lifecycle:transition"));
    let names: std::collections::HashSet<&str> = log
        .activity_column()
        .iter()
        .map(|a| log.resolve(*a))
        .collect();
    assert!(
        names.contains("W_Completeren aanvraag+COMPLETE"),
        "{names:?}"
    );
    assert!(names.len() > plain);
    let read_with_key = waymark_eventlog::read_path(
        &shared_data().join("logs/bpic2012.xes.gz"),
        None,
        &ReadOptions {
            activity_key: ActivityKey::parse("concept:name+lifecycle:transition"),
            ..Default::default()
        },
    )
    .expect("read")
    .log;
    assert_eq!(
        read_with_key.activity_column().len(),
        log.activity_column().len()
    );
}

#[test]
fn events_take_at_most_32_bytes_attributes_not_counted() {
    let log = shared("running-example.xes");
    assert!(log.bytes_per_event() <= 32, "{}", log.bytes_per_event());
}

const OCEL_JSON: &str = r#"{
  "objectTypes": [
    {"name": "order", "attributes": [{"name": "total", "type": "float"}]},
    {"name": "item", "attributes": []}
  ],
  "eventTypes": [
    {"name": "place order", "attributes": [{"name": "channel", "type": "string"}]},
    {"name": "pick item", "attributes": []},
    {"name": "pay order", "attributes": [{"name": "amount", "type": "float"}]}
  ],
  "objects": [
    {"id": "o1", "type": "order", "attributes": [{"name": "total", "time": "1970-01-01T00:00:00Z", "value": "30.5"}]},
    {"id": "o2", "type": "order"},
    {"id": "i1", "type": "item"},
    {"id": "i2", "type": "item"}
  ],
  "events": [
    {"id": "e1", "type": "place order", "time": "2024-03-01T09:00:00Z", "attributes": [{"name": "channel", "value": "app"}],
     "relationships": [{"objectId": "o1", "qualifier": "order"}, {"objectId": "i1", "qualifier": "item"}, {"objectId": "i2", "qualifier": "item"}]},
    {"id": "e2", "type": "pick item", "time": "2024-03-01T10:00:00Z", "relationships": [{"objectId": "i1", "qualifier": "item"}, {"objectId": "o1", "qualifier": "order"}]},
    {"id": "e3", "type": "place order", "time": "2024-03-01T08:00:00Z", "attributes": [{"name": "channel", "value": "web"}], "relationships": [{"objectId": "o2", "qualifier": "order"}]},
    {"id": "e4", "type": "pay order", "time": "2024-03-02T09:00:00Z", "attributes": [{"name": "amount", "value": 30.5}], "relationships": [{"objectId": "o1", "qualifier": "order"}]}
  ]
}"#;

const OCEL_XML: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<log>
  <object-types>
    <object-type name="order"><attributes><attribute name="total" type="float"/></attributes></object-type>
    <object-type name="item"><attributes/></object-type>
  </object-types>
  <event-types>
    <event-type name="place order"><attributes><attribute name="channel" type="string"/></attributes></event-type>
    <event-type name="pick item"><attributes/></event-type>
    <event-type name="pay order"><attributes><attribute name="amount" type="float"/></attributes></event-type>
  </event-types>
  <objects>
    <object id="o1" type="order"><attributes><attribute name="total" time="1970-01-01T00:00:00Z">30.5</attribute></attributes></object>
    <object id="o2" type="order"/>
    <object id="i1" type="item"/>
    <object id="i2" type="item"/>
  </objects>
  <events>
    <event id="e1" type="place order" time="2024-03-01T09:00:00Z">
      <attributes><attribute name="channel">app</attribute></attributes>
      <objects><relationship object-id="o1" qualifier="order"/><relationship object-id="i1" qualifier="item"/><relationship object-id="i2" qualifier="item"/></objects>
    </event>
    <event id="e2" type="pick item" time="2024-03-01T10:00:00Z">
      <objects><relationship object-id="i1" qualifier="item"/><relationship object-id="o1" qualifier="order"/></objects>
    </event>
    <event id="e3" type="place order" time="2024-03-01T08:00:00Z">
      <attributes><attribute name="channel">web</attribute></attributes>
      <objects><relationship object-id="o2" qualifier="order"/></objects>
    </event>
    <event id="e4" type="pay order" time="2024-03-02T09:00:00Z">
      <attributes><attribute name="amount">30.5</attribute></attributes>
      <objects><relationship object-id="o1" qualifier="order"/></objects>
    </event>
  </events>
</log>"#;

fn read_ocel(
    text: &str,
    format: Format,
    object_type: Option<&str>,
) -> Result<EventLog, waymark_eventlog::ReadError> {
    let options = ReadOptions {
        object_type: object_type.map(str::to_string),
        ..options("orders.ocel")
    };
    waymark_eventlog::read(text.as_bytes(), format, &options).map(|o| o.log)
}

#[test]
fn ocel_is_flattened_on_the_chosen_object_type() {
    for format in [Format::OcelJson, Format::OcelXml] {
        let text = if format == Format::OcelJson {
            OCEL_JSON
        } else {
            OCEL_XML
        };
        let orders = read_ocel(text, format, Some("order")).expect("orders");
        assert_eq!((orders.cases(), orders.events()), (2, 4), "{format:?}");
        let o1 = orders.iter_cases().find(|c| c.name() == "o1").expect("o1");
        let names: Vec<&str> = o1.activities().iter().map(|a| orders.resolve(*a)).collect();
        assert_eq!(names, ["place order", "pick item", "pay order"]);
        assert!(
            matches!(o1.attribute("total").map(|a| a.value), Some(Value::Float(t)) if t == 30.5),
            "{format:?}"
        );
        let pay = orders.event_attributes(o1.events().end - 1);
        assert!(pay.iter().any(|a| orders.resolve(a.key) == "amount"
            && matches!(a.value, Value::Float(t) if t == 30.5)));
        let items = read_ocel(text, format, Some("item")).expect("items");
        assert_eq!(
            (items.cases(), items.events()),
            (2, 3),
            "e1 counts for both items"
        );
    }
    let json = read_ocel(OCEL_JSON, Format::OcelJson, Some("order")).expect("json");
    let xml = read_ocel(OCEL_XML, Format::OcelXml, Some("order")).expect("xml");
    assert_eq!(
        dump(&json),
        dump(&xml),
        "both encodings flatten to the same log"
    );
}

#[test]
fn ocel_without_a_known_object_type_says_which_exist() {
    let missing = read_ocel(OCEL_JSON, Format::OcelJson, None).expect_err("no type");
    assert!(
        missing
            .to_string()
            .contains("--object-type with one of `order`, `item`"),
        "{missing}"
    );
    let unknown = read_ocel(OCEL_XML, Format::OcelXml, Some("customer")).expect_err("unknown type");
    assert!(
        unknown
            .to_string()
            .contains("there is no object type `customer`"),
        "{unknown}"
    );
    let broken = read_ocel("{\"objects\": [", Format::OcelJson, Some("order")).expect_err("broken");
    assert!(broken.to_string().starts_with("orders.ocel:1:"), "{broken}");
    let truncated = read_ocel(
        &OCEL_XML[..OCEL_XML.len() / 2],
        Format::OcelXml,
        Some("order"),
    )
    .expect_err("truncated");
    assert!(
        truncated.to_string().contains("truncated") || truncated.to_string().contains("malformed"),
        "{truncated}"
    );
}

#[test]
fn parquet_export_reads_back_with_typed_columns() {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::record::RowAccessor;

    let log = shared("running-example.xes");
    let path = std::env::temp_dir().join(format!("waymark-{}-running.parquet", std::process::id()));
    waymark_eventlog::parquet::write(&log, std::fs::File::create(&path).expect("create"))
        .expect("write parquet");
    let reader =
        SerializedFileReader::new(std::fs::File::open(&path).expect("open")).expect("parquet file");
    let schema = reader.metadata().file_metadata().schema_descr();
    let names: Vec<&str> = schema.columns().iter().map(|c| c.name()).collect();
    assert_eq!(&names[..3], ["case_id", "activity", "timestamp"]);
    assert!(
        names.contains(&"org:resource") && names.contains(&"Costs"),
        "{names:?}"
    );
    let costs = names.iter().position(|n| *n == "Costs").expect("Costs");
    let mut rows = Vec::new();
    for row in reader.get_row_iter(None).expect("rows") {
        let row = row.expect("row");
        rows.push((
            row.get_string(0).expect("case").clone(),
            row.get_string(1).expect("activity").clone(),
            row.get_timestamp_micros(2).expect("time"),
        ));
        // The running example stores costs as strings in XES; the column keeps that type.
        assert!(row.get_string(costs).is_ok());
    }
    let expected: Vec<(String, String, i64)> = dump(&log)
        .into_iter()
        .map(|(c, a, t, _)| (c, a, t))
        .collect();
    assert_eq!(rows, expected);
    let _ = std::fs::remove_file(path);
}

#[test]
fn parquet_keeps_numbers_booleans_and_dates_typed() {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::record::RowAccessor;

    let log = read_str(EVERY_TYPE, Format::Xes).expect("xes").log;
    let mut bytes = Vec::new();
    waymark_eventlog::parquet::write(&log, &mut bytes).expect("write");
    let reader = SerializedFileReader::new(bytes::Bytes::from(bytes)).expect("parquet");
    let schema = reader.metadata().file_metadata().schema_descr();
    let column = |name: &str| {
        schema
            .columns()
            .iter()
            .position(|c| c.name() == name)
            .unwrap_or_else(|| panic!("{name}"))
    };
    let (amount, score, urgent, priority) = (
        column("amount"),
        column("score"),
        column("urgent"),
        column("case:priority"),
    );
    let first = reader
        .get_row_iter(None)
        .expect("rows")
        .next()
        .expect("a row")
        .expect("row");
    assert_eq!(first.get_long(amount).expect("int"), -12);
    assert_eq!(first.get_double(score).expect("float"), 4.25);
    assert!(first.get_bool(urgent).expect("bool"));
    assert_eq!(first.get_long(priority).expect("case int"), 2);
}

/// Parsing in pieces on several threads gives exactly what one thread gives, on every shared XES
/// log, with pieces small enough that every log is cut many times.
#[test]
fn parallel_xes_reading_equals_sequential() {
    for name in [
        "running-example.xes",
        "roadtraffic100traces.xes",
        "helpdesk.xes.gz",
        "08_receipt.xes.gz",
        "bpic2012.xes.gz",
    ] {
        let path = shared_data().join("logs").join(name);
        let bytes = std::fs::read(&path).expect("log");
        let xml: Vec<u8> = if name.ends_with(".gz") {
            let mut out = Vec::new();
            std::io::Read::read_to_end(
                &mut flate2::read::MultiGzDecoder::new(&bytes[..]),
                &mut out,
            )
            .expect("gunzip");
            out
        } else {
            bytes
        };
        let sequential = waymark_eventlog::xes::read_sequential(&xml[..], &options(name))
            .expect("sequential")
            .log;
        for (chunk, threads) in [(1 << 10, 2), (64 << 10, 3), (1 << 20, 2)] {
            if chunk < 64 << 10 && xml.len() > 10 << 20 {
                continue; // tens of thousands of pieces would only slow the test down
            }
            let parallel =
                waymark_eventlog::xes::read_parallel(&xml[..], &options(name), chunk, threads)
                    .expect("parallel")
                    .log;
            assert_eq!(parallel.cases(), sequential.cases(), "{name} {chunk}");
            assert_eq!(
                dump(&parallel),
                dump(&sequential),
                "{name} in pieces of {chunk} bytes"
            );
            assert_eq!(parallel.meta, sequential.meta, "{name}: header");
            // Read a piece at a time, the same traces come in file order, each once.
            let mut pieces = Vec::new();
            waymark_eventlog::xes::read_pieces_parallel(
                &xml[..],
                &options(name),
                chunk,
                threads,
                &mut |piece| {
                    pieces.push(piece.log);
                    std::ops::ControlFlow::Continue(())
                },
            )
            .expect("pieces");
            assert!(
                pieces.len() > 1 || xml.len() < 2 * chunk,
                "{name}: {} piece(s) of {chunk} bytes",
                pieces.len()
            );
            let joined: Vec<_> = pieces.iter().flat_map(dump).collect();
            assert_eq!(
                joined,
                dump(&sequential),
                "{name} read in pieces of {chunk} bytes"
            );
            assert!(
                pieces
                    .iter()
                    .all(|p| p.meta.attributes == sequential.meta.attributes)
            );
        }
    }
}

/// A reader of pieces can stop after any piece; an error comes after the pieces before it.
#[test]
fn xes_pieces_stop_when_asked_and_errors_come_after_the_good_pieces() {
    let text =
        std::fs::read_to_string(shared_data().join("logs/roadtraffic100traces.xes")).expect("xes");
    let mut seen = 0;
    waymark_eventlog::xes::read_pieces_parallel(
        text.as_bytes(),
        &options("t"),
        4 << 10,
        2,
        &mut |_| {
            seen += 1;
            std::ops::ControlFlow::Break(())
        },
    )
    .expect("stopped");
    assert_eq!(seen, 1, "nothing is handed over after a stop");
    let cut = &text[..text.len() * 2 / 3];
    let mut events = 0;
    let error = waymark_eventlog::xes::read_pieces_parallel(
        cut.as_bytes(),
        &options("t"),
        4 << 10,
        2,
        &mut |piece| {
            events += piece.log.events();
            std::ops::ControlFlow::Continue(())
        },
    )
    .expect_err("truncated");
    let whole = waymark_eventlog::xes::read_sequential(text.as_bytes(), &options("t"))
        .expect("whole")
        .log
        .events();
    assert!(
        events > 0 && events < whole,
        "{events} of {whole} events before: {error}"
    );
    let sequential = waymark_eventlog::xes::read_sequential(cut.as_bytes(), &options("t"))
        .expect_err("truncated");
    assert_eq!(error.message, sequential.message);
}

#[test]
fn parallel_xes_errors_name_the_same_place() {
    let text =
        std::fs::read_to_string(shared_data().join("logs/roadtraffic100traces.xes")).expect("xes");
    // A bad value deep in the file, and a file cut off in the middle.
    let target = text
        .match_indices("<float key=\"amount\"")
        .nth(40)
        .map(|(i, _)| i)
        .expect("a float");
    let bad = format!(
        "{}<float key=\"extra\" value=\"lots\"/>{}",
        &text[..target],
        &text[target..]
    );
    let cut = &text[..text.len() * 2 / 3];
    for input in [bad.as_str(), cut] {
        let sequential = waymark_eventlog::xes::read_sequential(input.as_bytes(), &options("t"))
            .expect_err("bad");
        let parallel =
            waymark_eventlog::xes::read_parallel(input.as_bytes(), &options("t"), 4 << 10, 2)
                .expect_err("bad");
        assert_eq!(parallel.message, sequential.message);
        assert_eq!(
            parallel.place.map(|p| p.line),
            sequential.place.map(|p| p.line),
            "{parallel} vs {sequential}"
        );
    }
}

/// Logs hold millions of attributes: one without children takes 32 bytes.
#[test]
fn an_attribute_takes_32_bytes() {
    assert_eq!(std::mem::size_of::<waymark_eventlog::Attribute>(), 32);
}

/// A shared interner holds each string once: in the last log written from it, or among those
/// interned since; symbols keep their meaning across logs.
#[test]
fn a_shared_interner_keeps_symbols_across_the_logs_it_writes() {
    use waymark_eventlog::{ActivityKey, CaseWriter, Intern, SharedInterner};
    let mut strings = SharedInterner::default();
    let a = strings.intern("a");
    let b = strings.intern("b");
    assert_eq!(strings.intern("a"), a);
    let mut writer = CaseWriter::new(strings.to_interner(), ActivityKey::default());
    writer.case(a, []);
    writer.event(1, b, []);
    let log = std::sync::Arc::new(writer.finish());
    strings.rebase(log.clone());
    assert_eq!(strings.fresh_bytes(), 0, "the strings are the log's now");
    assert_eq!(
        strings.intern("b"),
        b,
        "a string of the log keeps its symbol"
    );
    let c = strings.intern("c");
    assert!(c != a && c != b);
    assert_eq!(
        (strings.resolve(a), strings.resolve(b), strings.resolve(c)),
        ("a", "b", "c")
    );
    assert_eq!(log.resolve(b), "b");
    assert!(log.symbol("c").is_none(), "the written log never changes");
    let next = strings.to_interner();
    assert_eq!(next.resolve(c), "c");
    assert_eq!(next.resolve(a), "a");
}
