//! Reading `messages.jsonl` one value at a time, with Go `json.Decoder`
//! semantics as upstream's `for dec.More() { dec.Decode(&rec) }` loop has
//! them: values may be separated by any whitespace (or none), blank lines
//! are fine, and a `]` or `}` where a value would start silently ends the
//! stream. Only one value is held in memory at a time.

use std::io::BufRead;

/// Where the value that failed began, and why.
#[derive(Debug)]
pub enum ReadError {
    Io(std::io::Error),
    /// The input ended inside a value that started on `line`.
    UnexpectedEof {
        line: u64,
    },
}

pub struct ValueReader<R> {
    r: R,
    /// Newlines consumed so far.
    newlines: u64,
    buf: Vec<u8>,
}

fn is_ws(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r')
}

/// Bytes that end a bare (number / literal / garbage) token.
fn ends_token(c: u8) -> bool {
    is_ws(c) || matches!(c, b',' | b':' | b'[' | b']' | b'{' | b'}' | b'"')
}

#[derive(Clone, Copy)]
enum Scan {
    /// Inside `{`/`[` nesting (`depth` > 0) or a top-level string.
    Nested {
        depth: u64,
        in_string: bool,
        escaped: bool,
    },
    Token,
}

impl<R: BufRead> ValueReader<R> {
    pub fn new(r: R) -> Self {
        ValueReader {
            r,
            newlines: 0,
            buf: Vec::new(),
        }
    }

    /// The next value's bytes and its 1-based starting line, or `None` at
    /// the end of the stream.
    pub fn next_value(&mut self) -> Result<Option<(&[u8], u64)>, ReadError> {
        // Skip whitespace to the next value.
        let first = loop {
            let chunk = self.r.fill_buf().map_err(ReadError::Io)?;
            if chunk.is_empty() {
                return Ok(None);
            }
            let (skip, first) = match chunk.iter().position(|&c| !is_ws(c)) {
                Some(i) => (i, Some(chunk[i])),
                None => (chunk.len(), None),
            };
            self.newlines += chunk[..skip].iter().filter(|&&c| c == b'\n').count() as u64;
            self.r.consume(skip);
            if let Some(c) = first {
                break c;
            }
        };
        if first == b']' || first == b'}' {
            return Ok(None);
        }
        let line = self.newlines + 1;
        self.buf.clear();
        let mut state = match first {
            b'{' | b'[' | b'"' => Scan::Nested {
                depth: 0,
                in_string: false,
                escaped: false,
            },
            _ => Scan::Token,
        };
        loop {
            let chunk = self.r.fill_buf().map_err(ReadError::Io)?;
            if chunk.is_empty() {
                return match state {
                    // A bare token ends at the end of input.
                    Scan::Token => Ok(Some((&self.buf, line))),
                    Scan::Nested { .. } => Err(ReadError::UnexpectedEof { line }),
                };
            }
            let (used, done) = scan(&mut state, chunk, self.buf.is_empty());
            self.newlines += chunk[..used].iter().filter(|&&c| c == b'\n').count() as u64;
            self.buf.extend_from_slice(&chunk[..used]);
            self.r.consume(used);
            if done {
                return Ok(Some((&self.buf, line)));
            }
        }
    }
}

/// Advance over `chunk`; returns how many bytes belong to the value and
/// whether it is complete. `at_start`: the value's first byte is `chunk[0]`.
fn scan(state: &mut Scan, chunk: &[u8], at_start: bool) -> (usize, bool) {
    match state {
        Scan::Token => {
            // Always take the first byte, so a stray delimiter becomes a
            // one-byte value that fails to parse.
            let from = usize::from(at_start);
            match chunk[from..].iter().position(|&c| ends_token(c)) {
                Some(i) => (from + i, true),
                None => (chunk.len(), false),
            }
        }
        Scan::Nested {
            depth,
            in_string,
            escaped,
        } => {
            for (i, &c) in chunk.iter().enumerate() {
                if *in_string {
                    if *escaped {
                        *escaped = false;
                    } else if c == b'\\' {
                        *escaped = true;
                    } else if c == b'"' {
                        *in_string = false;
                        if *depth == 0 {
                            return (i + 1, true);
                        }
                    } else if c < 0x20 {
                        // Go rejects a control byte in a string right
                        // there; stop so the parser reports it.
                        return (i + 1, true);
                    }
                    continue;
                }
                match c {
                    b'"' => *in_string = true,
                    b'{' | b'[' => *depth += 1,
                    b'}' | b']' => {
                        *depth = depth.saturating_sub(1);
                        if *depth == 0 {
                            return (i + 1, true);
                        }
                    }
                    _ => {}
                }
            }
            (chunk.len(), false)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufReader;

    fn values(input: &[u8], cap: usize) -> Result<Vec<(String, u64)>, ReadError> {
        let mut r = ValueReader::new(BufReader::with_capacity(cap, input));
        let mut v = Vec::new();
        while let Some((b, line)) = r.next_value()? {
            v.push((String::from_utf8_lossy(b).into_owned(), line));
        }
        Ok(v)
    }

    #[test]
    fn go_decoder_boundaries() {
        for cap in [1, 2, 7, 4096] {
            let got = values(
                b"{\"a\":\"}\\\"{\"}\n\n  {\"b\":[1,{}]}{\"c\":1}\n null 12 \"s\"\n",
                cap,
            )
            .unwrap();
            let want: Vec<(String, u64)> = vec![
                ("{\"a\":\"}\\\"{\"}".into(), 1),
                ("{\"b\":[1,{}]}".into(), 3),
                ("{\"c\":1}".into(), 3),
                ("null".into(), 4),
                ("12".into(), 4),
                ("\"s\"".into(), 4),
            ];
            assert_eq!(got, want, "cap {cap}");
            // A stray closer ends the stream silently.
            assert_eq!(values(b"{}\n]\n{\"x\":1}", cap).unwrap().len(), 1);
            assert_eq!(values(b"", cap).unwrap().len(), 0);
            assert_eq!(values(b" \n\t", cap).unwrap().len(), 0);
            assert!(matches!(
                values(b"{}\n{\"a\":\"tru", cap).unwrap_err(),
                ReadError::UnexpectedEof { line: 2 }
            ));
            // A control byte in a string ends the value (it will not parse).
            assert_eq!(values(b"{\"a\":\"x\n{}", cap).unwrap()[0].0, "{\"a\":\"x\n");
            // Stray separators become one-byte values.
            assert_eq!(values(b"{},{}", cap).unwrap()[1].0, ",");
        }
    }
}
