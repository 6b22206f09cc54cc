//! Forms: what a person fills in at a start event or a user task.
//!
//! A form is a list of fields with types people need (text, textarea, number, money, date,
//! choice, checkbox, file, email), validation (required, min/max, length, pattern, email),
//! conditional visibility and prefill from the requester's profile. Camunda Forms (form-js JSON)
//! load into the same model. A submission is checked whole: either every field is valid and the
//! typed values come back, or every problem comes back per field and nothing is kept.

use serde_json::{Map, Value as Json};

use crate::expr::Expr;

#[derive(Debug, Clone, PartialEq)]
pub struct Form {
    pub id: String,
    pub title: Option<String>,
    pub fields: Vec<Field>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// The variable the value is stored under.
    pub key: String,
    pub label: String,
    pub kind: FieldKind,
    pub description: Option<String>,
    pub required: bool,
    /// Numbers and money: the smallest and largest value; text: the shortest and longest.
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub pattern: Option<String>,
    /// Shown only when this holds (evaluated on the values entered so far and the variables).
    pub visible_when: Option<Expr>,
    /// A value taken from what the system knows, e.g. `requester.manager`; the person may change
    /// it unless the field is read-only.
    pub prefill: Option<String>,
    pub default: Option<Json>,
    pub read_only: bool,
    /// A yes-or-no field decided by two buttons that send the form, the yes and the no (form-js
    /// `properties.buttons`, e.g. `"Approve, Reject"`); a checkbox otherwise.
    pub buttons: Option<(String, String)>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum FieldKind {
    Text,
    Textarea,
    Email,
    Number,
    /// An amount in a currency (ISO 4217 code).
    Money {
        currency: String,
    },
    /// YYYY-MM-DD.
    Date,
    /// One of the options (or several, when `multiple`).
    Choice {
        options: Vec<(String, String)>,
        multiple: bool,
    },
    Checkbox,
    /// An uploaded file, stored elsewhere: the value is its reference.
    File,
}

impl FieldKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            FieldKind::Text => "text",
            FieldKind::Textarea => "textarea",
            FieldKind::Email => "email",
            FieldKind::Number => "number",
            FieldKind::Money { .. } => "money",
            FieldKind::Date => "date",
            FieldKind::Choice { .. } => "choice",
            FieldKind::Checkbox => "checkbox",
            FieldKind::File => "file",
        }
    }
}

/// A problem with one field of a submission (or of a form definition: `field` is then a JSON
/// pointer into the file).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl Field {
    fn new(key: String, label: String, kind: FieldKind) -> Field {
        Field {
            key,
            label,
            kind,
            description: None,
            required: false,
            min: None,
            max: None,
            pattern: None,
            visible_when: None,
            prefill: None,
            default: None,
            read_only: false,
            buttons: None,
        }
    }
}

impl Form {
    /// What the form's conditions read: the context, then what was submitted, typed where it
    /// reads.
    fn scope(
        &self,
        submitted: &Map<String, Json>,
        context: &Map<String, Json>,
    ) -> Map<String, Json> {
        let mut scope = context.clone();
        for (k, v) in submitted {
            let typed = self
                .fields
                .iter()
                .find(|f| &f.key == k)
                .and_then(|f| f.check(v).ok());
            scope.insert(k.clone(), typed.unwrap_or_else(|| v.clone()));
        }
        scope
    }

    /// The fields shown for these values: those without a condition, and those whose condition
    /// holds (as [`Form::validate`] decides).
    pub fn shown(&self, submitted: &Map<String, Json>, context: &Map<String, Json>) -> Vec<&Field> {
        let scope = self.scope(submitted, context);
        self.fields
            .iter()
            .filter(|f| {
                f.visible_when
                    .as_ref()
                    .is_none_or(|c| matches!(c.eval(&scope), Ok(Json::Bool(true))))
            })
            .collect()
    }

    /// Checks a submission. `context` holds what the form's conditions may also read (the
    /// process variables). Hidden fields are dropped; read-only fields keep their prefilled or
    /// default value. Either every value is valid and the typed values come back, or every
    /// problem does.
    pub fn validate(
        &self,
        submitted: &Map<String, Json>,
        context: &Map<String, Json>,
        prefilled: &Map<String, Json>,
    ) -> Result<Map<String, Json>, Vec<FieldError>> {
        let mut values = Map::new();
        let mut errors = Vec::new();
        let scope = self.scope(submitted, context);
        for (key, _) in submitted {
            if !self.fields.iter().any(|f| &f.key == key) {
                errors.push(FieldError {
                    field: key.clone(),
                    message: "this form has no such field".into(),
                });
            }
        }
        for field in &self.fields {
            if let Some(condition) = &field.visible_when {
                // A condition on a value not given yet hides the field.
                match condition.eval(&scope) {
                    Ok(Json::Bool(true)) => {}
                    Ok(Json::Bool(false) | Json::Null) => continue,
                    Ok(other) => {
                        errors.push(FieldError {
                            field: field.key.clone(),
                            message: format!(
                                "cannot tell whether it is shown: `{}` gave {other}, not true or false",
                                condition.source
                            ),
                        });
                        continue;
                    }
                    Err(error) => {
                        errors.push(FieldError {
                            field: field.key.clone(),
                            message: format!("cannot tell whether it is shown: {error}"),
                        });
                        continue;
                    }
                }
            }
            let given = if field.read_only {
                prefilled.get(&field.key).or(field.default.as_ref())
            } else {
                submitted
                    .get(&field.key)
                    .or_else(|| prefilled.get(&field.key))
                    .or(field.default.as_ref())
            };
            let given = given.filter(|v| !is_blank(v));
            let Some(given) = given else {
                if let Some((yes, no)) = &field.buttons {
                    // A decision is never taken by leaving it out.
                    errors.push(FieldError {
                        field: field.key.clone(),
                        message: format!("choose: {yes} or {no}"),
                    });
                } else if field.required {
                    errors.push(FieldError {
                        field: field.key.clone(),
                        message: format!("{} is required", field.label),
                    });
                }
                continue;
            };
            match field.check(given) {
                Ok(value) => {
                    values.insert(field.key.clone(), value);
                }
                Err(message) => errors.push(FieldError {
                    field: field.key.clone(),
                    message,
                }),
            }
        }
        if errors.is_empty() {
            Ok(values)
        } else {
            Err(errors)
        }
    }
}

fn is_blank(value: &Json) -> bool {
    match value {
        Json::Null => true,
        Json::String(s) => s.trim().is_empty(),
        Json::Array(a) => a.is_empty(),
        _ => false,
    }
}

fn number_of(value: &Json) -> Option<f64> {
    match value {
        Json::Number(n) => n.as_f64(),
        Json::String(s) => s.trim().replace([',', ' '], "").parse().ok(),
        _ => None,
    }
}

impl Field {
    /// One value: its type, then its limits. Gives the typed value.
    fn check(&self, value: &Json) -> Result<Json, String> {
        let typed = match &self.kind {
            FieldKind::Text | FieldKind::Textarea | FieldKind::Email | FieldKind::File => {
                let Json::String(text) = value else {
                    return Err("enter text".into());
                };
                let text = text.trim().to_string();
                let length = text.chars().count() as f64;
                if let Some(min) = self.min
                    && length < min
                {
                    return Err(format!("use at least {min} characters"));
                }
                if let Some(max) = self.max
                    && length > max
                {
                    return Err(format!("use at most {max} characters"));
                }
                if self.kind == FieldKind::Email && !looks_like_email(&text) {
                    return Err("enter an email address, like name@example.com".into());
                }
                Json::String(text)
            }
            FieldKind::Number | FieldKind::Money { .. } => {
                let Some(number) = number_of(value).filter(|n| n.is_finite()) else {
                    return Err("enter a number".into());
                };
                if let Some(min) = self.min
                    && number < min
                {
                    return Err(format!("enter {min} or more"));
                }
                if let Some(max) = self.max
                    && number > max
                {
                    return Err(format!("enter {max} or less"));
                }
                if matches!(self.kind, FieldKind::Money { .. })
                    && (number * 100.0).fract().abs() > 1e-6
                {
                    return Err("use at most two decimals".into());
                }
                serde_json::Number::from_f64(number)
                    .map(|n| {
                        if number.fract() == 0.0 && number.abs() < 9e15 {
                            Json::from(number as i64)
                        } else {
                            Json::Number(n)
                        }
                    })
                    .ok_or("enter a number")?
            }
            FieldKind::Date => {
                let Json::String(text) = value else {
                    return Err("enter a date, YYYY-MM-DD".into());
                };
                let text = text.trim();
                let date = text.get(..10).unwrap_or(text);
                if !valid_date(date) {
                    return Err(format!("`{text}` is not a date; use YYYY-MM-DD"));
                }
                Json::String(date.to_string())
            }
            FieldKind::Checkbox => match value {
                Json::Bool(b) => Json::Bool(*b),
                Json::String(s) if matches!(s.as_str(), "true" | "on" | "yes") => Json::Bool(true),
                Json::String(s) if matches!(s.as_str(), "false" | "off" | "no") => {
                    Json::Bool(false)
                }
                _ => return Err("tick or untick it".into()),
            },
            FieldKind::Choice { options, multiple } => {
                let chosen: Vec<&Json> = match (value, multiple) {
                    (Json::Array(items), true) => items.iter().collect(),
                    (Json::Array(_), false) => return Err("choose one option".into()),
                    (single, _) => vec![single],
                };
                for item in &chosen {
                    let text = match item {
                        Json::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    if !options.iter().any(|(v, _)| *v == text) {
                        let known: Vec<&str> = options.iter().map(|(_, l)| l.as_str()).collect();
                        return Err(format!("choose one of: {}", known.join(", ")));
                    }
                }
                value.clone()
            }
        };
        if let (Some(pattern), Json::String(text)) = (&self.pattern, &typed) {
            let matches = regex_lite::Regex::new(pattern)
                .map(|re| re.is_match(text))
                .unwrap_or(false);
            if !matches {
                return Err(match &self.description {
                    Some(description) => format!("does not have the expected form: {description}"),
                    None => format!("does not have the expected form ({pattern})"),
                });
            }
        }
        if let (Some(pattern), Json::Number(_)) = (&self.pattern, &typed) {
            let text = match value {
                Json::String(s) => s.trim().to_string(),
                other => other.to_string(),
            };
            if !regex_lite::Regex::new(pattern).is_ok_and(|re| re.is_match(&text)) {
                return Err(format!("does not have the expected form ({pattern})"));
            }
        }
        Ok(typed)
    }
}

fn looks_like_email(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !text.contains(char::is_whitespace)
}

fn valid_date(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    let [y, m, d] = parts.as_slice() else {
        return false;
    };
    let (Ok(y), Ok(m), Ok(d)) = (y.parse::<i32>(), m.parse::<u32>(), d.parse::<u32>()) else {
        return false;
    };
    if y.to_string().len() != 4 || !(1..=12).contains(&m) {
        return false;
    }
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    (1..=days).contains(&d)
}

/// The key a form is deployed under, from a `formKey` as models write it:
/// `waymark:request-training`, `camunda-forms:app:start-form.form`, `start-form`.
pub fn key_of(form_key: &str) -> &str {
    let key = form_key
        .strip_prefix("waymark:")
        .or_else(|| form_key.strip_prefix("camunda-forms:app:"))
        .or_else(|| form_key.strip_prefix("camunda-forms:deployment:"))
        .unwrap_or(form_key);
    key.strip_suffix(".form").unwrap_or(key)
}

impl Form {
    /// The values this form takes from what is known about `person` (their directory entry as a
    /// JSON object): each field whose `prefill` is `requester.FIELD`.
    pub fn prefill(&self, person: &Map<String, Json>) -> Map<String, Json> {
        self.fields
            .iter()
            .filter_map(|f| {
                let path = f.prefill.as_deref()?.strip_prefix("requester.")?;
                let value = person.get(path)?.clone();
                (!value.is_null()).then(|| (f.key.clone(), value))
            })
            .collect()
    }
}

/// Reads a Camunda Forms (form-js) schema. Unknown component types are errors named by their
/// JSON pointer; layout components (text, spacer, separator, button) are skipped.
pub fn from_form_js(id: &str, json: &Json) -> Result<Form, Vec<FieldError>> {
    let mut fields = Vec::new();
    let mut errors = Vec::new();
    let Some(components) = json.get("components").and_then(Json::as_array) else {
        return Err(vec![FieldError {
            field: "/components".into(),
            message: "a Camunda form lists its fields under `components`".into(),
        }]);
    };
    read_components(components, "/components", &mut fields, &mut errors);
    if errors.is_empty() {
        Ok(Form {
            id: id.to_string(),
            title: json.get("title").and_then(Json::as_str).map(str::to_string),
            fields,
        })
    } else {
        Err(errors)
    }
}

fn read_components(
    components: &[Json],
    pointer: &str,
    fields: &mut Vec<Field>,
    errors: &mut Vec<FieldError>,
) {
    for (i, component) in components.iter().enumerate() {
        let at = format!("{pointer}/{i}");
        let kind = component.get("type").and_then(Json::as_str).unwrap_or("");
        let kind = match kind {
            "textfield" => match component
                .pointer("/validate/validationType")
                .and_then(Json::as_str)
            {
                Some("email") => FieldKind::Email,
                _ => FieldKind::Text,
            },
            "textarea" => FieldKind::Textarea,
            "number" => FieldKind::Number,
            "datetime" => FieldKind::Date,
            "checkbox" => FieldKind::Checkbox,
            "filepicker" => FieldKind::File,
            "select" | "radio" | "checklist" | "taglist" => {
                let options = component
                    .get("values")
                    .and_then(Json::as_array)
                    .map(|values| {
                        values
                            .iter()
                            .filter_map(|v| {
                                let value = match v.get("value")? {
                                    Json::String(s) => s.clone(),
                                    other => other.to_string(),
                                };
                                let label = v
                                    .get("label")
                                    .and_then(Json::as_str)
                                    .unwrap_or(&value)
                                    .to_string();
                                Some((value, label))
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                FieldKind::Choice {
                    options,
                    multiple: matches!(kind, "checklist" | "taglist"),
                }
            }
            "group" | "dynamiclist" => {
                if let Some(children) = component.get("components").and_then(Json::as_array) {
                    read_components(children, &format!("{at}/components"), fields, errors);
                }
                continue;
            }
            "text" | "spacer" | "separator" | "button" | "image" | "html" | "iframe" => continue,
            other => {
                errors.push(FieldError {
                    field: format!("{at}/type"),
                    message: format!(
                        "`{other}` is not a form field Waymark knows; use textfield, textarea, number, datetime, select, radio, checklist, taglist, checkbox or filepicker"
                    ),
                });
                continue;
            }
        };
        let Some(key) = component.get("key").and_then(Json::as_str) else {
            errors.push(FieldError {
                field: format!("{at}/key"),
                message: "a field needs a `key`, the variable its value is stored in".into(),
            });
            continue;
        };
        if crate::engine::is_reserved(key) {
            errors.push(FieldError {
                field: format!("{at}/key"),
                message: format!(
                    "`{key}` is a variable Waymark sets itself; give the field another key"
                ),
            });
            continue;
        }
        let label = component
            .get("label")
            .and_then(Json::as_str)
            .unwrap_or(key)
            .to_string();
        let mut field = Field::new(key.to_string(), label, kind);
        field.description = component
            .get("description")
            .and_then(Json::as_str)
            .map(str::to_string);
        let validate = component.get("validate");
        let get = |name: &str| validate.and_then(|v| v.get(name));
        field.required = get("required").and_then(Json::as_bool).unwrap_or(false);
        field.min = get("min").or(get("minLength")).and_then(Json::as_f64);
        field.max = get("max").or(get("maxLength")).and_then(Json::as_f64);
        if let Some(pattern) = get("pattern").and_then(Json::as_str) {
            if regex_lite::Regex::new(pattern).is_err() {
                errors.push(FieldError {
                    field: format!("{at}/validate/pattern"),
                    message: format!("`{pattern}` is not a regular expression Waymark can use"),
                });
            }
            field.pattern = Some(pattern.to_string());
        }
        field.default = component.get("defaultValue").cloned();
        // form-js keeps custom settings under `properties`: `prefill` names what Waymark knows.
        field.prefill = component
            .pointer("/properties/prefill")
            .and_then(Json::as_str)
            .map(str::to_string);
        field.read_only = component
            .get("readonly")
            .and_then(Json::as_bool)
            .unwrap_or(false);
        if let Some(buttons) = component.pointer("/properties/buttons") {
            let labels: Vec<&str> = buttons
                .as_str()
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect();
            let refused = if field.read_only || component.pointer("/conditional").is_some() {
                Some("a decision by buttons is always shown and never read-only")
            } else if fields.iter().any(|f| f.buttons.is_some()) {
                Some("a form has one decision by buttons at most")
            } else {
                None
            };
            match (&field.kind, labels.as_slice()) {
                _ if refused.is_some() => errors.push(FieldError {
                    field: format!("{at}/properties/buttons"),
                    message: refused.unwrap_or_default().into(),
                }),
                (FieldKind::Checkbox, [yes, no]) => {
                    field.buttons = Some((yes.to_string(), no.to_string()));
                }
                (FieldKind::Checkbox, _) => errors.push(FieldError {
                    field: format!("{at}/properties/buttons"),
                    message: "give the two buttons' labels, the yes and then the no, e.g. \"Approve, Reject\"".into(),
                }),
                _ => errors.push(FieldError {
                    field: format!("{at}/properties/buttons"),
                    message: "only a checkbox (a yes or a no) can be decided by two buttons".into(),
                }),
            }
        }
        if let Some(hide) = component
            .pointer("/conditional/hide")
            .and_then(Json::as_str)
        {
            match Expr::parse(hide) {
                // form-js hides the field when the condition holds.
                Ok(expr) => {
                    match Expr::parse(&format!("=not({})", hide.trim().trim_start_matches('='))) {
                        Ok(shown) => field.visible_when = Some(shown),
                        Err(_) => field.visible_when = Some(expr),
                    }
                }
                Err(error) => errors.push(FieldError {
                    field: format!("{at}/conditional/hide"),
                    message: error.to_string(),
                }),
            }
        }
        fields.push(field);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(value: Json) -> Map<String, Json> {
        match value {
            Json::Object(map) => map,
            _ => Map::new(),
        }
    }

    fn training() -> Form {
        let mut fields = vec![
            Field::new("course".into(), "Course".into(), FieldKind::Text),
            Field::new(
                "cost".into(),
                "Cost".into(),
                FieldKind::Money {
                    currency: "EUR".into(),
                },
            ),
            Field::new("start".into(), "Start date".into(), FieldKind::Date),
            Field::new(
                "vendor_email".into(),
                "Vendor's email".into(),
                FieldKind::Email,
            ),
            Field::new(
                "new_vendor".into(),
                "A vendor we have not used".into(),
                FieldKind::Checkbox,
            ),
            Field::new("manager".into(), "Manager".into(), FieldKind::Text),
        ];
        fields[0].required = true;
        fields[1].required = true;
        fields[1].min = Some(0.0);
        fields[1].max = Some(10_000.0);
        fields[3].visible_when = Expr::parse("${new_vendor}").ok();
        fields[3].required = true;
        fields[5].read_only = true;
        fields[5].prefill = Some("requester.manager".into());
        Form {
            id: "request-training".into(),
            title: None,
            fields,
        }
    }

    #[test]
    fn a_valid_submission_comes_back_typed() {
        let values = training()
            .validate(
                &map(json!({ "course": " Negotiation ", "cost": "1,200.50", "start": "2026-12-01",
                    "new_vendor": "on", "vendor_email": "sales@academy.example", "manager": "someone else" })),
                &Map::new(),
                &map(json!({ "manager": "maria" })),
            )
            .expect("valid");
        assert_eq!(
            Json::Object(values),
            json!({ "course": "Negotiation", "cost": 1200.5, "start": "2026-12-01",
                "new_vendor": true, "vendor_email": "sales@academy.example", "manager": "maria" })
        );
    }

    #[test]
    fn every_problem_is_named_per_field_and_nothing_is_kept() {
        let errors = training()
            .validate(
                &map(
                    json!({ "cost": "lots", "start": "2026-02-30", "new_vendor": true,
                    "vendor_email": "not an address", "colour": "red" }),
                ),
                &Map::new(),
                &Map::new(),
            )
            .expect_err("invalid");
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["colour", "course", "cost", "start", "vendor_email"]
        );
        assert!(errors[1].message.contains("required"));
    }

    #[test]
    fn hidden_fields_are_not_required_and_not_kept() {
        let values = training()
            .validate(
                &map(json!({ "course": "Excel", "cost": 300, "vendor_email": "x" })),
                &Map::new(),
                &Map::new(),
            )
            .expect("valid: the vendor email is hidden");
        assert!(!values.contains_key("vendor_email"));
    }

    #[test]
    fn a_yes_or_no_can_be_two_buttons_and_a_mistake_is_named() {
        let form = |properties: Json, kind: &str| {
            from_form_js(
                "approve",
                &json!({ "components": [
                    { "type": kind, "key": "approved", "label": "I approve", "properties": properties }
                ] }),
            )
        };
        let approve = form(json!({ "buttons": "Approve, Reject" }), "checkbox").expect("valid");
        assert_eq!(
            approve.fields[0].buttons,
            Some(("Approve".to_string(), "Reject".to_string()))
        );
        let plain = form(json!({}), "checkbox").expect("valid");
        assert_eq!(plain.fields[0].buttons, None);
        // Left out, a decision is not taken: it is asked for.
        let errors = approve
            .validate(&Map::new(), &Map::new(), &Map::new())
            .expect_err("no decision");
        assert_eq!(errors[0].message, "choose: Approve or Reject");
        let twice = from_form_js(
            "approve",
            &json!({ "components": [
                { "type": "checkbox", "key": "a", "properties": { "buttons": "Yes, No" } },
                { "type": "checkbox", "key": "b", "properties": { "buttons": "Yes, No" } },
                { "type": "checkbox", "key": "c", "readonly": true, "properties": { "buttons": "Yes, No" } }
            ] }),
        )
        .expect_err("one decision, shown");
        assert_eq!(
            twice.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(),
            [
                "/components/1/properties/buttons",
                "/components/2/properties/buttons"
            ]
        );
        for (properties, kind, says) in [
            (
                json!({ "buttons": "Approve" }),
                "checkbox",
                "two buttons' labels",
            ),
            (
                json!({ "buttons": "A, B, C" }),
                "checkbox",
                "two buttons' labels",
            ),
            (json!({ "buttons": 3 }), "checkbox", "two buttons' labels"),
            (
                json!({ "buttons": "Yes, No" }),
                "textfield",
                "only a checkbox",
            ),
        ] {
            let errors = form(properties.clone(), kind).expect_err("refused");
            assert_eq!(
                errors[0].field, "/components/0/properties/buttons",
                "{properties}"
            );
            assert!(errors[0].message.contains(says), "{}", errors[0].message);
        }
    }
}
