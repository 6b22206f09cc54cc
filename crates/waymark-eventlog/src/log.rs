//! The in-memory columnar event log.
//!
//! - Strings (activities, case names, attribute keys and string values) are interned once.
//! - Events are stored column by column: activity symbol, timestamp (µs since the Unix epoch,
//!   UTC) and the range of their attributes in a shared arena. That is 18 bytes per event,
//!   attributes not counted.
//! - Each case is a contiguous range of events ordered by timestamp; the sort is stable, so
//!   events with equal timestamps keep their order in the file.

use lasso::{Rodeo, Spur};

/// The string interner, with a fast non-cryptographic hash (the strings come from files, not from
/// adversaries across a network boundary; the server will bound what it accepts).
pub(crate) type Strings = Rodeo<Spur, foldhash::fast::RandomState>;

pub(crate) fn new_strings() -> Strings {
    Rodeo::with_hasher(foldhash::fast::RandomState::default())
}

/// An interned string.
pub type Symbol = Spur;

/// Timestamps are microseconds since 1970-01-01T00:00:00Z. An event without one has [`NO_TIME`].
pub type Micros = i64;

/// The timestamp of an event that has none. It sorts before every real timestamp.
pub const NO_TIME: Micros = i64::MIN;

/// A typed attribute value, as XES defines the types.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    String(Symbol),
    Date(Micros),
    Int(i64),
    Float(f64),
    Boolean(bool),
    Id(Symbol),
    /// An ordered list; the items are the attribute's children.
    List,
    /// A container; the entries are the attribute's children.
    Container,
}

/// One attribute: a key, a value, and nested attributes (XES allows nesting under any attribute).
#[derive(Debug, Clone, PartialEq)]
pub struct Attribute {
    pub key: Symbol,
    pub value: Value,
    /// Boxed twice so an attribute without children (nearly all) stays 32 bytes.
    pub children: Option<Box<Vec<Attribute>>>,
}

impl Attribute {
    pub fn new(key: Symbol, value: Value) -> Self {
        Attribute {
            key,
            value,
            children: None,
        }
    }

    pub fn children(&self) -> &[Attribute] {
        self.children.as_deref().map_or(&[], Vec::as_slice)
    }

    /// The same attribute with its symbols (key, string values, children's) mapped, e.g. into
    /// another log's strings.
    pub fn remapped(&self, map: &dyn Fn(Symbol) -> Symbol) -> Attribute {
        Attribute {
            key: map(self.key),
            value: match self.value {
                Value::String(s) => Value::String(map(s)),
                Value::Id(s) => Value::Id(map(s)),
                other => other,
            },
            children: self
                .children
                .as_ref()
                .map(|children| Box::new(children.iter().map(|c| c.remapped(map)).collect())),
        }
    }
}

/// An XES extension declaration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extension {
    pub name: String,
    pub prefix: String,
    pub uri: String,
}

/// An XES classifier: a name and the attribute keys whose values, joined, name an activity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classifier {
    pub name: String,
    pub keys: Vec<String>,
}

/// Where global attribute defaults apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Trace,
    Event,
}

/// What a log says about itself (XES header), kept for faithful export.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogMeta {
    pub extensions: Vec<Extension>,
    pub globals: Vec<(Scope, Vec<Attribute>)>,
    pub classifiers: Vec<Classifier>,
    pub attributes: Vec<Attribute>,
}

/// The attribute keys whose values name an activity, e.g. `concept:name` or
/// `concept:name+lifecycle:transition`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityKey(pub Vec<String>);

impl ActivityKey {
    /// `concept:name`, the XES standard.
    pub fn concept_name() -> Self {
        ActivityKey(vec![CONCEPT_NAME.to_string()])
    }

    /// Parses `concept:name+lifecycle:transition`.
    pub fn parse(text: &str) -> Self {
        ActivityKey(
            text.split('+')
                .map(|k| k.trim().to_string())
                .filter(|k| !k.is_empty())
                .collect(),
        )
    }
}

impl Default for ActivityKey {
    fn default() -> Self {
        Self::concept_name()
    }
}

pub const CONCEPT_NAME: &str = "concept:name";
pub const TIME_TIMESTAMP: &str = "time:timestamp";

/// An event log: cases of timestamp-ordered events.
#[derive(Debug)]
pub struct EventLog {
    pub(crate) strings: Strings,
    /// Per event: its activity.
    pub(crate) activity: Vec<Symbol>,
    /// Per event: its timestamp.
    pub(crate) time: Vec<Micros>,
    /// Per event: the start of its attributes in `attributes`; the end is the next event's start.
    pub(crate) attr_start: Vec<u32>,
    pub(crate) attributes: Vec<Attribute>,
    /// Per case: its first event; one more entry holds the number of events.
    pub(crate) case_start: Vec<u32>,
    pub(crate) case_name: Vec<Symbol>,
    /// Per case: the start of its attributes in `case_attributes`, plus a final end.
    pub(crate) case_attr_start: Vec<u32>,
    pub(crate) case_attributes: Vec<Attribute>,
    pub(crate) activity_key: ActivityKey,
    pub meta: LogMeta,
}

/// One case of a log, borrowed.
#[derive(Debug, Clone, Copy)]
pub struct Case<'a> {
    log: &'a EventLog,
    index: usize,
}

impl<'a> Case<'a> {
    pub fn index(&self) -> usize {
        self.index
    }

    pub fn name(&self) -> &'a str {
        self.log.resolve(self.log.case_name[self.index])
    }

    /// The range of this case's events in the log's event columns.
    pub fn events(&self) -> std::ops::Range<usize> {
        self.log.case_start[self.index] as usize..self.log.case_start[self.index + 1] as usize
    }

    pub fn activities(&self) -> &'a [Symbol] {
        &self.log.activity[self.events()]
    }

    pub fn times(&self) -> &'a [Micros] {
        &self.log.time[self.events()]
    }

    pub fn attributes(&self) -> &'a [Attribute] {
        let start = self.log.case_attr_start[self.index] as usize;
        let end = self.log.case_attr_start[self.index + 1] as usize;
        &self.log.case_attributes[start..end]
    }

    /// A case attribute by key.
    pub fn attribute(&self, key: &str) -> Option<&'a Attribute> {
        let key = self.log.strings.get(key)?;
        self.attributes().iter().find(|a| a.key == key)
    }

    pub fn len(&self) -> usize {
        self.events().len()
    }

    pub fn is_empty(&self) -> bool {
        self.events().is_empty()
    }
}

impl EventLog {
    pub fn events(&self) -> usize {
        self.activity.len()
    }

    pub fn cases(&self) -> usize {
        self.case_name.len()
    }

    pub fn case(&self, index: usize) -> Case<'_> {
        Case { log: self, index }
    }

    pub fn iter_cases(&self) -> impl ExactSizeIterator<Item = Case<'_>> + '_ {
        (0..self.cases()).map(move |index| Case { log: self, index })
    }

    pub fn resolve(&self, symbol: Symbol) -> &str {
        self.strings.resolve(&symbol)
    }

    /// The symbol of a string, if the log contains it.
    pub fn symbol(&self, text: &str) -> Option<Symbol> {
        self.strings.get(text)
    }

    /// All event activities, in log order (cases contiguous, each ordered by time).
    pub fn activity_column(&self) -> &[Symbol] {
        &self.activity
    }

    pub fn time_column(&self) -> &[Micros] {
        &self.time
    }

    /// The case boundaries: case `i` holds events `case_starts()[i]..case_starts()[i + 1]`.
    pub fn case_starts(&self) -> &[u32] {
        &self.case_start
    }

    pub fn event_attributes(&self, event: usize) -> &[Attribute] {
        let start = self.attr_start[event] as usize;
        let end = self
            .attr_start
            .get(event + 1)
            .map_or(self.attributes.len(), |&e| e as usize);
        &self.attributes[start..end]
    }

    pub fn activity_key(&self) -> &ActivityKey {
        &self.activity_key
    }

    /// Recomputes every event's activity from another key, e.g. a classifier.
    pub fn set_activity_key(&mut self, key: ActivityKey) {
        for event in 0..self.events() {
            let start = self.attr_start[event] as usize;
            let end = self
                .attr_start
                .get(event + 1)
                .map_or(self.attributes.len(), |&e| e as usize);
            self.activity[event] =
                activity_symbol(&mut self.strings, &key, &self.attributes[start..end]);
        }
        self.activity_key = key;
    }

    /// The bytes the event columns take, attributes not counted.
    pub fn bytes_per_event(&self) -> usize {
        std::mem::size_of::<Symbol>() + std::mem::size_of::<Micros>() + std::mem::size_of::<u32>()
    }

    /// The memory the log holds, in bytes, about: its columns, attributes and strings.
    /// Of [`EventLog::heap_bytes`], the bytes its event and case attributes take.
    pub fn attribute_bytes(&self) -> usize {
        (self.attributes.capacity() + self.case_attributes.capacity())
            * std::mem::size_of::<Attribute>()
    }

    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        self.activity.capacity() * size_of::<Symbol>()
            + self.time.capacity() * size_of::<Micros>()
            + self.attr_start.capacity() * size_of::<u32>()
            + (self.attributes.capacity() + self.case_attributes.capacity())
                * size_of::<Attribute>()
            + (self.case_start.capacity() + self.case_attr_start.capacity()) * size_of::<u32>()
            + self.case_name.capacity() * size_of::<Symbol>()
            + self.strings.strings().map(|s| s.len() + 16).sum::<usize>()
    }

    /// The attribute value as text, the way XES writes it.
    pub fn value_text(&self, value: &Value) -> String {
        match value {
            Value::String(s) | Value::Id(s) => self.resolve(*s).to_string(),
            Value::Date(micros) => crate::time::format_micros(*micros),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => crate::time::format_float(*f),
            Value::Boolean(b) => b.to_string(),
            Value::List => "list".to_string(),
            Value::Container => "container".to_string(),
        }
    }
}

/// The activity of an event: the key attributes' values, joined by `+`. An event without any of
/// them has an empty activity. With one string-valued key (the usual case) this allocates nothing.
pub(crate) fn activity_symbol(
    strings: &mut Strings,
    key: &ActivityKey,
    attributes: &[Attribute],
) -> Symbol {
    let find = |strings: &Strings, k: &str| {
        let symbol = strings.get(k)?;
        attributes.iter().find(|a| a.key == symbol)
    };
    if let [only] = key.0.as_slice()
        && let Some(Attribute {
            value: Value::String(s) | Value::Id(s),
            ..
        }) = find(strings, only)
    {
        return *s;
    }
    let mut parts: Vec<String> = Vec::with_capacity(key.0.len());
    for k in &key.0 {
        if let Some(attribute) = find(strings, k) {
            parts.push(match attribute.value {
                Value::String(s) | Value::Id(s) => strings.resolve(&s).to_string(),
                Value::Date(m) => crate::time::format_micros(m),
                Value::Int(i) => i.to_string(),
                Value::Float(f) => crate::time::format_float(f),
                Value::Boolean(b) => b.to_string(),
                Value::List | Value::Container => String::new(),
            });
        }
    }
    strings.get_or_intern(parts.join("+"))
}
