//! XES (IEEE 1849) reading and writing, streaming: the XML is never held in memory as a whole.

use std::borrow::Cow;
use std::io::{BufRead, Write};
use std::ops::ControlFlow;

use quick_xml::events::{BytesStart, Event};

use crate::builder::LogBuilder;
use crate::error::{Counting, Place, ReadError};
use crate::log::{
    Attribute, Classifier, EventLog, Extension, Micros, NO_TIME, Scope, Symbol, TIME_TIMESTAMP,
    Value,
};
use crate::{ReadOptions, ReadOutcome};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    Log,
    Global(Scope),
    Trace,
    Event,
}

/// An attribute element still open, collecting its children.
/// An attribute element's `key` and `value`, when present.
type KeyValue<'b> = (Option<Cow<'b, str>>, Option<Cow<'b, str>>);

struct Frame {
    attribute: Attribute,
    children: Vec<Attribute>,
}

struct Parser<'o> {
    options: &'o ReadOptions,
    builder: LogBuilder,
    context: Vec<Context>,
    frames: Vec<Frame>,
    log_attributes: Vec<Attribute>,
    global: Vec<Attribute>,
    trace_attributes: Vec<Attribute>,
    event_attributes: Vec<Attribute>,
    /// The events of the open trace, until its name is known at `</trace>`.
    trace_events: Vec<(Micros, Vec<Attribute>)>,
    /// The open trace's case, once its name is known.
    current_case: Option<u32>,
    traces: usize,
    skipped: usize,
    event_bad: Option<String>,
    time_key: Symbol,
    name_key: Symbol,
}

/// How a run of XML events ended.
struct Stop {
    message: String,
    hint: Option<String>,
    io: Option<std::io::Error>,
}

impl Stop {
    fn new(message: impl Into<String>) -> Self {
        Stop {
            message: message.into(),
            hint: None,
            io: None,
        }
    }

    fn hint(mut self, hint: &str) -> Self {
        self.hint = Some(hint.to_string());
        self
    }

    fn into_error(self, file: &str, place: Place) -> ReadError {
        match self.io {
            Some(io) => ReadError::io(file, Some(place), &io),
            None => {
                let error = ReadError::new(file, Some(place), self.message);
                match self.hint {
                    Some(hint) => error.with_hint(hint),
                    None => error,
                }
            }
        }
    }
}

impl<'o> Parser<'o> {
    fn new(options: &'o ReadOptions, context: Vec<Context>) -> Self {
        let mut builder = LogBuilder::new(options.activity_key.clone());
        let time_key = builder.intern(TIME_TIMESTAMP);
        let name_key = builder.intern(crate::log::CONCEPT_NAME);
        Parser {
            options,
            builder,
            context,
            frames: Vec::new(),
            log_attributes: Vec::new(),
            global: Vec::new(),
            trace_attributes: Vec::new(),
            event_attributes: Vec::new(),
            trace_events: Vec::new(),
            current_case: None,
            traces: 0,
            skipped: 0,
            event_bad: None,
            time_key,
            name_key,
        }
    }

    /// Feeds every XML event of `xml` until its end. Returns whether a `<log>` element opened.
    fn feed<R: BufRead>(&mut self, xml: &mut quick_xml::Reader<R>) -> Result<bool, Stop> {
        let mut buf = Vec::with_capacity(1024);
        let mut seen_log = false;
        loop {
            let event = xml.read_event_into(&mut buf).map_err(|error| match error {
                quick_xml::Error::Io(io) => Stop {
                    io: Some(std::io::Error::new(io.kind(), io.to_string())),
                    ..Stop::new("")
                },
                other => Stop::new(format!("the XML is malformed: {other}"))
                    .hint("check that every element is closed and attribute values are quoted"),
            })?;
            match event {
                Event::Start(start) => {
                    seen_log |= start.local_name().as_ref() == "log";
                    self.open(&start, false).map_err(Stop::new)?;
                }
                Event::Empty(start) => {
                    seen_log |= start.local_name().as_ref() == "log";
                    self.open(&start, true).map_err(Stop::new)?;
                }
                Event::End(end) => self.close(end.local_name().as_ref()).map_err(Stop::new)?,
                Event::Eof => return Ok(seen_log),
                _ => {}
            }
            buf.clear();
        }
    }

    /// The error for a document that ends while something is still open.
    fn unfinished(&self) -> Option<Stop> {
        let inside = match self.context.last()? {
            Context::Log => "<log>",
            Context::Global(_) => "<global>",
            Context::Trace => "<trace>",
            Context::Event => "<event>",
        };
        Some(
            Stop::new(format!(
                "the file ends inside {inside}: the XML is truncated"
            ))
            .hint("the file was probably cut off; get a complete copy"),
        )
    }

    fn finish(self) -> ReadOutcome {
        let Parser {
            mut builder,
            log_attributes,
            skipped,
            ..
        } = self;
        builder.meta.attributes = log_attributes;
        ReadOutcome {
            log: builder.finish(),
            skipped,
        }
    }
}

fn not_xes() -> Stop {
    Stop::new("this is not an XES log: there is no <log> element")
        .hint("an XES file starts with <log> after the XML declaration")
}

fn xml_reader<R: BufRead>(reader: R) -> quick_xml::Reader<R> {
    let mut xml = quick_xml::Reader::from_reader(reader);
    xml.config_mut().trim_text(true);
    xml
}

/// Reads an XES document. Large documents are parsed on several threads, a run of whole traces
/// each, and merged in file order; the result is the same as [`read_sequential`]'s.
pub fn read<R: BufRead>(reader: R, options: &ReadOptions) -> Result<ReadOutcome, ReadError> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if threads < 2 {
        return read_sequential(reader, options);
    }
    read_parallel(reader, options, CHUNK, threads)
}

/// Reads an XES document on the calling thread only.
pub fn read_sequential<R: BufRead>(
    reader: R,
    options: &ReadOptions,
) -> Result<ReadOutcome, ReadError> {
    let mut xml = xml_reader(Counting::new(reader));
    let mut parser = Parser::new(options, Vec::new());
    let result = parser.feed(&mut xml);
    let place = xml.get_ref().place();
    match result {
        Err(stop) => Err(stop.into_error(&options.file, place)),
        Ok(false) => Err(not_xes().into_error(&options.file, place)),
        Ok(true) => match parser.unfinished() {
            Some(stop) => Err(stop.into_error(&options.file, place)),
            None => Ok(parser.finish()),
        },
    }
}

/// The size of the pieces of XML handed to the parsing threads.
const CHUNK: usize = 4 << 20;

/// The line and column of byte `offset` of `bytes`, which starts on line `first_line`.
fn locate(bytes: &[u8], offset: usize, first_line: usize) -> Place {
    let offset = offset.min(bytes.len());
    let before = &bytes[..offset];
    let line = first_line + memchr::memchr_iter(b'\n', before).count();
    let column = offset - memchr::memrchr(b'\n', before).map_or(0, |p| p + 1) + 1;
    Place {
        line,
        column: Some(column),
    }
}

/// Where `needle` next occurs at or after `from`, outside comments and CDATA sections.
fn find_markup(bytes: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    let mut at = from;
    loop {
        let hit = memchr::memmem::find(&bytes[at..], needle)? + at;
        let comment = memchr::memmem::find(&bytes[at..hit], b"<!--").map(|p| (p + at, &b"-->"[..]));
        let cdata =
            memchr::memmem::find(&bytes[at..hit], b"<![CDATA[").map(|p| (p + at, &b"]]>"[..]));
        let skip = match (comment, cdata) {
            (Some(c), Some(d)) => Some(if c.0 < d.0 { c } else { d }),
            (c, d) => c.or(d),
        };
        match skip {
            None => return Some(hit),
            Some((open, close)) => {
                at = memchr::memmem::find(&bytes[open..], close)? + open + close.len()
            }
        }
    }
}

/// The end of the last `</trace>` in `bytes`, if any.
fn last_trace_end(bytes: &[u8]) -> Option<usize> {
    let mut end = None;
    let mut at = 0;
    while let Some(hit) = find_markup(bytes, at, b"</trace>") {
        at = hit + b"</trace>".len();
        end = Some(at);
    }
    end
}

/// Reads more of `reader` into `pending`, about `amount` bytes; returns true at the end.
fn read_more<R: BufRead>(
    reader: &mut R,
    pending: &mut Vec<u8>,
    amount: usize,
) -> std::io::Result<bool> {
    let target = pending.len() + amount;
    while pending.len() < target {
        let available = match reader.fill_buf() {
            Ok(available) => available,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        if available.is_empty() {
            return Ok(true);
        }
        let n = available.len().min(target - pending.len());
        pending.extend_from_slice(&available[..n]);
        reader.consume(n);
    }
    Ok(false)
}

type ChunkResult = Result<(LogBuilder, usize), ReadError>;

/// Where parsed runs of traces go: into one log, or each to the caller as a log of its own.
enum Sink<'a> {
    Whole,
    Pieces(&'a mut dyn FnMut(ReadOutcome) -> ControlFlow<()>),
}

/// Hands finished chunks on in file order; `waiting` holds those that finished early. False
/// when the caller wants no more pieces.
fn merge(
    parser: &mut Parser,
    sink: &mut Sink,
    index: usize,
    result: ChunkResult,
    merged: &mut usize,
    waiting: &mut std::collections::BTreeMap<usize, ChunkResult>,
) -> Result<bool, ReadError> {
    waiting.insert(index, result);
    while let Some(result) = waiting.remove(merged) {
        let (mut builder, skipped) = result?;
        *merged += 1;
        match sink {
            Sink::Whole => {
                parser.builder.append(builder);
                parser.skipped += skipped;
            }
            Sink::Pieces(piece) => {
                builder.meta.attributes = parser.log_attributes.clone();
                let outcome = ReadOutcome {
                    log: builder.finish(),
                    skipped,
                };
                if piece(outcome).is_break() {
                    return Ok(false);
                }
            }
        }
    }
    Ok(true)
}

/// Reads an XES document a piece at a time: `piece` is given each run of whole traces (about
/// 4 MB of XML) as a log of its own, in file order, while the following ones are parsed, so a
/// caller can store one piece while the next is read. Each trace is in exactly one piece
/// (two traces with the same name in different pieces are two cases there). On an error, the
/// pieces before it have been handed over. `piece` returns `Break` to stop reading.
pub fn read_pieces<R: BufRead>(
    reader: R,
    options: &ReadOptions,
    piece: &mut dyn FnMut(ReadOutcome) -> ControlFlow<()>,
) -> Result<(), ReadError> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    read_pieces_parallel(reader, options, CHUNK, threads.max(2), piece)
}

/// [`read_pieces`] with pieces of about `chunk` bytes parsed on `threads` threads; public so
/// tests can use tiny pieces.
pub fn read_pieces_parallel<R: BufRead>(
    reader: R,
    options: &ReadOptions,
    chunk: usize,
    threads: usize,
    piece: &mut dyn FnMut(ReadOutcome) -> ControlFlow<()>,
) -> Result<(), ReadError> {
    if let Some(last) = parallel(reader, options, chunk, threads, &mut Sink::Pieces(piece))? {
        let _ = piece(last);
    }
    Ok(())
}

/// Reads an XES document on `threads` threads, handing out pieces of about `chunk` bytes of whole
/// traces. [`read`] picks the sizes; this is public so tests can use tiny pieces.
pub fn read_parallel<R: BufRead>(
    reader: R,
    options: &ReadOptions,
    chunk: usize,
    threads: usize,
) -> Result<ReadOutcome, ReadError> {
    let outcome = parallel(reader, options, chunk, threads, &mut Sink::Whole)?;
    // A whole read is never stopped early.
    Ok(outcome.unwrap_or_else(|| ReadOutcome {
        log: LogBuilder::default().finish(),
        skipped: 0,
    }))
}

/// [`read_parallel`], handing parsed traces to `sink`. Returns the last traces read (in
/// [`Sink::Whole`] mode, all of them), or `None` when the sink stopped the reading.
fn parallel<R: BufRead>(
    mut reader: R,
    options: &ReadOptions,
    chunk: usize,
    threads: usize,
    sink: &mut Sink,
) -> Result<Option<ReadOutcome>, ReadError> {
    let file = options.file.as_str();
    let io = |error: std::io::Error, pending: &[u8], line: usize| {
        ReadError::io(file, Some(locate(pending, pending.len(), line)), &error)
    };
    // The head: everything before the first trace (the log's declarations and attributes).
    let mut pending = Vec::with_capacity(chunk * 2);
    let mut eof = false;
    let head_end = loop {
        if let Some(at) = find_markup(&pending, 0, b"<trace") {
            break Some(at);
        }
        if eof {
            break None;
        }
        eof = read_more(&mut reader, &mut pending, chunk).map_err(|e| io(e, &pending, 1))?;
    };
    let Some(head_end) = head_end else {
        // No trace at all: nothing to share out.
        return read_sequential(&pending[..], options).map(Some);
    };
    let mut parser = Parser::new(options, Vec::new());
    let mut xml = xml_reader(&pending[..head_end]);
    let head = parser.feed(&mut xml);
    if !matches!(head, Ok(true)) || parser.context != [Context::Log] || !parser.frames.is_empty() {
        // An unusual head (or an error in it): read everything on this thread, which reports
        // any error with its place.
        return read_sequential(std::io::Read::chain(&pending[..], reader), options).map(Some);
    }
    let mut line = 1 + memchr::memchr_iter(b'\n', &pending[..head_end]).count();
    pending.drain(..head_end);

    let (work, jobs) = std::sync::mpsc::sync_channel::<(usize, usize, Vec<u8>)>(threads);
    let jobs = std::sync::Mutex::new(jobs);
    let (done, results) = std::sync::mpsc::channel::<(usize, ChunkResult)>();
    std::thread::scope(|scope| -> Result<Option<ReadOutcome>, ReadError> {
        for _ in 0..threads {
            let (jobs, done) = (&jobs, done.clone());
            scope.spawn(move || {
                loop {
                    let job = match jobs.lock() {
                        Ok(guard) => guard.recv(),
                        Err(_) => return,
                    };
                    let Ok((index, first_line, bytes)) = job else {
                        return;
                    };
                    let mut parser = Parser::new(options, vec![Context::Log]);
                    let mut xml = xml_reader(&bytes[..]);
                    let outcome = match parser.feed(&mut xml) {
                        Ok(_) if parser.context == [Context::Log] => {
                            Ok((parser.builder, parser.skipped))
                        }
                        Ok(_) => Err(parser
                            .unfinished()
                            .unwrap_or_else(|| Stop::new("the XML is malformed"))
                            .into_error(file, locate(&bytes, bytes.len(), first_line))),
                        Err(stop) => {
                            let offset =
                                usize::try_from(xml.buffer_position()).unwrap_or(usize::MAX);
                            Err(stop.into_error(file, locate(&bytes, offset, first_line)))
                        }
                    };
                    if done.send((index, outcome)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(done);

        let mut sent = 0;
        let mut merged = 0;
        let mut waiting = std::collections::BTreeMap::new();
        loop {
            if !eof && pending.len() < chunk {
                let before = pending.len();
                eof = read_more(&mut reader, &mut pending, chunk)
                    .map_err(|e| io(e, &pending[..before], line))?;
            }
            match last_trace_end(&pending) {
                Some(cut) => {
                    let rest = pending.split_off(cut);
                    let piece = std::mem::replace(&mut pending, rest);
                    let lines = memchr::memchr_iter(b'\n', &piece).count();
                    if work.send((sent, line, piece)).is_err() {
                        break;
                    }
                    line += lines;
                    sent += 1;
                    // Merge what is ready, in file order, without waiting.
                    while let Ok((index, result)) = results.try_recv() {
                        if !merge(&mut parser, sink, index, result, &mut merged, &mut waiting)? {
                            return Ok(None);
                        }
                    }
                }
                None if eof => break,
                None => {
                    // No trace ends in what we have: read on.
                    let before = pending.len();
                    eof = read_more(&mut reader, &mut pending, chunk)
                        .map_err(|e| io(e, &pending[..before], line))?;
                }
            }
        }
        drop(work);
        while merged < sent {
            let Ok((index, result)) = results.recv() else {
                break;
            };
            if !merge(&mut parser, sink, index, result, &mut merged, &mut waiting)? {
                return Ok(None);
            }
        }
        // The tail: the last traces (if no cut was made at the end) and `</log>`. The reader
        // checks that end tags match, so it is told that `<log>` is open.
        const OPEN: &[u8] = b"<log>";
        parser.context.clear();
        let mut xml = xml_reader(std::io::Read::chain(OPEN, &pending[..]));
        let tail = parser.feed(&mut xml);
        let offset = usize::try_from(xml.buffer_position())
            .unwrap_or(usize::MAX)
            .saturating_sub(OPEN.len());
        match tail {
            Err(stop) => Err(stop.into_error(file, locate(&pending, offset, line))),
            Ok(_) => match parser.unfinished() {
                Some(stop) => Err(stop.into_error(file, locate(&pending, pending.len(), line))),
                None => Ok(Some(parser.finish())),
            },
        }
    })
}

/// The value of an element's XML attribute `name`, unescaped and normalised.
pub(crate) fn xml_attribute(start: &BytesStart, name: &str) -> Result<Option<String>, String> {
    for attribute in start.attributes().with_checks(false) {
        let attribute = attribute.map_err(|e| format!("a malformed XML attribute: {e}"))?;
        if attribute.key.local_name().as_ref() == name {
            let value = attribute
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map_err(|e| format!("a malformed value in `{name}`: {e}"))?;
            return Ok(Some(value.into_owned()));
        }
    }
    Ok(None)
}

fn attribute_type(name: &str) -> Option<&'static str> {
    Some(match name {
        "string" => "string",
        "date" => "date",
        "int" => "int",
        "float" => "float",
        "boolean" => "boolean",
        "id" => "id",
        "list" => "list",
        "container" => "container",
        _ => return None,
    })
}

impl Parser<'_> {
    /// The `key` and `value` of an attribute element, in one pass over its XML attributes.
    fn key_value<'b>(start: &'b BytesStart<'b>) -> Result<KeyValue<'b>, String> {
        let (mut key, mut value) = (None, None);
        for attribute in start.attributes().with_checks(false) {
            let attribute = attribute.map_err(|e| format!("a malformed XML attribute: {e}"))?;
            let slot = match attribute.key.local_name().as_ref() {
                "key" => &mut key,
                "value" => &mut value,
                _ => continue,
            };
            // Most values need neither unescaping nor whitespace normalisation: take them as they are.
            let raw = attribute.value.as_bytes();
            let plain = memchr::memchr3(b'&', b'\n', b'\t', raw).is_none()
                && memchr::memchr(b'\r', raw).is_none();
            *slot = Some(if plain {
                attribute.value
            } else {
                attribute
                    .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                    .map_err(|e| format!("a malformed attribute value: {e}"))?
            });
        }
        Ok((key, value))
    }

    fn open(&mut self, start: &BytesStart, empty: bool) -> Result<(), String> {
        let name = start.local_name();
        let name = name.as_ref();
        if let Some(kind) = attribute_type(name) {
            let (key, text) = Self::key_value(start)?;
            // Real logs have keyless attributes in their metadata; keep them under an empty key.
            let key = self.builder.intern(key.as_deref().unwrap_or(""));
            let value = match kind {
                "list" => Value::List,
                "container" => Value::Container,
                _ => {
                    let text = text.as_deref().unwrap_or("");
                    match self.value(kind, text) {
                        Ok(value) => value,
                        Err(message)
                            if self.options.lenient
                                && self.context.last() == Some(&Context::Event) =>
                        {
                            self.event_bad = Some(message);
                            Value::String(self.builder.intern(text))
                        }
                        Err(message) => return Err(message),
                    }
                }
            };
            let attribute = Attribute::new(key, value);
            if empty {
                self.attach(attribute);
            } else {
                self.frames.push(Frame {
                    attribute,
                    children: Vec::new(),
                });
            }
            return Ok(());
        }
        match name {
            "log" => self.context.push(Context::Log),
            "trace" => {
                self.context.push(Context::Trace);
                self.trace_attributes.clear();
                self.trace_events.clear();
                self.current_case = None;
            }
            "event" => {
                if self.current_case.is_none()
                    && self.trace_events.is_empty()
                    && self.context.last() == Some(&Context::Trace)
                {
                    // The trace's name usually comes before its events: from then on, events go
                    // straight into the log instead of waiting for `</trace>`.
                    if let Some(name) = self.trace_name() {
                        self.current_case = Some(self.builder.case(&name));
                    }
                }
                self.context.push(Context::Event);
                self.event_attributes.clear();
                self.event_bad = None;
            }
            "global" => {
                let scope = match xml_attribute(start, "scope")?.as_deref() {
                    Some("trace") => Scope::Trace,
                    _ => Scope::Event,
                };
                self.context.push(Context::Global(scope));
                self.global.clear();
            }
            "extension" => self.builder.meta.extensions.push(Extension {
                name: xml_attribute(start, "name")?.unwrap_or_default(),
                prefix: xml_attribute(start, "prefix")?.unwrap_or_default(),
                uri: xml_attribute(start, "uri")?.unwrap_or_default(),
            }),
            "classifier" => self.builder.meta.classifiers.push(Classifier {
                name: xml_attribute(start, "name")?.unwrap_or_default(),
                keys: xml_attribute(start, "keys")?
                    .unwrap_or_default()
                    .split_whitespace()
                    .map(str::to_string)
                    .collect(),
            }),
            // `<values>` wraps a list's items; the items attach to the list.
            _ => {}
        }
        if empty {
            // `<trace/>` or `<event/>` open and close at once.
            if matches!(name, "trace" | "event" | "global" | "log") {
                self.close(name)?;
            }
        }
        Ok(())
    }

    fn value(&mut self, kind: &str, text: &str) -> Result<Value, String> {
        Ok(match kind {
            "string" => Value::String(self.builder.intern(text)),
            "id" => Value::Id(self.builder.intern(text)),
            "int" => Value::Int(text.trim().parse().map_err(|_| format!("`{text}` is not an int"))?),
            "float" => Value::Float(text.trim().parse().map_err(|_| format!("`{text}` is not a float"))?),
            "boolean" => match text.trim().to_ascii_lowercase().as_str() {
                "true" => Value::Boolean(true),
                "false" => Value::Boolean(false),
                _ => return Err(format!("`{text}` is not a boolean (true or false)")),
            },
            "date" => Value::Date(
                crate::time::parse_iso8601(text.trim())
                    .ok_or_else(|| format!("`{text}` is not an XES date (expected ISO 8601, e.g. 2011-10-01T00:38:44.546+02:00)"))?,
            ),
            _ => Value::String(self.builder.intern(text)),
        })
    }

    /// Attaches a finished attribute to whatever encloses it.
    fn attach(&mut self, attribute: Attribute) {
        if let Some(frame) = self.frames.last_mut() {
            frame.children.push(attribute);
            return;
        }
        match self.context.last() {
            Some(Context::Event) => self.event_attributes.push(attribute),
            Some(Context::Trace) => self.trace_attributes.push(attribute),
            Some(Context::Global(_)) => self.global.push(attribute),
            Some(Context::Log) | None => self.log_attributes.push(attribute),
        }
    }

    fn close(&mut self, name: &str) -> Result<(), String> {
        if attribute_type(name).is_some() {
            if let Some(frame) = self.frames.pop() {
                let mut attribute = frame.attribute;
                if !frame.children.is_empty() {
                    attribute.children = Some(Box::new(frame.children));
                }
                self.attach(attribute);
            }
            return Ok(());
        }
        match name {
            "event" => {
                self.context.pop();
                if self.event_bad.take().is_some() {
                    // Only lenient reading gets here: the bad event is skipped and counted.
                    self.event_attributes.clear();
                    self.skipped += 1;
                    return Ok(());
                }
                let time = self
                    .event_attributes
                    .iter()
                    .find(|a| a.key == self.time_key)
                    .and_then(|a| match a.value {
                        Value::Date(micros) => Some(micros),
                        _ => None,
                    })
                    .unwrap_or(NO_TIME);
                if matches!(self.context.last(), Some(Context::Trace)) {
                    match self.current_case {
                        Some(case) => {
                            self.builder
                                .push_event(case, time, self.event_attributes.drain(..))
                        }
                        None => self
                            .trace_events
                            .push((time, std::mem::take(&mut self.event_attributes))),
                    }
                }
            }
            "trace" => {
                self.context.pop();
                self.traces += 1;
                // Traces with the same name are one case, as PM4Py reads them.
                let case = match self.current_case.take() {
                    Some(case) => case,
                    None => {
                        let name = self
                            .trace_name()
                            .unwrap_or_else(|| format!("trace {}", self.traces));
                        self.builder.case(&name)
                    }
                };
                for attribute in std::mem::take(&mut self.trace_attributes) {
                    self.builder.add_case_attribute(case, attribute);
                }
                for (time, attributes) in std::mem::take(&mut self.trace_events) {
                    self.builder.push_event(case, time, attributes);
                }
            }
            "global" => {
                if let Some(Context::Global(scope)) = self.context.pop() {
                    let attributes = std::mem::take(&mut self.global);
                    self.builder.meta.globals.push((scope, attributes));
                }
            }
            "log" => {
                self.context.pop();
            }
            _ => {}
        }
        Ok(())
    }

    fn trace_name(&self) -> Option<String> {
        self.trace_attributes
            .iter()
            .find(|a| a.key == self.name_key)
            .map(|a| match a.value {
                Value::String(s) | Value::Id(s) => self.builder.resolve(s).to_string(),
                _ => String::new(),
            })
    }
}

/// Writes a log as XES.
pub fn write<W: Write>(log: &EventLog, out: &mut W) -> std::io::Result<()> {
    writeln!(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>")?;
    writeln!(
        out,
        "<log xes.version=\"1849-2016\" xes.features=\"nested-attributes\" xmlns=\"http://www.xes-standard.org/\">"
    )?;
    for e in &log.meta.extensions {
        writeln!(
            out,
            "  <extension name=\"{}\" prefix=\"{}\" uri=\"{}\"/>",
            esc(&e.name),
            esc(&e.prefix),
            esc(&e.uri)
        )?;
    }
    for (scope, attributes) in &log.meta.globals {
        let scope = match scope {
            Scope::Trace => "trace",
            Scope::Event => "event",
        };
        writeln!(out, "  <global scope=\"{scope}\">")?;
        write_attributes(log, out, attributes, 2)?;
        writeln!(out, "  </global>")?;
    }
    for c in &log.meta.classifiers {
        writeln!(
            out,
            "  <classifier name=\"{}\" keys=\"{}\"/>",
            esc(&c.name),
            esc(&c.keys.join(" "))
        )?;
    }
    write_attributes(log, out, &log.meta.attributes, 1)?;
    for case in log.iter_cases() {
        writeln!(out, "  <trace>")?;
        write_attributes(log, out, case.attributes(), 2)?;
        for event in case.events() {
            writeln!(out, "    <event>")?;
            write_attributes(log, out, log.event_attributes(event), 3)?;
            writeln!(out, "    </event>")?;
        }
        writeln!(out, "  </trace>")?;
    }
    writeln!(out, "</log>")
}

fn write_attributes<W: Write>(
    log: &EventLog,
    out: &mut W,
    attributes: &[Attribute],
    depth: usize,
) -> std::io::Result<()> {
    let indent = "  ".repeat(depth);
    for attribute in attributes {
        let key = esc(log.resolve(attribute.key));
        let (tag, value) = match attribute.value {
            Value::String(_) => ("string", Some(log.value_text(&attribute.value))),
            Value::Id(_) => ("id", Some(log.value_text(&attribute.value))),
            Value::Date(_) => ("date", Some(log.value_text(&attribute.value))),
            Value::Int(_) => ("int", Some(log.value_text(&attribute.value))),
            Value::Float(_) => ("float", Some(log.value_text(&attribute.value))),
            Value::Boolean(_) => ("boolean", Some(log.value_text(&attribute.value))),
            Value::List => ("list", None),
            Value::Container => ("container", None),
        };
        let value = value
            .map(|v| format!(" value=\"{}\"", esc(&v)))
            .unwrap_or_default();
        let children = attribute.children();
        if children.is_empty() && !matches!(attribute.value, Value::List) {
            writeln!(out, "{indent}<{tag} key=\"{key}\"{value}/>")?;
        } else if matches!(attribute.value, Value::List) {
            writeln!(out, "{indent}<{tag} key=\"{key}\"><values>")?;
            write_attributes(log, out, children, depth + 1)?;
            writeln!(out, "{indent}</values></{tag}>")?;
        } else {
            writeln!(out, "{indent}<{tag} key=\"{key}\"{value}>")?;
            write_attributes(log, out, children, depth + 1)?;
            writeln!(out, "{indent}</{tag}>")?;
        }
    }
    Ok(())
}

/// Escapes text for XML attribute values.
pub(crate) fn esc(text: &str) -> std::borrow::Cow<'_, str> {
    quick_xml::escape::escape(text)
}
