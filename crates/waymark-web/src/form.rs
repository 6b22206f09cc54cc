//! Forms as HTML: every field with its label, hint, current value and error, and a submission
//! read back into the values `waymark_workflow::forms::Form::validate` checks.

use maud::{Markup, html};
use serde_json::{Map, Value};
use waymark_workflow::forms::{Field, FieldError, FieldKind, Form};

/// The values a browser sent for the form's fields (other names, such as the CSRF token, are
/// left out). A checkbox is true when sent; a multiple choice gathers every value sent; an empty
/// field counts as not given.
pub(crate) fn read(form: &Form, pairs: &[(String, String)]) -> Map<String, Value> {
    let mut values = Map::new();
    for field in &form.fields {
        let sent: Vec<&str> = pairs
            .iter()
            .filter(|(k, _)| k == &field.key)
            .map(|(_, v)| v.as_str())
            .collect();
        let value = match &field.kind {
            // A decision's buttons send `true` or `false`; without either, nothing is decided.
            FieldKind::Checkbox if field.buttons.is_some() => {
                if sent.contains(&"true") {
                    Some(Value::Bool(true))
                } else if sent.contains(&"false") {
                    Some(Value::Bool(false))
                } else {
                    None
                }
            }
            // A ticked box sends `true`; an unticked one nothing.
            FieldKind::Checkbox => Some(Value::Bool(sent.contains(&"true"))),
            FieldKind::Choice { multiple: true, .. } => {
                let chosen: Vec<Value> = sent
                    .iter()
                    .filter(|v| !v.is_empty())
                    .map(|v| Value::from(*v))
                    .collect();
                (!chosen.is_empty()).then_some(Value::Array(chosen))
            }
            _ => sent
                .first()
                .map(|v| v.trim())
                .filter(|v| !v.is_empty())
                .map(Value::from),
        };
        if let Some(value) = value {
            values.insert(field.key.clone(), value);
        }
    }
    values
}

fn text_of(value: Option<&Value>) -> String {
    match value {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// The buttons that send a form: a decision's two (`Approve`, `Reject`: each sends the field's
/// yes or no), or one saying `send`.
pub(crate) fn submit(form: Option<&Form>, send: &str) -> Markup {
    let decision = form.and_then(|f| f.fields.iter().find(|f| f.buttons.is_some()));
    html! {
        @match decision.and_then(|f| f.buttons.as_ref().map(|b| (f, b))) {
            Some((field, (yes, no))) => div.decision {
                // Enter in a field sends a form with its first button: this one, which does
                // nothing, so a decision is only ever taken by pressing one of the two.
                button type="submit" disabled hidden aria-hidden="true" tabindex="-1" { "Send" }
                button type="submit" name=(field.key) value="true" { (yes) }
                button.secondary type="submit" name=(field.key) value="false" { (no) }
            },
            None => button type="submit" { (send) },
        }
    }
}

/// The fields shown for `values` (with what the directory fills in), each with its error.
pub(crate) fn fields(
    form: &Form,
    values: &Map<String, Value>,
    prefill: &Map<String, Value>,
    errors: &[FieldError],
) -> Markup {
    let mut current = prefill.clone();
    current.extend(values.clone());
    // An unticked box is "no" (a browser sends nothing for it), so fields shown for "no" are
    // there from the start, without any script.
    let mut scope = current.clone();
    for field in &form.fields {
        if field.kind == FieldKind::Checkbox && !scope.contains_key(&field.key) {
            scope.insert(field.key.clone(), Value::Bool(false));
        }
    }
    let shown = form.shown(&scope, &Map::new());
    html! {
        @if !errors.is_empty() {
            div.summary role="alert" aria-labelledby="problems" tabindex="-1" {
                h2 #problems { "There is a problem" }
                ul {
                    @for error in errors {
                        li { a href=(format!("#field-{}", error.field)) { (error.message) } }
                    }
                }
            }
        }
        @for field in form.fields.iter().filter(|f| f.buttons.is_none()) {
            @let markup = one(field, current.get(&field.key),
                errors.iter().find(|e| e.field == field.key).map(|e| e.message.as_str()));
            @if let Some(when) = &field.visible_when {
                // Shown or hidden as the values stand now; the page's script re-evaluates the
                // same condition as people type. A hidden field is disabled, so it is not sent.
                @let visible = shown.iter().any(|f| f.key == field.key);
                fieldset.conditional data-visible-when=(when.tree().to_string())
                    hidden[!visible] disabled[!visible] {
                    (markup)
                }
            } @else {
                (markup)
            }
        }
    }
}

fn one(field: &Field, value: Option<&Value>, error: Option<&str>) -> Markup {
    let id = format!("field-{}", field.key);
    let hint_id = format!("{id}-hint");
    let error_id = format!("{id}-error");
    let mut described = Vec::new();
    if field.description.is_some() {
        described.push(hint_id.clone());
    }
    if error.is_some() {
        described.push(error_id.clone());
    }
    let described = (!described.is_empty()).then(|| described.join(" "));
    let read_only = field.read_only;
    let label = if field.required || field.read_only {
        field.label.clone()
    } else {
        format!("{} (optional)", field.label)
    };
    let text = text_of(value);
    let note = |markup: Markup| {
        html! {
            @if let Some(hint) = &field.description { p.hint #(hint_id) { (hint) } }
            @if let Some(error) = error { p.error #(error_id) { span.visually-hidden { "Error: " } (error) } }
            (markup)
        }
    };
    match &field.kind {
        FieldKind::Checkbox => html! {
            div.field.checkbox.invalid[error.is_some()] {
                (note(html! {
                    label {
                        input #(id) type="checkbox" name=(field.key) value="true"
                            checked[value == Some(&Value::Bool(true))]
                            disabled[read_only]
                            aria-describedby=[described.as_deref()]
                            aria-invalid=[error.map(|_| "true")];
                        (field.label)
                    }
                }))
            }
        },
        FieldKind::Choice { options, multiple } => {
            let chosen: Vec<String> = match value {
                Some(Value::Array(items)) => items.iter().map(|v| text_of(Some(v))).collect(),
                other => vec![text_of(other)],
            };
            html! {
                fieldset.field.invalid[error.is_some()] #(id)
                    aria-describedby=[described.as_deref()] {
                    legend { (label) }
                    (note(html! {
                        @for (n, (key, shown)) in options.iter().enumerate() {
                            div.checkbox {
                                label {
                                    input #(format!("{id}-{n}"))
                                        type=(if *multiple { "checkbox" } else { "radio" })
                                        name=(field.key) value=(key)
                                        checked[chosen.contains(key)]
                                        required[field.required && !*multiple]
                                        disabled[read_only];
                                    (shown)
                                }
                            }
                        }
                    }))
                }
            }
        }
        kind => {
            let (input_type, mode, step) = match kind {
                FieldKind::Email => ("email", None, None),
                FieldKind::Number => ("text", Some("decimal"), None),
                FieldKind::Money { .. } => ("text", Some("decimal"), None),
                FieldKind::Date => ("date", None, None),
                _ => ("text", None, None::<&str>),
            };
            let currency = match kind {
                FieldKind::Money { currency } => Some(currency.clone()),
                _ => None,
            };
            html! {
                div.field.invalid[error.is_some()] {
                    label for=(id) {
                        (label)
                        @if let Some(currency) = &currency { " (" (currency) ")" }
                    }
                    (note(html! {
                        @if matches!(kind, FieldKind::Textarea) {
                            textarea #(id) name=(field.key) rows="4"
                                required[field.required] readonly[read_only]
                                aria-describedby=[described.as_deref()]
                                aria-invalid=[error.map(|_| "true")] { (text) }
                        } @else {
                            input #(id) type=(input_type) name=(field.key) value=(text)
                                inputmode=[mode] step=[step]
                                required[field.required] readonly[read_only]
                                aria-describedby=[described.as_deref()]
                                aria-invalid=[error.map(|_| "true")];
                        }
                    }))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> Form {
        let schema = serde_json::json!({
            "id": "f",
            "components": [
                { "type": "textfield", "key": "course", "label": "Course", "validate": { "required": true } },
                { "type": "number", "key": "cost", "label": "Cost" },
                { "type": "checkbox", "key": "online", "label": "Online" },
                { "type": "checklist", "key": "days", "label": "Days", "values": [
                    { "label": "Monday", "value": "mon" }, { "label": "Tuesday", "value": "tue" } ] }
            ]
        });
        waymark_workflow::forms::from_form_js("f", &schema).expect("form")
    }

    #[test]
    fn a_browser_submission_reads_as_the_form_expects() {
        let pairs: Vec<(String, String)> = [
            ("csrf", "x"),
            ("course", " Negotiation "),
            ("cost", ""),
            ("days", "mon"),
            ("days", "tue"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let values = read(&form(), &pairs);
        assert_eq!(
            Value::Object(values),
            serde_json::json!({ "course": "Negotiation", "online": false, "days": ["mon", "tue"] })
        );
    }

    #[test]
    fn every_field_has_a_label_and_errors_are_tied_to_their_field() {
        let errors = vec![FieldError {
            field: "course".into(),
            message: "Course is required".into(),
        }];
        let html = fields(&form(), &Map::new(), &Map::new(), &errors).into_string();
        for id in ["field-course", "field-cost", "field-online"] {
            assert!(
                html.contains(&format!("for=\"{id}\"")) || html.contains(&format!("id=\"{id}\"")),
                "{id}: {html}"
            );
        }
        assert!(html.contains("aria-invalid=\"true\""), "{html}");
        assert!(
            html.contains("aria-describedby=\"field-course-error\""),
            "{html}"
        );
        assert!(
            html.contains("href=\"#field-course\""),
            "the summary links to the field"
        );
        assert!(html.contains("Cost (optional)"));
    }
}
