//! Stamps: which person each case of a log is, and when the person's events last changed, so that
//! what was computed on one reading of a growing log can be kept for the people it did not touch.

/// The stamps of one log's cases.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stamps {
    /// The series of logs the stamps come from: person ids and generations mean something only
    /// within one series (one live log, from its first reading).
    pub lineage: u64,
    /// The reading (snapshot) the log is: it grows by one at each.
    pub generation: u64,
    /// Per case: the person's id, stable across the readings of one lineage.
    pub person: Vec<u32>,
    /// Per case: the generation in which the person's events (or their case's name or
    /// attributes) last changed.
    pub changed: Vec<u64>,
}

impl Stamps {
    /// Whether case `case` is unchanged since generation `since`.
    pub fn unchanged_since(&self, case: usize, since: u64) -> bool {
        self.changed.get(case).is_some_and(|&at| at <= since)
    }
}
