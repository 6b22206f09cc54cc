//! Integration tests for process definitions.

mod bpmn;
mod forms;
mod training;
