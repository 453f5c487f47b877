//! JSON syntax as Go's `encoding/json` scanner sees it, one byte at a
//! time: where a value ends (which `json.Decoder` depends on), which byte is
//! wrong and Go's wording for it, and Go's nesting limit.

use std::fmt;

/// Go's `maxNestingDepth`.
pub const GO_MAX_DEPTH: usize = 10_000;

/// A syntax error: Go's message and the byte offset of the offending byte
/// (or the input length for an unexpected end).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub msg: String,
    pub offset: usize,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at byte {})", self.msg, self.offset)
    }
}

impl std::error::Error for SyntaxError {}

/// Go's `quoteChar`: how a byte is shown in a syntax error.
pub fn quote_char(c: u8) -> String {
    match c {
        b'\'' => "'\\''".into(),
        b'"' => "'\"'".into(),
        b'\x07' => "'\\a'".into(),
        b'\x08' => "'\\b'".into(),
        b'\x0c' => "'\\f'".into(),
        b'\n' => "'\\n'".into(),
        b'\r' => "'\\r'".into(),
        b'\t' => "'\\t'".into(),
        b'\x0b' => "'\\v'".into(),
        0x20..=0x7e => format!("'{}'", c as char),
        0x00..=0x1f | 0x7f => format!("'\\x{c:02x}'"),
        // Go converts the byte to the rune U+00XX before quoting it.
        0x80..=0xa0 | 0xad => format!("'\\u{:04x}'", c),
        _ => format!("'{}'", char::from(c)),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ctx {
    ObjectKey,
    ObjectValue,
    ArrayValue,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum St {
    /// A value must start here.
    Begin,
    /// Just after `[`: a value or `]`.
    BeginOrClose,
    /// Just after `{`: a key or `}`.
    KeyOrClose,
    /// After `,` in an object: a key.
    Key,
    Str,
    StrEsc,
    StrU(u8),
    Neg,
    Zero,
    Int,
    Dot,
    Frac,
    Exp,
    ExpSign,
    ExpDigits,
    /// Inside `true` / `false` / `null`: which word and how far.
    Lit(u8, u8),
    /// A value ended; a separator, a closer or whitespace may follow.
    End,
}

const WORDS: [&[u8]; 3] = [b"true", b"false", b"null"];

/// What a byte did to the value being scanned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// The byte belongs to the value (or is whitespace inside it).
    Continue,
    /// The top-level value had already ended; this byte is not part of it.
    Done,
}

fn is_ws(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r')
}

/// A JSON syntax state machine for one top-level value.
#[derive(Debug, Clone)]
pub struct Scanner {
    stack: Vec<Ctx>,
    st: St,
    max_depth: usize,
}

impl Default for Scanner {
    fn default() -> Self {
        Scanner::new()
    }
}

impl Scanner {
    pub fn new() -> Self {
        Scanner::with_max_depth(GO_MAX_DEPTH)
    }

    pub fn with_max_depth(max_depth: usize) -> Self {
        Scanner {
            stack: Vec::new(),
            st: St::Begin,
            max_depth,
        }
    }

    /// The top-level value is complete and nothing after it can extend it
    /// (a number is complete only once a byte that cannot continue it, or
    /// the end of input, is seen).
    pub fn complete(&self) -> bool {
        self.stack.is_empty() && self.st == St::End
    }

    /// Whether the input may end here (Go's `scanner.eof`).
    pub fn eof_ok(&self) -> bool {
        self.stack.is_empty()
            && matches!(
                self.st,
                St::End | St::Zero | St::Int | St::Frac | St::ExpDigits
            )
    }

    /// Whether anything but whitespace has been seen.
    pub fn started(&self) -> bool {
        self.st != St::Begin || !self.stack.is_empty()
    }

    fn err(c: u8, what: &str) -> String {
        format!("invalid character {} {what}", quote_char(c))
    }

    /// Feed one byte. `Err` carries Go's message.
    pub fn step(&mut self, c: u8) -> Result<Flow, String> {
        match self.st {
            St::Begin => self.begin_value(c),
            St::BeginOrClose => {
                if c == b']' {
                    self.stack.pop();
                    self.st = St::End;
                    Ok(Flow::Continue)
                } else {
                    self.begin_value(c)
                }
            }
            St::KeyOrClose | St::Key => {
                if is_ws(c) {
                    Ok(Flow::Continue)
                } else if c == b'"' {
                    self.st = St::Str;
                    Ok(Flow::Continue)
                } else if c == b'}' && self.st == St::KeyOrClose {
                    self.stack.pop();
                    self.st = St::End;
                    Ok(Flow::Continue)
                } else {
                    Err(Self::err(c, "looking for beginning of object key string"))
                }
            }
            St::Str => {
                match c {
                    b'"' => self.st = St::End,
                    b'\\' => self.st = St::StrEsc,
                    c if c < 0x20 => return Err(Self::err(c, "in string literal")),
                    _ => {}
                }
                Ok(Flow::Continue)
            }
            St::StrEsc => {
                match c {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.st = St::Str,
                    b'u' => self.st = St::StrU(0),
                    _ => return Err(Self::err(c, "in string escape code")),
                }
                Ok(Flow::Continue)
            }
            St::StrU(n) => {
                if !c.is_ascii_hexdigit() {
                    return Err(Self::err(c, "in \\u hexadecimal character escape"));
                }
                self.st = if n == 3 { St::Str } else { St::StrU(n + 1) };
                Ok(Flow::Continue)
            }
            St::Neg => {
                self.st = match c {
                    b'0' => St::Zero,
                    b'1'..=b'9' => St::Int,
                    _ => return Err(Self::err(c, "in numeric literal")),
                };
                Ok(Flow::Continue)
            }
            St::Zero | St::Int => match c {
                b'0'..=b'9' if self.st == St::Int => Ok(Flow::Continue),
                b'.' => {
                    self.st = St::Dot;
                    Ok(Flow::Continue)
                }
                b'e' | b'E' => {
                    self.st = St::Exp;
                    Ok(Flow::Continue)
                }
                _ => self.end_scalar(c),
            },
            St::Dot => {
                if !c.is_ascii_digit() {
                    return Err(Self::err(c, "after decimal point in numeric literal"));
                }
                self.st = St::Frac;
                Ok(Flow::Continue)
            }
            St::Frac => match c {
                b'0'..=b'9' => Ok(Flow::Continue),
                b'e' | b'E' => {
                    self.st = St::Exp;
                    Ok(Flow::Continue)
                }
                _ => self.end_scalar(c),
            },
            St::Exp | St::ExpSign => {
                if (c == b'+' || c == b'-') && self.st == St::Exp {
                    self.st = St::ExpSign;
                } else if c.is_ascii_digit() {
                    self.st = St::ExpDigits;
                } else {
                    return Err(Self::err(c, "in exponent of numeric literal"));
                }
                Ok(Flow::Continue)
            }
            St::ExpDigits => {
                if c.is_ascii_digit() {
                    Ok(Flow::Continue)
                } else {
                    self.end_scalar(c)
                }
            }
            St::Lit(w, p) => {
                let word = WORDS[w as usize];
                let want = word[p as usize];
                if c != want {
                    return Err(format!(
                        "invalid character {} in literal {} (expecting {})",
                        quote_char(c),
                        std::str::from_utf8(word).expect("ascii"),
                        quote_char(want)
                    ));
                }
                self.st = if p as usize + 1 == word.len() {
                    St::End
                } else {
                    St::Lit(w, p + 1)
                };
                Ok(Flow::Continue)
            }
            St::End => self.after_value(c),
        }
    }

    /// A number ended just before `c`; `c` is then seen after a value.
    fn end_scalar(&mut self, c: u8) -> Result<Flow, String> {
        self.st = St::End;
        self.after_value(c)
    }

    fn after_value(&mut self, c: u8) -> Result<Flow, String> {
        let Some(&top) = self.stack.last() else {
            return Ok(Flow::Done);
        };
        if is_ws(c) {
            return Ok(Flow::Continue);
        }
        match (top, c) {
            (Ctx::ObjectKey, b':') => {
                *self.stack.last_mut().expect("top") = Ctx::ObjectValue;
                self.st = St::Begin;
            }
            (Ctx::ObjectKey, _) => return Err(Self::err(c, "after object key")),
            (Ctx::ObjectValue, b',') => {
                *self.stack.last_mut().expect("top") = Ctx::ObjectKey;
                self.st = St::Key;
            }
            (Ctx::ObjectValue, b'}') | (Ctx::ArrayValue, b']') => {
                self.stack.pop();
                self.st = St::End;
            }
            (Ctx::ObjectValue, _) => {
                return Err(Self::err(c, "after object key:value pair"));
            }
            (Ctx::ArrayValue, b',') => self.st = St::Begin,
            (Ctx::ArrayValue, _) => return Err(Self::err(c, "after array element")),
        }
        Ok(Flow::Continue)
    }

    fn push(&mut self, ctx: Ctx) -> Result<(), String> {
        self.stack.push(ctx);
        if self.stack.len() > self.max_depth {
            return Err("exceeded max depth".into());
        }
        Ok(())
    }

    fn begin_value(&mut self, c: u8) -> Result<Flow, String> {
        self.st = match c {
            c if is_ws(c) => return Ok(Flow::Continue),
            b'{' => {
                self.push(Ctx::ObjectKey)?;
                St::KeyOrClose
            }
            b'[' => {
                self.push(Ctx::ArrayValue)?;
                St::BeginOrClose
            }
            b'"' => St::Str,
            b'-' => St::Neg,
            b'0' => St::Zero,
            b'1'..=b'9' => St::Int,
            b't' => St::Lit(0, 1),
            b'f' => St::Lit(1, 1),
            b'n' => St::Lit(2, 1),
            _ => return Err(Self::err(c, "looking for beginning of value")),
        };
        Ok(Flow::Continue)
    }

    /// Feed a run of bytes; returns how many belong to the value and
    /// whether the value is complete. Strings are skipped in bulk.
    pub fn feed(&mut self, b: &[u8], base: usize) -> Result<(usize, bool), SyntaxError> {
        let mut i = 0;
        while i < b.len() {
            if self.st == St::Str {
                // Fast path: ordinary string bytes.
                while i < b.len() && b[i] >= 0x20 && b[i] != b'"' && b[i] != b'\\' {
                    i += 1;
                }
                if i == b.len() {
                    break;
                }
            }
            match self.step(b[i]) {
                Ok(Flow::Continue) => {}
                Ok(Flow::Done) => return Ok((i, true)),
                Err(msg) => {
                    return Err(SyntaxError {
                        msg,
                        offset: base + i,
                    });
                }
            }
            i += 1;
            if self.complete() {
                return Ok((i, true));
            }
        }
        Ok((i, false))
    }
}

/// `json.Unmarshal`'s syntax check: exactly one value, whitespace around it.
pub fn validate(data: &[u8]) -> Result<(), SyntaxError> {
    let end = value_end(data)?;
    match data[end..].iter().position(|&c| !is_ws(c)) {
        None => Ok(()),
        Some(i) => Err(SyntaxError {
            msg: format!(
                "invalid character {} after top-level value",
                quote_char(data[end + i])
            ),
            offset: end + i,
        }),
    }
}

/// Where the first value of `data` ends (`json.Decoder` semantics: the
/// bytes after it are not looked at).
pub fn value_end(data: &[u8]) -> Result<usize, SyntaxError> {
    let mut s = Scanner::new();
    let (n, done) = s.feed(data, 0)?;
    if done || s.eof_ok() {
        return Ok(n);
    }
    Err(SyntaxError {
        msg: "unexpected end of JSON input".into(),
        offset: data.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(s: &str) -> String {
        validate(s.as_bytes()).unwrap_err().msg
    }

    #[test]
    fn go_messages() {
        assert_eq!(msg("{} x"), "invalid character 'x' after top-level value");
        assert_eq!(msg(""), "unexpected end of JSON input");
        assert_eq!(
            msg("[1,]"),
            "invalid character ']' looking for beginning of value"
        );
        assert_eq!(msg("01"), "invalid character '1' after top-level value");
        assert_eq!(
            msg("\u{feff}{}"),
            "invalid character 'ï' looking for beginning of value"
        );
        assert_eq!(msg("{\"a\" 1}"), "invalid character '1' after object key");
        assert_eq!(
            msg("{\"a\":1 \"b\"}"),
            "invalid character '\"' after object key:value pair"
        );
        assert_eq!(msg("[1 2]"), "invalid character '2' after array element");
        assert_eq!(
            msg("{,}"),
            "invalid character ',' looking for beginning of object key string"
        );
        assert_eq!(msg("\"a\nb\""), "invalid character '\\n' in string literal");
        assert_eq!(
            msg("\"\\x\""),
            "invalid character 'x' in string escape code"
        );
        assert_eq!(
            msg("\"\\u12g4\""),
            "invalid character 'g' in \\u hexadecimal character escape"
        );
        assert_eq!(msg("-x"), "invalid character 'x' in numeric literal");
        assert_eq!(
            msg("1.x"),
            "invalid character 'x' after decimal point in numeric literal"
        );
        assert_eq!(
            msg("1ex"),
            "invalid character 'x' in exponent of numeric literal"
        );
        assert_eq!(
            msg("trux"),
            "invalid character 'x' in literal true (expecting 'e')"
        );
        assert_eq!(msg("[1,2"), "unexpected end of JSON input");
        assert_eq!(msg("1."), "unexpected end of JSON input");
        for ok in [
            "0",
            "-0.5e+7",
            "[]",
            "{}",
            " {\"a\":[1,{\"b\":null}]} \n",
            "\"\\ud800\"",
            "true",
        ] {
            assert!(validate(ok.as_bytes()).is_ok(), "{ok}");
        }
    }

    #[test]
    fn depth_limit() {
        let ok = "[".repeat(10_000) + &"]".repeat(10_000);
        assert!(validate(ok.as_bytes()).is_ok());
        let deep = "[".repeat(10_001) + &"]".repeat(10_001);
        assert_eq!(
            validate(deep.as_bytes()).unwrap_err().msg,
            "exceeded max depth"
        );
    }

    #[test]
    fn decoder_value_ends() {
        assert_eq!(value_end(b"{}x").unwrap(), 2);
        assert_eq!(value_end(b"12 3").unwrap(), 2);
        assert_eq!(value_end(b"12").unwrap(), 2);
        assert_eq!(value_end(b"01").unwrap(), 1);
        assert_eq!(value_end(b"1.5.3").unwrap(), 3);
        assert_eq!(value_end(b"\"a\"\"b\"").unwrap(), 3);
        assert_eq!(value_end(b"  null{}").unwrap(), 6);
        assert!(value_end(b"nul").is_err());
        assert!(value_end(b"  ").is_err());
    }
}
