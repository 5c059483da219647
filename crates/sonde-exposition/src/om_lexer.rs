//! Lexer of the OpenMetrics 1.0 text format, token for token what
//! Prometheus 2.42's `openmetricslex.l` produces.
//!
//! Invariants: single spaces are part of the tokens they precede (there is
//! no whitespace token; a second space is invalid), a line ends with
//! exactly `'\n'`, `i <= body.len()` at all times, and NUL bytes are skipped
//! only in label values of the series, HELP/TYPE/UNIT text and after `# `.

use crate::lexer::{is_lname_char, is_lname_start, is_mname_char, is_mname_start, State, Tok};

pub(crate) struct OmLexer<'a> {
    b: &'a [u8],
    pub(crate) i: usize,
    pub(crate) start: usize,
    pub(crate) state: State,
}

/// `[^ \n]` without NUL: bytes of a value or timestamp.
fn is_field_byte(c: u8) -> bool {
    !matches!(c, 0 | b' ' | b'\n')
}

impl<'a> OmLexer<'a> {
    pub(crate) fn new(b: &'a [u8]) -> Self {
        OmLexer {
            b,
            i: 0,
            start: 0,
            state: State::Init,
        }
    }

    pub(crate) fn token(&self) -> &'a [u8] {
        let end = self.i.min(self.b.len());
        &self.b[self.start.min(end)..end]
    }

    /// The byte at the current position, `' '` past the end (upstream uses
    /// this only in error messages).
    pub(crate) fn cur(&self) -> u8 {
        self.b.get(self.i).copied().unwrap_or(b' ')
    }

    fn next(&mut self) -> u8 {
        self.i += 1;
        if self.i >= self.b.len() {
            self.i = self.b.len();
            return 0;
        }
        if matches!(self.state, State::LValue | State::Meta2 | State::Comment) {
            while self.b[self.i] == 0 {
                self.i += 1;
                if self.i >= self.b.len() {
                    return 0;
                }
            }
        }
        self.b[self.i]
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

    pub(crate) fn lex(&mut self) -> Tok {
        if self.i >= self.b.len() {
            return Tok::Eof;
        }
        let c = self.b[self.i];
        self.start = self.i;
        match self.state {
            State::Init => match c {
                b'#' => {
                    if self.next() != b' ' {
                        return Tok::Invalid;
                    }
                    let c = self.next();
                    self.state = State::Comment;
                    self.comment(c)
                }
                c if is_mname_start(c) => {
                    self.skip_while(is_mname_char);
                    self.state = State::Value;
                    Tok::MName
                }
                _ => Tok::Invalid,
            },
            State::Comment => self.comment(c),
            State::Meta1 => {
                if !is_mname_start(c) {
                    return Tok::Invalid;
                }
                self.skip_while(is_mname_char);
                self.state = State::Meta2;
                Tok::MName
            }
            State::Meta2 => self.meta_text(c),
            State::Labels | State::Exemplar => self.labels(c),
            State::LValue => {
                if c != b'"' {
                    return Tok::Invalid;
                }
                self.label_value(State::Labels)
            }
            State::Value => match c {
                b' ' => self.field(State::Timestamp, Tok::Value),
                b'{' => {
                    self.next();
                    self.state = State::Labels;
                    Tok::BraceOpen
                }
                _ => Tok::Invalid,
            },
            State::Timestamp => match c {
                b'\n' => self.linebreak(),
                b' ' => self.timestamp_or_exemplar(),
                _ => Tok::Invalid,
            },
            State::EValue => match c {
                b' ' => self.field(State::ETimestamp, Tok::Value),
                b'"' => self.label_value(State::Exemplar),
                _ => Tok::Invalid,
            },
            State::ETimestamp => match c {
                b'\n' => self.linebreak(),
                b' ' => self.field(State::ETimestamp, Tok::Timestamp),
                _ => Tok::Invalid,
            },
        }
    }

    fn linebreak(&mut self) -> Tok {
        self.next();
        self.state = State::Init;
        Tok::Linebreak
    }

    /// After `# `: `EOF\n?`, `HELP `, `TYPE `, `UNIT `; nothing else.
    fn comment(&mut self, c: u8) -> Tok {
        let (rest, tok): (&[u8], Tok) = match c {
            b'E' => (b"OF", Tok::EofWord),
            b'H' => (b"ELP ", Tok::Help),
            b'T' => (b"YPE ", Tok::Type),
            b'U' => (b"NIT ", Tok::Unit),
            _ => return Tok::Invalid,
        };
        for &want in rest {
            if self.next() != want {
                return Tok::Invalid;
            }
        }
        let c = self.next();
        if tok == Tok::EofWord {
            if c == b'\n' {
                self.next();
            }
            self.state = State::Init;
        } else {
            self.state = State::Meta1;
        }
        tok
    }

    /// ` [^\n]*\n`: the text token includes the leading space and the
    /// newline.
    fn meta_text(&mut self, c: u8) -> Tok {
        if c != b' ' {
            return Tok::Invalid;
        }
        // NULs are skipped in this state: the text runs to the next newline.
        if let Some(off) = memchr::memchr(b'\n', &self.b[self.i..]) {
            self.i += off - 1;
        }
        loop {
            match self.next() {
                b'\n' => {
                    self.next();
                    self.state = State::Init;
                    return Tok::Text;
                }
                0 => return Tok::Invalid,
                _ => {}
            }
        }
    }

    /// Label names, `=`, `,` and `}` of the series (state `Labels`) or of
    /// the exemplar (state `Exemplar`).
    fn labels(&mut self, c: u8) -> Tok {
        let exemplar = self.state == State::Exemplar;
        match c {
            b',' => {
                self.next();
                Tok::Comma
            }
            b'=' => {
                self.next();
                self.state = if exemplar {
                    State::EValue
                } else {
                    State::LValue
                };
                Tok::Equal
            }
            b'}' => {
                self.next();
                self.state = if exemplar {
                    State::EValue
                } else {
                    State::Value
                };
                Tok::BraceClose
            }
            c if is_lname_start(c) => {
                self.skip_while(is_lname_char);
                Tok::LName
            }
            _ => Tok::Invalid,
        }
    }

    /// `"(\\.|[^\\"\n])*"`, then continue in `after`.
    fn label_value(&mut self, after: State) -> Tok {
        if after == State::Labels {
            // Series label values skip NULs: jump to the next byte that
            // matters. Exemplar values take the byte-wise path below.
            if let Some(off) = memchr::memchr3(b'"', b'\\', b'\n', &self.b[self.i + 1..]) {
                self.i += off;
            }
        }
        loop {
            match self.next() {
                b'"' => {
                    self.next();
                    self.state = after;
                    return Tok::LValue;
                }
                b'\\' => match self.next() {
                    0 | b'\n' => return Tok::Invalid,
                    _ => {}
                },
                0 | b'\n' => return Tok::Invalid,
                _ => {}
            }
        }
    }

    /// ` [^ \n]+`, then continue in `after`.
    fn field(&mut self, after: State, tok: Tok) -> Tok {
        if !is_field_byte(self.next()) {
            return Tok::Invalid;
        }
        self.skip_while(is_field_byte);
        self.state = after;
        tok
    }

    /// In state `Timestamp` at a space: ` [^ \n]+` is a timestamp, ` # {`
    /// opens an exemplar. No backtracking: ` # x` is invalid, ` #` alone is
    /// a timestamp.
    fn timestamp_or_exemplar(&mut self) -> Tok {
        let c = self.next();
        if c == b'#' {
            let c = self.next();
            if c == b' ' {
                if self.next() != b'{' {
                    return Tok::Invalid;
                }
                self.next();
                self.state = State::Exemplar;
                return Tok::Comment;
            }
            if is_field_byte(c) {
                self.skip_while(is_field_byte);
            }
            return Tok::Timestamp;
        }
        if !is_field_byte(c) {
            return Tok::Invalid;
        }
        self.skip_while(is_field_byte);
        Tok::Timestamp
    }
}
