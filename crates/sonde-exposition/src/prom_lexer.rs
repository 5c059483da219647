//! Lexer of the Prometheus text format 0.0.4, token for token what
//! Prometheus 2.42's `promlex.l` produces.
//!
//! Invariants: like upstream (which appends a `'\n'` to the body), the body
//! is read as if it ended with one more `'\n'`; that virtual byte is never
//! part of a token's bytes. `i <= body.len() + 1` at all times. A NUL byte is
//! skipped (not seen by the automaton) while lexing label values, HELP text
//! and comments, and is an end-of-input token at the start of a line.

use crate::lexer::{is_lname_char, is_lname_start, is_mname_char, is_mname_start, State, Tok};

pub(crate) struct PromLexer<'a> {
    b: &'a [u8],
    /// Position of the next byte to read.
    pub(crate) i: usize,
    /// Start of the current token.
    pub(crate) start: usize,
    pub(crate) state: State,
}

fn is_ws(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

impl<'a> PromLexer<'a> {
    pub(crate) fn new(b: &'a [u8]) -> Self {
        PromLexer {
            b,
            i: 0,
            start: 0,
            state: State::Init,
        }
    }

    /// Bytes of the current token (never including the virtual newline).
    pub(crate) fn token(&self) -> &'a [u8] {
        let end = self.i.min(self.b.len());
        &self.b[self.start.min(end)..end]
    }

    fn ext_len(&self) -> usize {
        self.b.len() + 1
    }

    fn at(&self, i: usize) -> u8 {
        match self.b.get(i) {
            Some(&c) => c,
            None => b'\n',
        }
    }

    fn cur(&self) -> u8 {
        if self.i >= self.ext_len() {
            0
        } else {
            self.at(self.i)
        }
    }

    fn next(&mut self) -> u8 {
        self.i += 1;
        if self.i >= self.ext_len() {
            return 0;
        }
        if matches!(self.state, State::LValue | State::Meta2 | State::Comment) {
            // The virtual trailing '\n' stops this loop.
            while self.at(self.i) == 0 {
                self.i += 1;
            }
        }
        self.at(self.i)
    }

    /// The next token.
    pub(crate) fn lex(&mut self) -> Tok {
        if self.i >= self.ext_len() {
            return Tok::Eof;
        }
        let mut c = self.at(self.i);
        self.start = self.i;
        loop {
            match self.state {
                State::Init => match c {
                    b'#' => {
                        c = self.next();
                        if !is_ws(c) {
                            return self.consume_comment();
                        }
                        while is_ws(c) {
                            c = self.next();
                        }
                        // `#[ \t]+` has no token of its own: go on lexing
                        // in the comment state from the current byte.
                        self.state = State::Comment;
                    }
                    b'\n' => {
                        self.next();
                        return Tok::Linebreak;
                    }
                    b' ' | b'\t' => return self.whitespace(),
                    0 => {
                        self.next();
                        return Tok::Eof;
                    }
                    c if is_mname_start(c) => {
                        self.skip_while(is_mname_char);
                        self.state = State::Value;
                        return Tok::MName;
                    }
                    _ => return self.abort(),
                },
                State::Comment => return self.comment(c),
                State::Meta1 => {
                    return match c {
                        b' ' | b'\t' => self.whitespace(),
                        c if is_mname_start(c) => {
                            self.skip_while(is_mname_char);
                            self.state = State::Meta2;
                            Tok::MName
                        }
                        _ => self.abort(),
                    }
                }
                State::Meta2 => return self.meta_text(c),
                State::Labels => return self.labels(c),
                State::LValue => {
                    return match c {
                        b'"' => self.label_value(),
                        b' ' | b'\t' => self.whitespace(),
                        _ => self.abort(),
                    }
                }
                State::Value => {
                    return match c {
                        b' ' | b'\t' => self.whitespace(),
                        b'{' => {
                            self.next();
                            self.state = State::Labels;
                            Tok::BraceOpen
                        }
                        c if is_value_byte(c) => {
                            self.skip_while(is_value_byte);
                            self.state = State::Timestamp;
                            Tok::Value
                        }
                        _ => self.abort(),
                    }
                }
                State::Timestamp => {
                    return match c {
                        b'\n' => {
                            self.next();
                            self.state = State::Init;
                            Tok::Linebreak
                        }
                        b' ' | b'\t' => self.whitespace(),
                        c if c.is_ascii_digit() => {
                            self.skip_while(|c| c.is_ascii_digit());
                            Tok::Timestamp
                        }
                        _ => self.abort(),
                    }
                }
                State::Exemplar | State::EValue | State::ETimestamp => return self.abort(),
            }
        }
    }

    /// Reads bytes while `f` holds; the first byte was already accepted.
    /// Outside the NUL-skipping states this is a plain scan of the slice
    /// (`f` never holds for NUL, nor for the end of the body).
    fn skip_while(&mut self, f: impl Fn(u8) -> bool) {
        if matches!(self.state, State::LValue | State::Meta2 | State::Comment) {
            while f(self.next()) {}
            return;
        }
        let start = (self.i + 1).min(self.b.len());
        let rest = &self.b[start..];
        self.i = start + rest.iter().position(|&c| !f(c)).unwrap_or(rest.len());
    }

    fn whitespace(&mut self) -> Tok {
        self.skip_while(is_ws);
        Tok::Whitespace
    }

    fn abort(&mut self) -> Tok {
        if self.state == State::Comment {
            return self.consume_comment();
        }
        Tok::Invalid
    }

    /// Upstream's fallback for `#` lines that are not HELP/TYPE: everything
    /// up to the newline is one comment token; a NUL (not skipped because
    /// the state is not `Comment`) ends the input.
    fn consume_comment(&mut self) -> Tok {
        let mut c = self.cur();
        if c != 0 && c != b'\n' && self.i < self.b.len() {
            // NULs end the input in the initial state and are skipped in the
            // comment state; either way jump to the next NUL or newline.
            let rest = &self.b[self.i..];
            let off = if self.state == State::Comment {
                memchr::memchr(b'\n', rest)
            } else {
                memchr::memchr2(b'\n', 0, rest)
            };
            self.i = off.map_or(self.b.len(), |o| self.i + o);
            c = self.at(self.i);
        }
        loop {
            match c {
                0 => return Tok::Eof,
                b'\n' => {
                    self.state = State::Init;
                    return Tok::Comment;
                }
                _ => c = self.next(),
            }
        }
    }

    fn comment(&mut self, c: u8) -> Tok {
        let (rest, tok): (&[u8], Tok) = match c {
            b'H' => (b"ELP", Tok::Help),
            b'T' => (b"YPE", Tok::Type),
            b' ' | b'\t' => return self.whitespace(),
            _ => return self.abort(),
        };
        for &want in rest {
            if self.next() != want {
                return self.abort();
            }
        }
        if !is_ws(self.next()) {
            return self.abort();
        }
        self.skip_while(is_ws);
        self.state = State::Meta1;
        tok
    }

    fn meta_text(&mut self, mut c: u8) -> Tok {
        if is_ws(c) {
            loop {
                c = self.next();
                if is_ws(c) {
                    continue;
                }
                if is_text_start(c) {
                    break;
                }
                return Tok::Whitespace;
            }
        }
        if is_text_start(c) {
            // `next` skips NULs here, so the text runs to the next newline
            // (the virtual one at the end at the latest).
            self.i = match memchr::memchr(b'\n', &self.b[self.i..]) {
                Some(off) => self.i + off,
                None => self.b.len(),
            };
        }
        self.state = State::Init;
        Tok::Text
    }

    fn labels(&mut self, c: u8) -> Tok {
        match c {
            b',' => {
                self.next();
                Tok::Comma
            }
            b'=' => {
                self.next();
                self.state = State::LValue;
                Tok::Equal
            }
            b'}' => {
                self.next();
                self.state = State::Value;
                Tok::BraceClose
            }
            b' ' | b'\t' => self.whitespace(),
            c if is_lname_start(c) => {
                self.skip_while(is_lname_char);
                Tok::LName
            }
            _ => self.abort(),
        }
    }

    /// `"(\\.|[^\\"])*"`: a raw newline is allowed, an escaped one is not.
    fn label_value(&mut self) -> Tok {
        let mut c = self.next();
        loop {
            match c {
                b'"' => {
                    self.next();
                    self.state = State::Labels;
                    return Tok::LValue;
                }
                b'\\' => {
                    if matches!(self.next(), 0 | b'\n') {
                        return self.abort();
                    }
                    c = self.next();
                }
                0 => return self.abort(),
                _ => {
                    // Fast path: NULs in between are skipped by `next` and
                    // every other byte stays in this state, so jump to the
                    // next quote or backslash.
                    match memchr::memchr2(b'"', b'\\', &self.b[self.i.min(self.b.len())..]) {
                        Some(off) => {
                            self.i += off;
                            c = self.b[self.i];
                        }
                        None => {
                            self.i = self.ext_len();
                            return self.abort();
                        }
                    }
                }
            }
        }
    }
}

/// `[^{ \t\n]` without NUL: the bytes of a sample value.
fn is_value_byte(c: u8) -> bool {
    !matches!(c, 0 | b'{' | b' ' | b'\t' | b'\n')
}

/// First byte of non-blank HELP/TYPE text.
fn is_text_start(c: u8) -> bool {
    !matches!(c, 0 | b'\n' | b' ' | b'\t')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(b: &[u8]) -> Vec<(Tok, String)> {
        let mut l = PromLexer::new(b);
        let mut out = Vec::new();
        for _ in 0..64 {
            let t = l.lex();
            out.push((t, String::from_utf8_lossy(l.token()).into_owned()));
            if matches!(t, Tok::Eof | Tok::Invalid) {
                break;
            }
        }
        out
    }

    #[test]
    fn sample_line() {
        let t: Vec<Tok> = toks(b"a{b=\"c\"} 1 2").into_iter().map(|t| t.0).collect();
        assert_eq!(
            t,
            [
                Tok::MName,
                Tok::BraceOpen,
                Tok::LName,
                Tok::Equal,
                Tok::LValue,
                Tok::BraceClose,
                Tok::Whitespace,
                Tok::Value,
                Tok::Whitespace,
                Tok::Timestamp,
                Tok::Linebreak,
                Tok::Eof
            ]
        );
    }

    #[test]
    fn comments_and_help() {
        let t = toks(b"# HELP x some text\n#c\n# foo\n");
        assert_eq!(t[0].0, Tok::Help);
        assert_eq!(t[1], (Tok::MName, "x".into()));
        assert_eq!(t[2], (Tok::Text, " some text".into()));
        assert_eq!(t[3].0, Tok::Linebreak);
        assert_eq!(t[4], (Tok::Comment, "#c".into()));
        assert_eq!(t[6], (Tok::Comment, "# foo".into()));
    }

    #[test]
    fn nul_at_line_start_ends_input() {
        let t = toks(b"\0garbage");
        assert_eq!(t[0].0, Tok::Eof);
    }
}
