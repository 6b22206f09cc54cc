//! Integration tests for process definitions.

mod bpmn;
mod training;
