//! The event-log engine (planned; see ARCHITECTURE.md).
//!
//! It will read XES, CSV, Segment JSON Lines and OCEL 2.0 into an in-memory columnar log in which
//! each case is a contiguous, timestamp-ordered range of events. It never knows about HTTP or SQL.
