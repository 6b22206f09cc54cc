//! The workflow engine behind automated journeys (planned; see ARCHITECTURE.md).
//!
//! Process definitions (native YAML and BPMN 2.0), forms, tasks, timers and messages. The state
//! machine is pure; it advances an instance only inside a store transaction supplied by the caller.
