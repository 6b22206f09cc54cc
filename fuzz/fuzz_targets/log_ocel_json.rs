//! Feeds arbitrary bytes to the OCEL 2.0 JSON reader (see `common/log.rs` for what is checked).
#![no_main]

#[path = "common/log.rs"]
mod log;

libfuzzer_sys::fuzz_target!(|data: &[u8]| log::check(data, waymark_eventlog::Format::OcelJson));
