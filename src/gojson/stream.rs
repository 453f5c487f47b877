//! A file read as Go's `json.Decoder` reads it: a sequence of top-level
//! values, separated by any whitespace or by nothing at all (`{}{}` and
//! `"a""b"` are two values each), one value held in memory at a time.

use std::fmt;
use std::io::{self, BufRead};

use super::scan::Scanner;
use super::unmarshal::UnmarshalError;

/// A failed read: the file, or the JSON in it.
#[derive(Debug)]
pub enum StreamError {
    Io(io::Error),
    /// The JSON error and the 1-based line the value started on.
    Json(UnmarshalError, u64),
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StreamError::Io(e) => write!(f, "{e}"),
            StreamError::Json(e, line) => write!(f, "line {line}: {e}"),
        }
    }
}

impl std::error::Error for StreamError {}

/// One value: its bytes, byte offset and 1-based line in the file.
pub struct StreamValue<'a> {
    pub bytes: &'a [u8],
    pub offset: u64,
    pub line: u64,
}

pub struct ValueStream<R> {
    r: R,
    /// Bytes consumed so far.
    offset: u64,
    /// Newlines consumed so far.
    newlines: u64,
    buf: Vec<u8>,
}

fn is_ws(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r')
}

impl<R: BufRead> ValueStream<R> {
    pub fn new(r: R) -> Self {
        ValueStream {
            r,
            offset: 0,
            newlines: 0,
            buf: Vec::new(),
        }
    }

    fn consume(&mut self, n: usize) {
        self.r.consume(n);
        self.offset += n as u64;
    }

    /// Skip whitespace; the next byte, if any.
    fn peek(&mut self) -> Result<Option<u8>, StreamError> {
        loop {
            let chunk = self.r.fill_buf().map_err(StreamError::Io)?;
            if chunk.is_empty() {
                return Ok(None);
            }
            let n = chunk.iter().take_while(|&&c| is_ws(c)).count();
            let first = chunk.get(n).copied();
            self.newlines += chunk[..n].iter().filter(|&&c| c == b'\n').count() as u64;
            self.consume(n);
            if first.is_some() {
                return Ok(first);
            }
        }
    }

    /// `dec.More()`: whether a value follows (a `]` or `}` where a value
    /// would start counts as the end).
    pub fn more(&mut self) -> Result<bool, StreamError> {
        Ok(!matches!(self.peek()?, None | Some(b']' | b'}')))
    }

    /// `dec.Decode`'s read: the next value's bytes, or `None` at the end.
    pub fn next_value(&mut self) -> Result<Option<StreamValue<'_>>, StreamError> {
        if self.peek()?.is_none() {
            return Ok(None);
        }
        let (start, line) = (self.offset, self.newlines + 1);
        self.buf.clear();
        let mut scan = Scanner::new();
        loop {
            let chunk = self.r.fill_buf().map_err(StreamError::Io)?;
            if chunk.is_empty() {
                if scan.eof_ok() {
                    break;
                }
                return Err(StreamError::Json(
                    UnmarshalError::UnexpectedEof {
                        offset: start as usize,
                    },
                    line,
                ));
            }
            let base = start as usize + self.buf.len();
            let (used, done) = scan
                .feed(chunk, base)
                .map_err(|e| StreamError::Json(UnmarshalError::Syntax(e), line))?;
            self.newlines += chunk[..used].iter().filter(|&&c| c == b'\n').count() as u64;
            self.buf.extend_from_slice(&chunk[..used]);
            self.consume(used);
            if done {
                break;
            }
        }
        Ok(Some(StreamValue {
            bytes: &self.buf,
            offset: start,
            line,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufReader;

    fn values(input: &[u8], cap: usize) -> Result<Vec<(String, u64, u64)>, StreamError> {
        let mut r = ValueStream::new(BufReader::with_capacity(cap, input));
        let mut v = Vec::new();
        while let Some(x) = r.next_value()? {
            v.push((
                String::from_utf8_lossy(x.bytes).into_owned(),
                x.offset,
                x.line,
            ));
        }
        Ok(v)
    }

    #[test]
    fn go_decoder_boundaries() {
        for cap in [1, 2, 7, 4096] {
            let got = values(
                b"{\"a\":\"}\\\"{\"}\n\n  {\"b\":[1,{}]}{\"c\":1}\n null 12 \"s\"\"t\"01",
                cap,
            )
            .unwrap();
            let want = [
                ("{\"a\":\"}\\\"{\"}", 0, 1),
                ("{\"b\":[1,{}]}", 16, 3),
                ("{\"c\":1}", 28, 3),
                ("null", 37, 4),
                ("12", 42, 4),
                ("\"s\"", 45, 4),
                ("\"t\"", 48, 4),
                ("0", 51, 4),
                ("1", 52, 4),
            ];
            let got: Vec<_> = got.iter().map(|(s, o, l)| (s.as_str(), *o, *l)).collect();
            assert_eq!(got, want, "cap {cap}");
            assert!(values(b"{}\n{\"a\":\"tru", cap).is_err());
            assert!(values(b"{}\n]", cap).is_err());
            assert!(values(b"1x", cap).is_err());
            assert!(values(b"{\"a\":\"x\n\"}", cap).is_err());
            assert_eq!(values(b"", cap).unwrap().len(), 0);
            assert_eq!(values(b" \n\t", cap).unwrap().len(), 0);
        }
    }

    #[test]
    fn more_stops_at_a_closer() {
        let mut r = ValueStream::new(&b"{} \n ]{\"x\":1}"[..]);
        assert!(r.more().unwrap());
        assert!(r.next_value().unwrap().is_some());
        assert!(!r.more().unwrap());
        let mut r = ValueStream::new(&b"  "[..]);
        assert!(!r.more().unwrap());
    }
}
