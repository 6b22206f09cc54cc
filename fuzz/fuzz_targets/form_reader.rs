//! The form reader: any JSON as a Camunda Forms schema (a deployed form), and any JSON object
//! as what someone submits to it. Reading never panics; every problem names its field (a JSON
//! pointer into the schema, or a field key); what validates holds only the form's own fields
//! and never a variable Waymark keeps itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use waymark_workflow::forms::from_form_js;

fuzz_target!(|data: &[u8]| {
    let Ok(json) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    // `{"schema": …, "values": {…}}`, or the schema alone.
    let (schema, values) = match (json.get("schema"), json.get("values")) {
        (Some(schema), values) => (schema.clone(), values.cloned()),
        _ => (json.clone(), None),
    };
    let form = match from_form_js("fuzz", &schema) {
        Ok(form) => form,
        Err(errors) => {
            assert!(!errors.is_empty());
            for error in errors {
                assert!(
                    error.field.starts_with('/') || error.field.is_empty(),
                    "{error}"
                );
            }
            return;
        }
    };
    let submitted = values
        .and_then(|v| v.as_object().cloned())
        .unwrap_or_default();
    let prefill = form.prefill(&submitted);
    let _ = form.shown(&submitted, &serde_json::Map::new());
    if let Ok(valid) = form.validate(&submitted, &serde_json::Map::new(), &prefill) {
        for key in valid.keys() {
            assert!(
                form.fields.iter().any(|f| &f.key == key),
                "{key} is not a field"
            );
            assert!(
                !waymark_workflow::engine::is_reserved(key),
                "{key} is reserved"
            );
        }
    }
});
