//! Feeds arbitrary text to the expression reader in every dialect: it never panics, errors point
//! inside the text, and what it reads evaluates (or fails cleanly) on sample variables.
#![no_main]

use libfuzzer_sys::fuzz_target;
use waymark_workflow::expr::{Dialect, Expr};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let variables = serde_json::json!({ "approved": true, "amount": 1200, "decision": "yes",
        "nested": { "value": 3.5 }, "empty": "" });
    let Some(variables) = variables.as_object() else {
        return;
    };
    for dialect in [Dialect::Plain, Dialect::XPath] {
        match Expr::parse_in(text, dialect) {
            Ok(expr) => {
                let _ = expr.eval(variables);
                let _ = expr.test(variables);
                let _ = expr.variables();
            }
            Err(error) => assert!(
                error.column >= 1 && error.column <= text.len() + 1,
                "{error}"
            ),
        }
    }
});
