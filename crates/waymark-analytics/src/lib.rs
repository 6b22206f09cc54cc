//! Analyses over event logs and journeys (planned; see ARCHITECTURE.md).
//!
//! Directly-follows graphs, variants, durations, funnels and conformance of measured paths against
//! the designed journey. A pure library: it never does IO.
