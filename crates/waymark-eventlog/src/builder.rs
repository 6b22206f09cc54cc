//! Building a log from events that arrive in any order.

use std::collections::HashMap;

use crate::log::{
    ActivityKey, Attribute, EventLog, LogMeta, Micros, Strings, Symbol, Value, activity_symbol,
    new_strings,
};

/// Collects events, then orders them into cases in [`LogBuilder::finish`].
///
/// Cases keep the order in which they first appear. Within a case, events are sorted by timestamp
/// with a stable sort, so ties keep their arrival order.
#[derive(Debug)]
pub struct LogBuilder {
    strings: Strings,
    activity_key: ActivityKey,
    case_lookup: HashMap<Symbol, u32>,
    case_name: Vec<Symbol>,
    case_attributes: Vec<Vec<Attribute>>,
    /// Per event, in arrival order.
    event_case: Vec<u32>,
    event_time: Vec<Micros>,
    event_activity: Vec<Symbol>,
    event_attr_start: Vec<u32>,
    attributes: Vec<Attribute>,
    pub meta: LogMeta,
}

impl Default for LogBuilder {
    fn default() -> Self {
        Self::new(ActivityKey::default())
    }
}

impl LogBuilder {
    pub fn new(activity_key: ActivityKey) -> Self {
        LogBuilder {
            strings: new_strings(),
            activity_key,
            case_lookup: HashMap::new(),
            case_name: Vec::new(),
            case_attributes: Vec::new(),
            event_case: Vec::new(),
            event_time: Vec::new(),
            event_activity: Vec::new(),
            event_attr_start: Vec::new(),
            attributes: Vec::new(),
            meta: LogMeta::default(),
        }
    }

    pub fn intern(&mut self, text: &str) -> Symbol {
        self.strings.get_or_intern(text)
    }

    pub fn resolve(&self, symbol: Symbol) -> &str {
        self.strings.resolve(&symbol)
    }

    pub fn string(&mut self, text: &str) -> Value {
        Value::String(self.intern(text))
    }

    /// The case with this name, created (without attributes) on first use.
    pub fn case(&mut self, name: &str) -> u32 {
        let symbol = self.strings.get_or_intern(name);
        if let Some(&index) = self.case_lookup.get(&symbol) {
            return index;
        }
        let index = self.case_name.len() as u32;
        self.case_lookup.insert(symbol, index);
        self.case_name.push(symbol);
        self.case_attributes.push(Vec::new());
        index
    }

    /// The case with this name, if there is one.
    pub fn find_case(&self, name: &str) -> Option<u32> {
        let symbol = self.strings.get(name)?;
        self.case_lookup.get(&symbol).copied()
    }

    /// A new case, even if another case has the same name (XES traces are distinct even when
    /// their names repeat).
    pub fn new_case(&mut self, name: &str) -> u32 {
        let symbol = self.strings.get_or_intern(name);
        let index = self.case_name.len() as u32;
        self.case_lookup.entry(symbol).or_insert(index);
        self.case_name.push(symbol);
        self.case_attributes.push(Vec::new());
        index
    }

    pub fn set_case_attributes(&mut self, case: u32, attributes: Vec<Attribute>) {
        self.case_attributes[case as usize] = attributes;
    }

    pub fn add_case_attribute(&mut self, case: u32, attribute: Attribute) {
        let list = &mut self.case_attributes[case as usize];
        if let Some(existing) = list.iter_mut().find(|a| a.key == attribute.key) {
            *existing = attribute;
        } else {
            list.push(attribute);
        }
    }

    /// Adds an event to a case. Its activity comes from the activity key's attributes.
    pub fn push_event(
        &mut self,
        case: u32,
        time: Micros,
        attributes: impl IntoIterator<Item = Attribute>,
    ) {
        let start = self.attributes.len();
        self.attributes.extend(attributes);
        let activity = activity_symbol(
            &mut self.strings,
            &self.activity_key,
            &self.attributes[start..],
        );
        self.event_case.push(case);
        self.event_time.push(time);
        self.event_activity.push(activity);
        self.event_attr_start.push(start as u32);
    }

    /// Adds an event whose activity is already known and that has no other attributes (generated
    /// data, columnar sources).
    pub fn push_activity(&mut self, case: u32, time: Micros, activity: Symbol) {
        self.event_case.push(case);
        self.event_time.push(time);
        self.event_activity.push(activity);
        self.event_attr_start.push(self.attributes.len() as u32);
    }

    /// Appends another builder's cases and events, as if they had been added here after the
    /// events already present. Cases with the same name become one case.
    pub fn append(&mut self, other: LogBuilder) {
        use lasso::Key;
        let mut symbols = vec![None; other.strings.len() + 1];
        for (symbol, text) in other.strings.iter() {
            let index = symbol.into_usize();
            if index >= symbols.len() {
                symbols.resize(index + 1, None);
            }
            symbols[index] = Some(self.strings.get_or_intern(text));
        }
        let map = |symbol: Symbol| {
            symbols
                .get(symbol.into_usize())
                .copied()
                .flatten()
                .unwrap_or(symbol)
        };
        let mut cases = Vec::with_capacity(other.case_name.len());
        for (name, attributes) in other.case_name.iter().zip(&other.case_attributes) {
            let name = self.strings.resolve(&map(*name)).to_string();
            let case = self.case(&name);
            for attribute in attributes {
                self.add_case_attribute(case, attribute.remapped(&map));
            }
            cases.push(case);
        }
        for event in 0..other.event_case.len() {
            let from = other.event_attr_start[event] as usize;
            let to = other
                .event_attr_start
                .get(event + 1)
                .map_or(other.attributes.len(), |&x| x as usize);
            self.event_attr_start.push(self.attributes.len() as u32);
            self.attributes
                .extend(other.attributes[from..to].iter().map(|a| a.remapped(&map)));
            self.event_case
                .push(cases[other.event_case[event] as usize]);
            self.event_time.push(other.event_time[event]);
            self.event_activity.push(map(other.event_activity[event]));
        }
    }

    pub fn events(&self) -> usize {
        self.event_case.len()
    }

    /// Orders the events into cases and returns the log. Cases without events are kept (a trace
    /// may be empty).
    pub fn finish(self) -> EventLog {
        let cases = self.case_name.len();
        let events = self.event_case.len();
        // Counting sort by case keeps arrival order within each case.
        let mut case_start = vec![0u32; cases + 1];
        for &case in &self.event_case {
            case_start[case as usize + 1] += 1;
        }
        for i in 0..cases {
            case_start[i + 1] += case_start[i];
        }
        let mut order = vec![0u32; events];
        let mut next = case_start.clone();
        for (event, &case) in self.event_case.iter().enumerate() {
            order[next[case as usize] as usize] = event as u32;
            next[case as usize] += 1;
        }
        // Stable sort by time inside each case.
        for case in 0..cases {
            let range = case_start[case] as usize..case_start[case + 1] as usize;
            let slice = &mut order[range];
            if !slice
                .windows(2)
                .all(|w| self.event_time[w[0] as usize] <= self.event_time[w[1] as usize])
            {
                slice.sort_by_key(|&e| self.event_time[e as usize]);
            }
        }
        // Lay out the columns and the attribute arena in the final order.
        let mut activity = Vec::with_capacity(events);
        let mut time = Vec::with_capacity(events);
        let mut attr_start = Vec::with_capacity(events);
        let in_order = order.iter().enumerate().all(|(i, &e)| i == e as usize);
        let attributes = if in_order {
            attr_start.extend_from_slice(&self.event_attr_start);
            self.attributes
        } else {
            let mut arranged = Vec::with_capacity(self.attributes.len());
            for &e in &order {
                let e = e as usize;
                let from = self.event_attr_start[e] as usize;
                let to = self
                    .event_attr_start
                    .get(e + 1)
                    .map_or(self.attributes.len(), |&x| x as usize);
                attr_start.push(arranged.len() as u32);
                arranged.extend_from_slice(&self.attributes[from..to]);
            }
            arranged
        };
        for &e in &order {
            activity.push(self.event_activity[e as usize]);
            time.push(self.event_time[e as usize]);
        }
        let mut case_attr_start = Vec::with_capacity(cases + 1);
        let mut case_attributes = Vec::new();
        for list in self.case_attributes {
            case_attr_start.push(case_attributes.len() as u32);
            case_attributes.extend(list);
        }
        case_attr_start.push(case_attributes.len() as u32);
        EventLog {
            strings: self.strings,
            activity,
            time,
            attr_start,
            attributes,
            case_start,
            case_name: self.case_name,
            case_attr_start,
            case_attributes,
            activity_key: self.activity_key,
            meta: self.meta,
        }
    }
}
