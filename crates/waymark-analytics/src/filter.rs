//! Selecting the cases an analysis looks at.

use waymark_eventlog::{EventLog, Micros, NO_TIME};

use crate::case_seconds;

/// Which cases to keep. Every condition that is set must hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    /// Keep cases whose first event is at or after this time.
    pub from: Option<Micros>,
    /// Keep cases whose first event is before this time.
    pub to: Option<Micros>,
    /// Keep cases with this case attribute value (compared as text).
    pub case_attribute: Option<(String, String)>,
    /// Keep cases that contain every one of these activities.
    pub contains: Vec<String>,
    /// Keep cases that contain none of these activities.
    pub lacks: Vec<String>,
    pub min_duration_seconds: Option<f64>,
    pub max_duration_seconds: Option<f64>,
    /// After the other conditions, keep only the cases of the k most frequent variants.
    pub top_variants: Option<usize>,
}

impl Filter {
    pub fn is_empty(&self) -> bool {
        *self == Filter::default()
    }

    /// The cases of `log` that pass, in log order.
    pub fn select(&self, log: &EventLog) -> Vec<u32> {
        let contains: Option<Vec<_>> = self.contains.iter().map(|a| log.symbol(a)).collect();
        let lacks: Vec<_> = self.lacks.iter().filter_map(|a| log.symbol(a)).collect();
        let Some(contains) = contains else {
            // An activity that never occurs cannot be contained.
            return Vec::new();
        };
        let mut selected: Vec<u32> = log
            .iter_cases()
            .filter(|case| {
                let times = case.times();
                let first = times.iter().copied().find(|&t| t != NO_TIME);
                if let Some(from) = self.from
                    && first.is_none_or(|t| t < from)
                {
                    return false;
                }
                if let Some(to) = self.to
                    && first.is_none_or(|t| t >= to)
                {
                    return false;
                }
                if let Some((key, value)) = &self.case_attribute {
                    match case.attribute(key) {
                        Some(attribute) if log.value_text(&attribute.value) == *value => {}
                        _ => return false,
                    }
                }
                let activities = case.activities();
                if !contains.iter().all(|a| activities.contains(a))
                    || lacks.iter().any(|a| activities.contains(a))
                {
                    return false;
                }
                if self.min_duration_seconds.is_some() || self.max_duration_seconds.is_some() {
                    let seconds = case_seconds(times).unwrap_or(0.0);
                    if self.min_duration_seconds.is_some_and(|min| seconds < min)
                        || self.max_duration_seconds.is_some_and(|max| seconds > max)
                    {
                        return false;
                    }
                }
                true
            })
            .map(|case| case.index() as u32)
            .collect();
        if let Some(k) = self.top_variants {
            let variants = crate::variants(log, &selected);
            let mut keep: Vec<u32> = variants.into_iter().take(k).flat_map(|v| v.cases).collect();
            keep.sort_unstable();
            selected = keep;
        }
        selected
    }
}
