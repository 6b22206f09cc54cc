//! Analyses over event logs: the directly-follows graph, variants, case durations and funnels,
//! on all cases or on a filtered selection.
//!
//! Every analysis takes the log and the cases to look at ([`all_cases`] or [`Filter::select`]).
//! Results use the log's symbols; callers resolve them to names. This crate never does IO.
//!
//! Times are the differences of event timestamps in seconds, as PM4Py computes them; medians and
//! percentiles follow NumPy.

pub mod alerts;
pub mod compare;
mod dfg;
pub mod discover;
mod filter;
mod funnel;
pub mod journey;
pub mod stats;
mod variants;

pub use dfg::{ActivityCount, Dfg, Edge, dfg};
pub use filter::Filter;
pub use funnel::{Funnel, FunnelBuilder, FunnelGroup, FunnelOrder, FunnelStep, funnel, funnel_by};
pub use stats::Summary;
pub use variants::{Variant, case_durations, variants};

use waymark_eventlog::{EventLog, Micros, NO_TIME};

/// Every case of the log, in log order.
pub fn all_cases(log: &EventLog) -> Vec<u32> {
    (0..log.cases() as u32).collect()
}

/// Seconds between two timestamps.
pub(crate) fn seconds(from: Micros, to: Micros) -> f64 {
    (to - from) as f64 / 1e6
}

/// The duration of a case in seconds: last minus first timestamp (0 for one event).
pub(crate) fn case_seconds(times: &[Micros]) -> Option<f64> {
    case_micros(times).map(|d| seconds(0, d))
}

/// A case's duration in microseconds: its last timestamp minus its first known one (none when
/// no event has a time).
pub fn case_micros(times: &[Micros]) -> Option<Micros> {
    let first = *times.iter().find(|&&t| t != NO_TIME)?;
    let last = *times.last()?;
    Some(last.wrapping_sub(first))
}

/// A dense index for each activity symbol, so analyses can use arrays instead of hash maps.
pub(crate) struct Dense {
    /// Indexed by symbol: the dense activity index, or `u32::MAX`.
    index: Vec<u32>,
    /// Indexed by dense index: the symbol.
    pub symbols: Vec<waymark_eventlog::Symbol>,
}

impl Dense {
    pub fn new(log: &EventLog) -> Dense {
        use lasso::Key;
        let mut index: Vec<u32> = Vec::new();
        let mut symbols = Vec::new();
        for &symbol in log.activity_column() {
            let key = symbol.into_usize();
            if key >= index.len() {
                index.resize(key + 1, u32::MAX);
            }
            if index[key] == u32::MAX {
                index[key] = symbols.len() as u32;
                symbols.push(symbol);
            }
        }
        Dense { index, symbols }
    }

    #[inline]
    pub fn of(&self, symbol: waymark_eventlog::Symbol) -> usize {
        use lasso::Key;
        self.index[symbol.into_usize()] as usize
    }

    pub fn len(&self) -> usize {
        self.symbols.len()
    }
}
