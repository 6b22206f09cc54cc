//! Problems found in a journey file, each with its place, a plain-language message and a hint.

use std::fmt::{self, Write as _};

/// How serious a problem is. Both make `waymark journey lint` exit 1; only errors stop a journey
/// from being loaded, rendered or compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// A 1-based line and column in the journey file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Location {
    pub line: usize,
    pub column: usize,
}

impl Location {
    /// The start of the file, for problems with no better place.
    pub const START: Location = Location { line: 1, column: 1 };
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// One problem in a journey file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// A stable, kebab-case name for the kind of problem, e.g. `unknown-channel`.
    pub code: &'static str,
    pub location: Location,
    /// What is wrong, in words a non-programmer understands.
    pub message: String,
    /// How to fix it.
    pub hint: Option<String>,
}

impl Diagnostic {
    pub fn error(code: &'static str, location: Location, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            code,
            location,
            message: message.into(),
            hint: None,
        }
    }

    pub fn warning(code: &'static str, location: Location, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            code,
            location,
            message: message.into(),
            hint: None,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Renders the problem the way compilers do: `file:line:column: severity[code]: message`,
    /// then the offending source line with a caret under the column, then the hint.
    pub fn render(&self, file: &str, source: &str) -> String {
        let mut out = format!(
            "{file}:{}: {}[{}]: {}\n",
            self.location,
            self.severity.as_str(),
            self.code,
            self.message
        );
        if let Some(line) = source.lines().nth(self.location.line.saturating_sub(1)) {
            let number = self.location.line.to_string();
            let pad = " ".repeat(number.len());
            let indent: String = line
                .chars()
                .take(self.location.column.saturating_sub(1))
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            let _ = writeln!(out, "{pad} |\n{number} | {line}\n{pad} | {indent}^");
        }
        if let Some(hint) = &self.hint {
            let _ = writeln!(out, "  = hint: {hint}");
        }
        out
    }
}

/// The known value closest to `given`, if one is close enough to be a likely typo.
pub fn did_you_mean<'a>(given: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let given = given.to_lowercase();
    known
        .into_iter()
        .map(|candidate| {
            (
                strsim::jaro_winkler(&given, &candidate.to_lowercase()),
                candidate,
            )
        })
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, candidate)| candidate)
}

/// "`a`, `b` or `c`".
pub fn one_of(values: &[&str]) -> String {
    let quoted: Vec<String> = values.iter().map(|value| format!("`{value}`")).collect();
    match quoted.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}
