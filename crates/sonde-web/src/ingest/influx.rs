//! A parser of the Influx line protocol
//! (`measurement[,tag=v...] field=v[,field=v...] [timestamp]`).
//!
//! Escapes: `\,` and `\ ` in measurements; `\,`, `\=` and `\ ` in tag keys,
//! tag values and field keys; `\"` and `\\` in string field values, which
//! may span lines. A backslash before any other character is literal.
//! Field values: floats (`1`, `-1.5e3`), integers (`1i`), unsigned
//! integers (`1u`), booleans (`t`, `T`, `true`, `True`, `TRUE` and the
//! same for false) and strings (`"..."`). Non-finite floats are refused, as
//! InfluxDB does. Empty lines and `#` comments are skipped.
//!
//! The parser goes on after a bad line: every line yields a point or an
//! error carrying its 1-based line number.

use std::borrow::Cow;

/// A field's value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum FieldValue {
    Float(f64),
    Int(i64),
    UInt(u64),
    Bool(bool),
    /// Strings carry no number; Sonde skips them.
    Str,
}

impl FieldValue {
    /// The sample value, `None` for strings.
    pub fn as_f64(self) -> Option<f64> {
        match self {
            FieldValue::Float(v) => Some(v),
            FieldValue::Int(v) => Some(v as f64),
            FieldValue::UInt(v) => Some(v as f64),
            FieldValue::Bool(b) => Some(if b { 1.0 } else { 0.0 }),
            FieldValue::Str => None,
        }
    }
}

/// One parsed line.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Point<'a> {
    pub measurement: Cow<'a, str>,
    pub tags: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    pub fields: Vec<(Cow<'a, str>, FieldValue)>,
    /// In the request's precision, not yet converted.
    pub timestamp: Option<i64>,
}

/// A line that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LineError {
    pub line: usize,
    pub reason: String,
    /// The line, cut to 100 bytes.
    pub text: String,
}

impl std::fmt::Display for LineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "line {}: unable to parse '{}': {}",
            self.line, self.text, self.reason
        )
    }
}

/// Iterates over the points and errors of a body.
pub(crate) struct Lines<'a> {
    buf: &'a [u8],
    pos: usize,
    line: usize,
}

impl<'a> Lines<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Lines {
            buf,
            pos: 0,
            line: 1,
        }
    }
}

impl<'a> Iterator for Lines<'a> {
    type Item = Result<Point<'a>, LineError>;

    fn next(&mut self) -> Option<Self::Item> {
        // Skip blank space, empty lines and comments.
        while let Some(&c) = self.buf.get(self.pos) {
            match c {
                b' ' | b'\t' | b'\r' => self.pos += 1,
                b'\n' => {
                    self.pos += 1;
                    self.line += 1;
                }
                b'#' => self.skip_line(),
                _ => break,
            }
        }
        if self.pos >= self.buf.len() {
            return None;
        }
        let start = self.pos;
        let line = self.line;
        let mut p = Cursor {
            buf: self.buf,
            pos: start,
            newlines: 0,
        };
        let result = p.point();
        match result {
            Ok(point) => {
                self.pos = p.pos;
                self.line += p.newlines;
                Some(Ok(point))
            }
            Err(reason) => {
                self.pos = start;
                self.skip_line();
                let end = self.pos.min(start + 100);
                let text = String::from_utf8_lossy(&self.buf[start..end])
                    .trim_end()
                    .to_string();
                Some(Err(LineError { line, reason, text }))
            }
        }
    }
}

impl Lines<'_> {
    fn skip_line(&mut self) {
        match memchr_nl(&self.buf[self.pos..]) {
            Some(i) => {
                self.pos += i + 1;
                self.line += 1;
            }
            None => self.pos = self.buf.len(),
        }
    }
}

fn memchr_nl(b: &[u8]) -> Option<usize> {
    b.iter().position(|&c| c == b'\n')
}

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Newlines inside string fields, so line numbers stay right.
    newlines: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    fn point(&mut self) -> Result<Point<'a>, String> {
        let measurement = self.token(b" ,", b", ", "measurement")?;
        if measurement.is_empty() {
            return Err("missing measurement".into());
        }
        let mut tags = Vec::new();
        while self.peek() == Some(b',') {
            self.pos += 1;
            let k = self.token(b"=, ", b",= ", "tag key")?;
            if self.peek() != Some(b'=') {
                return Err(format!("missing tag value for tag key {k:?}"));
            }
            self.pos += 1;
            let v = self.token(b", ", b",= ", "tag value")?;
            if k.is_empty() || v.is_empty() {
                return Err("empty tag key or value".into());
            }
            tags.push((k, v));
        }
        if self.peek() != Some(b' ') {
            return Err("missing fields".into());
        }
        self.skip_spaces();
        let mut fields = Vec::new();
        loop {
            let k = self.token(b"=, ", b",= ", "field key")?;
            if k.is_empty() || self.peek() != Some(b'=') {
                return Err("missing field key or '='".into());
            }
            self.pos += 1;
            let v = self.field_value(&k)?;
            fields.push((k, v));
            match self.peek() {
                Some(b',') => self.pos += 1,
                _ => break,
            }
        }
        let mut timestamp = None;
        if self.peek() == Some(b' ') {
            self.skip_spaces();
            let start = self.pos;
            while let Some(c) = self.peek() {
                if c == b'\n' || c == b' ' || c == b'\r' || c == b'\t' {
                    break;
                }
                self.pos += 1;
            }
            if self.pos > start {
                let s = std::str::from_utf8(&self.buf[start..self.pos]).unwrap_or("?");
                timestamp = Some(
                    s.parse::<i64>()
                        .map_err(|_| format!("invalid timestamp {s:?}: must be an integer"))?,
                );
            }
            self.skip_spaces();
        }
        match self.peek() {
            None => {}
            Some(b'\n') => {
                self.pos += 1;
                self.newlines += 1;
            }
            Some(c) => return Err(format!("unexpected {:?} after the point", c as char)),
        }
        Ok(Point {
            measurement,
            tags,
            fields,
            timestamp,
        })
    }

    fn skip_spaces(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r')) {
            self.pos += 1;
        }
    }

    /// Reads until an unescaped byte of `stop` (or a newline or the end);
    /// `escapable` are the bytes a backslash escapes here.
    fn token(&mut self, stop: &[u8], escapable: &[u8], what: &str) -> Result<Cow<'a, str>, String> {
        let start = self.pos;
        let mut escaped = false;
        while let Some(c) = self.peek() {
            if c == b'\n' || stop.contains(&c) {
                break;
            }
            if c == b'\\'
                && self
                    .buf
                    .get(self.pos + 1)
                    .is_some_and(|n| escapable.contains(n))
            {
                escaped = true;
                self.pos += 2;
                continue;
            }
            self.pos += 1;
        }
        let raw = std::str::from_utf8(&self.buf[start..self.pos])
            .map_err(|_| format!("{what} is not valid UTF-8"))?;
        if !escaped {
            return Ok(Cow::Borrowed(raw));
        }
        let mut out = String::with_capacity(raw.len());
        let mut chars = raw.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '\\' {
                if let Some(&n) = chars.peek() {
                    if n.is_ascii() && escapable.contains(&(n as u8)) {
                        out.push(n);
                        chars.next();
                        continue;
                    }
                }
            }
            out.push(c);
        }
        Ok(Cow::Owned(out))
    }

    fn field_value(&mut self, key: &str) -> Result<FieldValue, String> {
        if self.peek() == Some(b'"') {
            self.pos += 1;
            loop {
                match self.peek() {
                    None => return Err(format!("unterminated string in field {key:?}")),
                    Some(b'\\') => self.pos += 2,
                    Some(b'"') => {
                        self.pos += 1;
                        return Ok(FieldValue::Str);
                    }
                    Some(b'\n') => {
                        self.newlines += 1;
                        self.pos += 1;
                    }
                    Some(_) => self.pos += 1,
                }
            }
        }
        let start = self.pos;
        while let Some(c) = self.peek() {
            if matches!(c, b',' | b' ' | b'\n' | b'\r' | b'\t') {
                break;
            }
            self.pos += 1;
        }
        let s = std::str::from_utf8(&self.buf[start..self.pos]).unwrap_or("");
        parse_value(s).ok_or_else(|| {
            format!(
                "invalid value {s:?} of field {key:?} (float, 1i, 1u, true/false or \"string\")"
            )
        })
    }
}

fn parse_value(s: &str) -> Option<FieldValue> {
    match s {
        "t" | "T" | "true" | "True" | "TRUE" => return Some(FieldValue::Bool(true)),
        "f" | "F" | "false" | "False" | "FALSE" => return Some(FieldValue::Bool(false)),
        _ => {}
    }
    if let Some(i) = s.strip_suffix('i') {
        return i.parse().ok().map(FieldValue::Int);
    }
    if let Some(u) = s.strip_suffix('u') {
        return u.parse().ok().map(FieldValue::UInt);
    }
    // Only digits, sign, dot and exponent: Rust would also take "inf"/"nan".
    if s.is_empty()
        || !s
            .bytes()
            .all(|c| c.is_ascii_digit() || b"+-.eE".contains(&c))
    {
        return None;
    }
    s.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .map(FieldValue::Float)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Vec<Result<Point<'_>, LineError>> {
        Lines::new(s.as_bytes()).collect()
    }

    #[test]
    fn parses_every_value_type_and_escape() {
        let body = "# comment\n\ncpu,host=a\\ b,region=eu\\,west usage=1.5,n=3i,u=4u,ok=t,msg=\"hi, \\\"x\\\"\nthere\" 1700000000000000000\nmem free=2 \n";
        let pts = parse(body);
        assert_eq!(pts.len(), 2, "{pts:?}");
        let p = pts[0].as_ref().unwrap();
        assert_eq!(p.measurement, "cpu");
        assert_eq!(p.tags[0], ("host".into(), "a b".into()));
        assert_eq!(p.tags[1], ("region".into(), "eu,west".into()));
        assert_eq!(p.fields[0], ("usage".into(), FieldValue::Float(1.5)));
        assert_eq!(p.fields[1].1, FieldValue::Int(3));
        assert_eq!(p.fields[2].1, FieldValue::UInt(4));
        assert_eq!(p.fields[3].1, FieldValue::Bool(true));
        assert_eq!(p.fields[4].1, FieldValue::Str);
        assert_eq!(p.timestamp, Some(1_700_000_000_000_000_000));
        let m = pts[1].as_ref().unwrap();
        assert_eq!((m.measurement.as_ref(), m.timestamp), ("mem", None));
    }

    #[test]
    fn every_truncation_and_corruption_parses_without_panic() {
        let body =
            "cpu,host=a\\ b,r=x\\,y f=1.5,i=-3i,u=4u,b=TRUE,s=\"a\\\"b\\\\\" 17\n# c\nm v=1\n";
        let b = body.as_bytes();
        for n in 0..=b.len() {
            let _ = Lines::new(&b[..n]).count();
            for flip in [b'\\', b'"', b'\n', b' ', b',', b'=', 0xff] {
                if n < b.len() {
                    let mut c = b.to_vec();
                    c[n] = flip;
                    // Each input position yields at most one result per line.
                    let lines = c.iter().filter(|&&x| x == b'\n').count() + 1;
                    assert!(Lines::new(&c).count() <= lines);
                }
            }
        }
    }

    #[test]
    fn errors_carry_line_numbers_and_parsing_goes_on() {
        let body = "ok v=1\nbad\nok v=2\nx v=nan\ny,t v=1\nz v=1 12a\nw v=\"open\n";
        let r = parse(body);
        let errs: Vec<String> = r
            .iter()
            .filter_map(|x| x.as_ref().err())
            .map(|e| e.to_string())
            .collect();
        assert_eq!(r.iter().filter(|x| x.is_ok()).count(), 2);
        assert_eq!(
            errs,
            vec![
                "line 2: unable to parse 'bad': missing fields",
                "line 4: unable to parse 'x v=nan': invalid value \"nan\" of field \"v\" (float, 1i, 1u, true/false or \"string\")",
                "line 5: unable to parse 'y,t v=1': missing tag value for tag key \"t\"",
                "line 6: unable to parse 'z v=1 12a': invalid timestamp \"12a\": must be an integer",
                "line 7: unable to parse 'w v=\"open': unterminated string in field \"v\"",
            ]
        );
    }
}
