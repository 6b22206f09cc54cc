//! Journeys as code.
//!
//! A journey file (YAML) describes one journey: its personas, its stages in order, and the
//! touchpoints in each stage, with the channel, owning department, target time, the experience the
//! customer should have, and the event rules that later put measured data on the map.
//!
//! - [`check`] reads a file and reports every problem with its line, column and a hint.
//! - [`write`] writes a [`Journey`] back as YAML that [`check`] reads to an equal journey.
//! - [`diff`] compares two versions and computes the customer-effort figures.
//! - [`template`] offers the universal stages to start a new journey from.
//!
//! This crate is pure: it never touches the file system or the network.

mod diag;
pub mod diff;
pub mod draft;
pub mod duration;
mod file;
pub mod kpi;
mod load;
mod model;
pub mod template;
mod write;

pub use diag::{Diagnostic, Location, Severity, did_you_mean, one_of};
pub use kpi::{Kpi, Measure};
pub use load::{Report, YamlKind, check, read_yaml, span_place};
pub use model::*;
pub use write::write;
