//! The HTTP server (planned; see ARCHITECTURE.md).
//!
//! Segment-compatible collection API, customer 360, journey performance API and the web app. Built
//! as `fn app(state) -> Router` so tests need no socket. The only crate that knows the wire format.
