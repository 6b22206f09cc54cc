//! Values written into statements and rows, so that no text from an event or a file can change
//! a statement: string literals are hex (`unhex('…')`), rows are TabSeparated with ClickHouse's
//! escapes.

use std::fmt::Write as _;

/// A string literal that holds any text, bytes included: `unhex('48690a')`.
pub(crate) fn literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2 + 9);
    out.push_str("unhex('");
    for byte in text.as_bytes() {
        let _ = write!(out, "{byte:02x}");
    }
    out.push_str("')");
    out
}

/// An array literal of strings: `[unhex('61'), unhex('62')]`.
pub(crate) fn array(texts: &[String]) -> String {
    let items: Vec<String> = texts.iter().map(|t| literal(t)).collect();
    format!("[{}]", items.join(", "))
}

/// A tuple of strings for `IN`: `(unhex('61'), unhex('62'))`.
pub(crate) fn tuple(texts: &[String]) -> String {
    let items: Vec<String> = texts.iter().map(|t| literal(t)).collect();
    format!("({})", items.join(", "))
}

/// Appends `text` as one TabSeparated field.
pub(crate) fn field(out: &mut Vec<u8>, text: &str) {
    for &byte in text.as_bytes() {
        match byte {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            0 => out.extend_from_slice(b"\\0"),
            other => out.push(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_and_fields_escape_everything() {
        assert_eq!(literal("a'b"), "unhex('612762')");
        assert_eq!(literal(""), "unhex('')");
        let mut out = Vec::new();
        field(&mut out, "a\tb\nc\\d\0");
        assert_eq!(out, b"a\\tb\\nc\\\\d\\0");
    }
}
