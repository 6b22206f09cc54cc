//! The workflow engine behind automated journeys.
//!
//! A process is what runs behind a to-be journey: one form, approvals routed across departments,
//! notifications, timers and escalations. This crate reads definitions (BPMN 2.0 XML from other
//! tools, and Waymark's own YAML), checks that they can be executed, and holds the expressions
//! they route on. The state machine is pure; it advances an instance only inside a store
//! transaction supplied by the caller.

pub mod bpmn;
pub mod check;
pub mod definition;
pub mod engine;
pub mod expr;
pub mod forms;
pub mod model;
pub mod yaml;

pub use definition::{Format, Imported, Unreadable, import};
pub use model::*;
