//! A process definition file, whichever format it is written in: BPMN 2.0 XML from other tools,
//! or Waymark's own YAML.

use waymark_journey::{Diagnostic, Location};

use crate::model::Process;

/// The two formats a definition can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Bpmn,
    Yaml,
}

impl Format {
    /// Which format a file's text is in: XML starts with `<` (after blanks and a byte-order
    /// mark); everything else is read as YAML.
    pub fn of(text: &str) -> Format {
        if text
            .trim_start_matches('\u{feff}')
            .trim_start()
            .starts_with('<')
        {
            Format::Bpmn
        } else {
            Format::Yaml
        }
    }

    /// The name kept with a deployed version.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Bpmn => "bpmn",
            Format::Yaml => "yaml",
        }
    }
}

/// Reads a definition in either format.
pub fn import(text: &str) -> Result<Imported, Unreadable> {
    match Format::of(text) {
        Format::Bpmn => crate::bpmn::import(text),
        Format::Yaml => crate::yaml::import(text),
    }
}

/// A file that is not a process definition at all (exit code 2 of `waymark process check`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{location}: {message}")]
pub struct Unreadable {
    pub location: Location,
    pub message: String,
}

/// What a definition file holds: its processes and every problem found.
#[derive(Debug, Clone, Default)]
pub struct Imported {
    pub processes: Vec<Process>,
    /// Processes marked `isExecutable="false"` (or not marked), by id: read, but not to be run.
    pub not_executable: Vec<String>,
    pub diagnostics: Vec<Diagnostic>,
}

impl Imported {
    pub fn has_errors(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity == waymark_journey::Severity::Error)
    }

    /// Whether the file can be deployed and run: no errors, and a process to run.
    pub fn executable(&self) -> bool {
        !self.has_errors() && !self.processes.is_empty()
    }
}
