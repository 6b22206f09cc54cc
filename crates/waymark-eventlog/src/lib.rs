//! The event-log engine: reading logs into an in-memory columnar [`EventLog`] and writing them.
//!
//! - [`read_path`] reads XES (`.xes`, `.xes.gz`), CSV, Segment JSON Lines and OCEL 2.0 (JSON, XML;
//!   flattened on one object type), detecting the format from the name and gzip from the content.
//! - [`EventLog`] holds interned strings, an activity and a timestamp per event, and each case as
//!   a contiguous, stably time-ordered range of events.
//! - [`xes::write`], [`csv::write`] and [`parquet::write`] export.
//!
//! The readers take any `BufRead`, so callers can wrap the file (a progress bar, a network
//! stream); only [`open`] and [`read_path`] touch the file system.

mod builder;
mod columns;
pub mod csv;
mod error;
pub mod jsonl;
mod log;
pub mod ocel;
pub mod parquet;
mod stamps;
mod synthetic;
pub mod time;
pub mod xes;

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

pub use builder::LogBuilder;
pub use columns::{CaseWriter, Intern, Interner, SharedInterner};
pub use error::{Counting, Place, ReadError};
pub use log::*;
pub use stamps::Stamps;
pub use synthetic::synthetic_journeys;

/// A log file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Xes,
    Csv,
    Jsonl,
    /// OCEL 2.0 JSON, flattened on [`ReadOptions::object_type`].
    OcelJson,
    /// OCEL 2.0 XML, flattened on [`ReadOptions::object_type`].
    OcelXml,
}

impl Format {
    /// The format a file name implies (`.gz` looked through).
    pub fn from_path(path: &Path) -> Option<Format> {
        let name = path.file_name()?.to_str()?.to_ascii_lowercase();
        let name = name.strip_suffix(".gz").unwrap_or(&name);
        if name.ends_with(".jsonocel") || name.ends_with(".ocel.json") {
            Some(Format::OcelJson)
        } else if name.ends_with(".xmlocel") || name.ends_with(".ocel.xml") {
            Some(Format::OcelXml)
        } else if name.ends_with(".xes") || name.ends_with(".xml") {
            Some(Format::Xes)
        } else if name.ends_with(".csv") || name.ends_with(".tsv") || name.ends_with(".txt") {
            Some(Format::Csv)
        } else if name.ends_with(".jsonl") || name.ends_with(".ndjson") || name.ends_with(".json") {
            Some(Format::Jsonl)
        } else {
            None
        }
    }
}

/// How to read a log.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// The file name used in error messages.
    pub file: String,
    /// Which attributes name an activity (a classifier).
    pub activity_key: ActivityKey,
    /// Skip bad events and count them, instead of stopping at the first.
    pub lenient: bool,
    /// CSV column mapping.
    pub columns: csv::Columns,
    /// OCEL: the object type whose objects become the cases.
    pub object_type: Option<String>,
    /// The most bytes to read, after decompression: a file beyond it is refused with an error
    /// that says so (a server's bound on what one upload may unpack to). `None`: no bound.
    pub max_bytes: Option<u64>,
}

/// A reader that gives at most `left` bytes and then fails (rather than ending), so a file
/// beyond the bound is refused instead of silently cut.
struct Capped<R> {
    inner: R,
    left: u64,
    limit: u64,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => Err(std::io::Error::other(format!(
                    "the file unpacks to more than {} MiB, the most one import may hold; import it with `waymark import FILE --db DB` beside the server, or split it",
                    self.limit / (1024 * 1024)
                ))),
            };
        }
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        self.left -= n as u64;
        Ok(n)
    }
}

/// A log and how many bad events were skipped (only with [`ReadOptions::lenient`]).
#[derive(Debug)]
pub struct ReadOutcome {
    pub log: EventLog,
    pub skipped: usize,
}

/// Reads a log in the given format from any reader; gzip is detected from the first bytes.
///
/// A compressed log is decompressed on a second thread while the first one parses, so reading
/// takes about as long as the slower of the two rather than their sum.
pub fn read<R: Read + Send>(
    reader: R,
    format: Format,
    options: &ReadOptions,
) -> Result<ReadOutcome, ReadError> {
    decompressed(reader, options.max_bytes, |plain| {
        read_plain(plain, format, options)
    })
}

/// Reads a log a piece at a time, like [`read`]: an XES log in runs of whole traces (see
/// [`xes::read_pieces`]), so the caller can work on one piece while the next is parsed; the
/// other formats, whose cases may be spread over the whole file, in one piece. `piece`
/// returns `Break` to stop reading.
pub fn read_pieces<R: Read + Send>(
    reader: R,
    format: Format,
    options: &ReadOptions,
    piece: &mut dyn FnMut(ReadOutcome) -> std::ops::ControlFlow<()>,
) -> Result<(), ReadError> {
    decompressed(reader, options.max_bytes, |plain| match format {
        Format::Xes => xes::read_pieces(plain, options, piece),
        _ => {
            let _ = piece(read_plain(plain, format, options)?);
            Ok(())
        }
    })
}

/// Runs `read` on the plain bytes of `reader`: decompressed on a second thread when they are
/// gzip, so reading takes about as long as the slower of the two rather than their sum.
fn decompressed<R: Read + Send, T>(
    reader: R,
    max_bytes: Option<u64>,
    read: impl FnOnce(&mut dyn BufRead) -> T,
) -> T {
    let mut buffered = BufReader::with_capacity(256 * 1024, reader);
    let gzip = buffered
        .fill_buf()
        .map(|b| b.starts_with(&[0x1f, 0x8b]))
        .unwrap_or(false);
    if !gzip {
        return match max_bytes {
            Some(limit) => read(&mut BufReader::with_capacity(
                256 * 1024,
                Capped {
                    inner: buffered,
                    left: limit,
                    limit,
                },
            )),
            None => read(&mut buffered),
        };
    }
    std::thread::scope(|scope| {
        let (chunks, received) = std::sync::mpsc::sync_channel::<std::io::Result<Vec<u8>>>(8);
        let (recycle, recycled) = std::sync::mpsc::channel::<Vec<u8>>();
        scope.spawn(move || {
            let mut decoder = Capped {
                inner: flate2::bufread::MultiGzDecoder::new(buffered),
                left: max_bytes.unwrap_or(u64::MAX),
                limit: max_bytes.unwrap_or(u64::MAX),
            };
            loop {
                let mut chunk = recycled.try_recv().unwrap_or_default();
                match fill(&mut decoder, &mut chunk) {
                    Ok(0) => return,
                    Ok(_) => {
                        if chunks.send(Ok(chunk)).is_err() {
                            return;
                        }
                    }
                    Err(error) => {
                        let _ = chunks.send(Err(error));
                        return;
                    }
                }
            }
        });
        let mut reader = Chunks {
            received,
            recycle,
            current: Vec::new(),
            position: 0,
        };
        read(&mut reader)
    })
}

const CHUNK: usize = 1 << 20;

/// Fills `chunk` with up to [`CHUNK`] bytes; returns how many (0 at the end).
fn fill<R: Read>(reader: &mut R, chunk: &mut Vec<u8>) -> std::io::Result<usize> {
    chunk.resize(CHUNK, 0);
    let mut filled = 0;
    while filled < CHUNK {
        match reader.read(&mut chunk[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) => {
                chunk.truncate(filled);
                return Err(error);
            }
        }
    }
    chunk.truncate(filled);
    Ok(filled)
}

/// Reads the chunks another thread decompressed, handing the used buffers back.
struct Chunks {
    received: std::sync::mpsc::Receiver<std::io::Result<Vec<u8>>>,
    recycle: std::sync::mpsc::Sender<Vec<u8>>,
    current: Vec<u8>,
    position: usize,
}

impl Read for Chunks {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for Chunks {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        if self.position >= self.current.len() {
            match self.received.recv() {
                Ok(Ok(chunk)) => {
                    let used = std::mem::replace(&mut self.current, chunk);
                    let _ = self.recycle.send(used);
                    self.position = 0;
                }
                Ok(Err(error)) => return Err(error),
                // The decompressing thread is done: the end of the data.
                Err(_) => return Ok(&[]),
            }
        }
        Ok(&self.current[self.position..])
    }

    fn consume(&mut self, amount: usize) {
        self.position = (self.position + amount).min(self.current.len());
    }
}

fn read_plain<R: BufRead>(
    reader: R,
    format: Format,
    options: &ReadOptions,
) -> Result<ReadOutcome, ReadError> {
    match format {
        Format::Xes => xes::read(reader, options),
        Format::Csv => csv::read(reader, options),
        Format::Jsonl => jsonl::read(reader, options),
        Format::OcelJson => ocel::read_json(reader, options),
        Format::OcelXml => ocel::read_xml(reader, options),
    }
}

/// Opens and reads a log file; the format comes from its name unless given.
pub fn read_path(
    path: &Path,
    format: Option<Format>,
    options: &ReadOptions,
) -> Result<ReadOutcome, ReadError> {
    let mut options = options.clone();
    if options.file.is_empty() {
        options.file = path.display().to_string();
    }
    let format = format.or_else(|| Format::from_path(path)).ok_or_else(|| {
        ReadError::new(
            &options.file,
            None,
            "cannot tell the log format from the file name",
        )
        .with_hint(
            "name it .xes, .xes.gz, .csv, .jsonl, .ocel.json or .ocel.xml, or pass --log-format",
        )
    })?;
    let file = open(path, &options.file)?;
    read(file, format, &options)
}

/// Opens a file, with an error that names it.
pub fn open(path: &Path, name: &str) -> Result<File, ReadError> {
    File::open(path).map_err(|e| ReadError::new(name, None, format!("cannot open: {e}")))
}
