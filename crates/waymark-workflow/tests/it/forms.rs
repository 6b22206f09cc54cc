//! Camunda Forms (form-js) load and validate; submissions never panic.

use proptest::prelude::*;
use serde_json::{Map, Value, json};
use waymark_workflow::forms::{FieldKind, from_form_js};

fn shared_form(name: &str) -> Value {
    let root = std::env::var_os("WAYMARK_SHARED")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
        });
    let path = root.join("data/bpmn").join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("the shared test data is missing at {}: {e}", path.display()));
    serde_json::from_str(&text).expect("json")
}

fn map(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

#[test]
fn the_camunda_example_forms_load_and_validate() {
    let start = from_form_js("start-form", &shared_form("c7ex_start-form.form")).expect("form");
    let keys: Vec<&str> = start.fields.iter().map(|f| f.key.as_str()).collect();
    assert_eq!(keys, ["creditor", "amount", "invoiceNumber"]);
    assert!(start.fields.iter().all(|f| f.kind == FieldKind::Text));
    let ok = start
        .validate(
            &map(json!({ "creditor": "Great Pizza", "amount": "30", "invoiceNumber": "C-123" })),
            &Map::new(),
            &Map::new(),
        )
        .expect("valid");
    assert_eq!(ok["amount"], "30");
    let errors = start
        .validate(
            &map(json!({ "amount": "30 EUR", "invoiceNumber": "123" })),
            &Map::new(),
            &Map::new(),
        )
        .expect_err("invalid");
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["creditor", "amount", "invoiceNumber"]);
    assert!(
        errors[2].message.contains("C-123"),
        "the description explains the pattern: {}",
        errors[2].message
    );

    let task = from_form_js("task-form", &shared_form("c7ex_task-form.form")).expect("form");
    assert_eq!(task.fields.len(), 5);
    assert!(task.fields[3].required && task.fields[3].pattern.is_some());
}

#[test]
fn form_js_fields_map_to_waymark_types_and_mistakes_are_pointed_at() {
    let form = from_form_js(
        "f",
        &json!({ "components": [
            { "type": "text", "text": "# Request" },
            { "type": "number", "key": "cost", "label": "Cost", "validate": { "min": 0, "max": 5000 } },
            { "type": "select", "key": "level", "values": [{ "value": "basic", "label": "Basic" }, { "value": "pro", "label": "Pro" }] },
            { "type": "group", "components": [
                { "type": "textfield", "key": "email", "validate": { "validationType": "email" } },
                { "type": "textarea", "key": "why", "conditional": { "hide": "=level = \"basic\"" } }
            ] },
            { "type": "datetime", "key": "start" },
            { "type": "checklist", "key": "topics", "values": [{ "value": "a" }, { "value": "b" }] }
        ] }),
    )
    .expect("form");
    let kinds: Vec<&str> = form.fields.iter().map(|f| f.kind.as_str()).collect();
    assert_eq!(
        kinds,
        ["number", "choice", "email", "textarea", "date", "choice"]
    );
    // `why` is hidden for the basic level, shown for pro.
    let basic = form
        .validate(
            &map(json!({ "level": "basic", "why": "because", "topics": ["a"] })),
            &Map::new(),
            &Map::new(),
        )
        .expect("valid");
    assert!(!basic.contains_key("why"));
    let pro = form
        .validate(
            &map(json!({ "level": "pro", "why": "because" })),
            &Map::new(),
            &Map::new(),
        )
        .expect("valid");
    assert_eq!(pro["why"], "because");
    let errors = form
        .validate(
            &map(json!({ "cost": 6000, "level": "gold", "topics": ["c"] })),
            &Map::new(),
            &Map::new(),
        )
        .expect_err("invalid");
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["cost", "level", "topics"]);

    let wrong = from_form_js(
        "f",
        &json!({ "components": [{ "type": "textfield", "key": "a" }, { "type": "signature", "key": "s" }, { "type": "textfield" }] }),
    )
    .expect_err("unknown type");
    let pointers: Vec<&str> = wrong.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(pointers, ["/components/1/type", "/components/2/key"]);
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(2, 8, 4, |inner| {
        prop::collection::vec(inner, 0..4).prop_map(Value::Array)
    })
}

proptest! {
    #[test]
    fn submissions_never_panic_and_valid_ones_hold_only_known_fields(
        values in prop::collection::vec(any_json(), 5),
    ) {
        let form = from_form_js("start", &shared_form("c7ex_task-form.form")).expect("form");
        let keys = ["creditor", "amount", "invoiceNumber", "approved", "approvedBy"];
        let submitted: Map<String, Value> = keys
            .iter()
            .zip(values)
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        if let Ok(valid) = form.validate(&submitted, &Map::new(), &Map::new()) {
            prop_assert!(valid.keys().all(|k| keys.contains(&k.as_str())));
            prop_assert!(valid.contains_key("creditor") && valid.contains_key("approved"));
        }
    }
}
