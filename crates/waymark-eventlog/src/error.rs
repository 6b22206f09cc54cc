//! Errors from reading and writing logs: each names the file, the place and what was expected.

use std::fmt;
use std::io::{self, BufRead, Read};

/// A place in a file: 1-based line, and column when known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Place {
    pub line: usize,
    pub column: Option<usize>,
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.column {
            Some(column) => write!(f, "{}:{column}", self.line),
            None => write!(f, "{}", self.line),
        }
    }
}

impl Place {
    /// Where byte `offset` of `text` is (clamped to its end), counted as [`Counting`] counts.
    pub fn at(text: &[u8], offset: usize) -> Place {
        let mut position = Position::start();
        position.advance(&text[..offset.min(text.len())]);
        position.place()
    }
}

/// A log could not be read (or written).
#[derive(Debug, thiserror::Error)]
pub struct ReadError {
    pub file: String,
    pub place: Option<Place>,
    pub message: String,
    pub hint: Option<String>,
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(place) = self.place {
            write!(f, ":{place}")?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, " (hint: {hint})")?;
        }
        Ok(())
    }
}

impl ReadError {
    pub fn new(file: &str, place: Option<Place>, message: impl Into<String>) -> Self {
        ReadError {
            file: file.to_string(),
            place,
            message: message.into(),
            hint: None,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// An IO error while reading, worded for people: a truncated or corrupt compressed file says so.
    pub fn io(file: &str, place: Option<Place>, error: &io::Error) -> Self {
        let text = error.to_string();
        let compressed = text.contains("deflate")
            || text.contains("gzip")
            || text.contains("invalid gzip header");
        if error.kind() == io::ErrorKind::UnexpectedEof || compressed {
            return ReadError::new(
                file,
                place,
                format!("the compressed data is truncated or corrupt ({text})"),
            )
            .with_hint(
                "the file was probably cut off while copying or downloading; get a complete copy",
            );
        }
        ReadError::new(file, place, format!("cannot read: {text}"))
    }
}

/// A `BufRead` that counts the lines and columns of what has been consumed, so that parsers
/// reading from it can say where something went wrong.
#[derive(Debug)]
pub struct Counting<R> {
    inner: R,
    position: Position,
}

/// How far into a stream we are.
#[derive(Debug, Clone, Copy)]
struct Position {
    line: usize,
    column: usize,
    bytes: u64,
}

impl Position {
    fn start() -> Self {
        Position {
            line: 1,
            column: 1,
            bytes: 0,
        }
    }

    fn place(&self) -> Place {
        Place {
            line: self.line,
            column: Some(self.column),
        }
    }

    /// Moves past `consumed`.
    fn advance(&mut self, consumed: &[u8]) {
        self.bytes += consumed.len() as u64;
        match memchr::memrchr(b'\n', consumed) {
            Some(last) => {
                self.line += memchr::memchr_iter(b'\n', consumed).count();
                self.column = consumed.len() - last;
            }
            None => self.column += consumed.len(),
        }
    }
}

impl<R> Counting<R> {
    pub fn new(inner: R) -> Self {
        Counting {
            inner,
            position: Position::start(),
        }
    }

    pub fn place(&self) -> Place {
        self.position.place()
    }

    pub fn bytes(&self) -> u64 {
        self.position.bytes
    }
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.position.advance(&buf[..n]);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Counting<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amt: usize) {
        if let Ok(buf) = self.inner.fill_buf() {
            self.position.advance(&buf[..amt.min(buf.len())]);
        }
        self.inner.consume(amt);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn place_at_counts_like_the_reader() {
        let text = b"ab\ncd\n\nx";
        let at = |offset| Place::at(text, offset).to_string();
        assert_eq!(at(0), "1:1");
        assert_eq!(at(4), "2:2");
        assert_eq!(at(7), "4:1");
        assert_eq!(at(99), "4:2", "past the end is the end");
        let mut counting = Counting::new(&text[..]);
        let mut sink = Vec::new();
        counting.read_to_end(&mut sink).expect("read");
        assert_eq!(counting.place(), Place::at(text, text.len()));
    }
}
