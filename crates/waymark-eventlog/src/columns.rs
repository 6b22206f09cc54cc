//! Writing a log's columns directly, case by case, for sources that already hold their events
//! grouped by case and ordered by time (a live log kept in memory): no arrival-order buffer and
//! no sort, unlike [`crate::LogBuilder`].

use crate::log::{
    ActivityKey, Attribute, EventLog, LogMeta, Micros, Strings, Symbol, Value, new_strings,
};

/// Anything that interns strings: a log being built, or an [`Interner`].
pub trait Intern {
    fn intern(&mut self, text: &str) -> Symbol;
}

impl Intern for crate::LogBuilder {
    fn intern(&mut self, text: &str) -> Symbol {
        crate::LogBuilder::intern(self, text)
    }
}

impl Intern for Interner {
    fn intern(&mut self, text: &str) -> Symbol {
        self.strings.get_or_intern(text)
    }
}

/// Interned strings that outlive any one log: a source interns as events arrive, and each log it
/// writes starts from a copy, so the symbols it holds stay valid in the log.
#[derive(Debug, Clone)]
pub struct Interner {
    strings: Strings,
}

impl Default for Interner {
    fn default() -> Self {
        Interner {
            strings: new_strings(),
        }
    }
}

impl Interner {
    pub fn get(&self, text: &str) -> Option<Symbol> {
        self.strings.get(text)
    }

    pub fn resolve(&self, symbol: Symbol) -> &str {
        self.strings.resolve(&symbol)
    }

    pub fn string(&mut self, text: &str) -> Value {
        Value::String(Intern::intern(self, text))
    }

    /// The strings in the order they were interned (a symbol's index is its place here).
    pub fn strings(&self) -> impl Iterator<Item = &str> {
        self.strings.strings()
    }

    /// A symbol's place in [`Interner::strings`].
    pub fn index(symbol: Symbol) -> usize {
        use lasso::Key as _;
        symbol.into_usize()
    }

    /// How many strings are interned.
    pub fn len(&self) -> usize {
        self.strings.len()
    }

    pub fn is_empty(&self) -> bool {
        self.strings.is_empty()
    }

    /// The bytes the strings take (their text, not the table around it).
    pub fn text_bytes(&self) -> usize {
        self.strings.strings().map(str::len).sum()
    }
}

/// Interned strings shared with the last log written from them: that log's own strings, and
/// the strings interned since. A source that writes a log now and then (a live log) holds each
/// string once, in the log, instead of once there and once in an interner of its own.
#[derive(Debug)]
pub struct SharedInterner {
    /// The last log written, whose strings come first: symbols below `offset` are its own.
    base: std::sync::Arc<EventLog>,
    offset: usize,
    /// Strings interned since, symbol `offset + i` for the `i`-th.
    fresh: Strings,
}

impl Default for SharedInterner {
    fn default() -> Self {
        SharedInterner {
            base: std::sync::Arc::new(
                CaseWriter::new(Interner::default(), ActivityKey::default()).finish(),
            ),
            offset: 0,
            fresh: new_strings(),
        }
    }
}

impl Intern for SharedInterner {
    fn intern(&mut self, text: &str) -> Symbol {
        use lasso::Key as _;
        if let Some(symbol) = self.base.strings.get(text) {
            return symbol;
        }
        let index = self.fresh.get_or_intern(text).into_usize();
        Symbol::try_from_usize(self.offset + index).unwrap_or_else(|| {
            // lasso's own limit (u32::MAX - 1 strings) is reached before this one.
            panic!("more strings than a log can hold")
        })
    }
}

impl SharedInterner {
    pub fn string(&mut self, text: &str) -> Value {
        Value::String(Intern::intern(self, text))
    }

    pub fn resolve(&self, symbol: Symbol) -> &str {
        use lasso::Key as _;
        let index = symbol.into_usize();
        if index < self.offset {
            return self.base.strings.resolve(&symbol);
        }
        Symbol::try_from_usize(index - self.offset)
            .and_then(|fresh| self.fresh.try_resolve(&fresh))
            .unwrap_or("")
    }

    /// Every string, symbols unchanged, to write the next log from.
    pub fn to_interner(&self) -> Interner {
        let mut strings = self.base.strings.clone();
        for text in self.fresh.strings() {
            strings.get_or_intern(text);
        }
        Interner { strings }
    }

    /// Shares the strings of `log`, written from [`SharedInterner::to_interner`] (it holds every
    /// string interned so far), from now on.
    pub fn rebase(&mut self, log: std::sync::Arc<EventLog>) {
        debug_assert_eq!(log.strings.len(), self.offset + self.fresh.len());
        self.offset = log.strings.len();
        self.base = log;
        self.fresh = new_strings();
    }

    /// The bytes of the strings held apart from the last log (interned since it was written),
    /// text and table.
    pub fn fresh_bytes(&self) -> usize {
        self.fresh.strings().map(|s| s.len() + 16).sum()
    }
}

/// Writes a log case by case: [`CaseWriter::case`], then its events in time order.
#[derive(Debug)]
pub struct CaseWriter {
    log: EventLog,
}

impl CaseWriter {
    /// A writer whose symbols are `strings`' (every symbol given later must come from it).
    /// Activities are given with each event, so the key only records what they were made of.
    pub fn new(strings: Interner, activity_key: ActivityKey) -> Self {
        CaseWriter {
            log: EventLog {
                strings: strings.strings,
                activity: Vec::new(),
                time: Vec::new(),
                attr_start: Vec::new(),
                attributes: Vec::new(),
                case_start: vec![0],
                case_name: Vec::new(),
                case_attr_start: vec![0],
                case_attributes: Vec::new(),
                activity_key,
                meta: LogMeta::default(),
            },
        }
    }

    /// Room for `cases` cases and `events` events.
    pub fn reserve(&mut self, cases: usize, events: usize) {
        let log = &mut self.log;
        log.activity.reserve(events);
        log.time.reserve(events);
        log.attr_start.reserve(events);
        log.case_start.reserve(cases);
        log.case_name.reserve(cases);
        log.case_attr_start.reserve(cases);
    }

    /// Starts the next case; the events pushed after it are its own.
    pub fn case(&mut self, name: Symbol, attributes: impl IntoIterator<Item = Attribute>) {
        let log = &mut self.log;
        log.case_name.push(name);
        log.case_attributes.extend(attributes);
        log.case_attr_start.push(log.case_attributes.len() as u32);
        log.case_start.push(log.activity.len() as u32);
    }

    /// Adds an event to the case begun last. Events of a case come in time order.
    pub fn event(
        &mut self,
        time: Micros,
        activity: Symbol,
        attributes: impl IntoIterator<Item = Attribute>,
    ) {
        let log = &mut self.log;
        debug_assert!(!log.case_name.is_empty(), "an event before any case");
        debug_assert!(
            log.case_start[log.case_start.len() - 2] as usize == log.time.len()
                || log.time.last().is_none_or(|&last| last <= time),
            "events of a case come in time order"
        );
        log.attr_start.push(log.attributes.len() as u32);
        log.attributes.extend(attributes);
        log.activity.push(activity);
        log.time.push(time);
        if let Some(end) = log.case_start.last_mut() {
            *end += 1;
        }
    }

    pub fn finish(self) -> EventLog {
        self.log
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_log_equals_the_built_one() {
        let mut strings = Interner::default();
        let (a, b, k) = (
            strings.intern("A"),
            strings.intern("B"),
            strings.intern("k"),
        );
        let (c1, c2) = (strings.intern("c1"), strings.intern("c2"));
        let mut writer = CaseWriter::new(strings.clone(), ActivityKey::default());
        writer.case(c1, [Attribute::new(k, Value::Int(1))]);
        writer.event(1, a, [Attribute::new(k, Value::Int(2))]);
        writer.event(2, b, []);
        writer.case(c2, []);
        writer.case(c1, []);
        writer.event(5, b, [Attribute::new(k, Value::Boolean(true))]);
        let log = writer.finish();
        assert_eq!(log.cases(), 3);
        assert_eq!(log.events(), 3);
        assert_eq!(log.case(0).events(), 0..2);
        assert_eq!(log.case(1).events(), 2..2);
        assert_eq!(log.case(2).events(), 2..3);
        assert_eq!(log.case(0).name(), "c1");
        assert_eq!(log.case(0).attributes().len(), 1);
        assert!(log.case(1).attributes().is_empty());
        assert_eq!(log.event_attributes(0).len(), 1);
        assert!(log.event_attributes(1).is_empty());
        assert_eq!(log.event_attributes(2)[0].value, Value::Boolean(true));
        assert_eq!(log.resolve(log.activity_column()[2]), "B");
        assert_eq!(log.time_column(), &[1, 2, 5]);
    }
}
