//! Integration tests for process definitions.

mod bpmn;
mod engine;
mod forms;
mod training;
