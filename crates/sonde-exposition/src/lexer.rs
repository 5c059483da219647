//! Tokens and byte classes shared by the two text-format lexers.
//!
//! Invariants: the lexers in [`crate::prom_lexer`] and [`crate::om_lexer`]
//! recognise exactly the token languages of Prometheus 2.42's golex lexers
//! (`promlex.l`, `openmetricslex.l`), including their quirks: a token is
//! the longest match reached *without backtracking* (a DFA that dies after
//! passing an accepting state yields an invalid token, as golex does), NUL
//! bytes are skipped inside label values, HELP text and comments, and a
//! token never points outside the body.

/// A lexical token. The bytes of the token are `body[start..end]` of the
/// lexer that produced it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tok {
    Invalid,
    Eof,
    Linebreak,
    Whitespace,
    Help,
    Type,
    Unit,
    EofWord,
    Text,
    Comment,
    MName,
    BraceOpen,
    BraceClose,
    LName,
    LValue,
    Comma,
    Equal,
    Timestamp,
    Value,
}

impl Tok {
    /// The name Prometheus uses for the token in its error messages.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Tok::Invalid => "INVALID",
            Tok::Eof => "EOF",
            Tok::Linebreak => "LINEBREAK",
            Tok::Whitespace => "WHITESPACE",
            Tok::Help => "HELP",
            Tok::Type => "TYPE",
            Tok::Unit => "UNIT",
            Tok::EofWord => "EOFWORD",
            Tok::Text => "TEXT",
            Tok::Comment => "COMMENT",
            Tok::MName => "MNAME",
            Tok::BraceOpen => "BOPEN",
            Tok::BraceClose => "BCLOSE",
            Tok::LName => "LNAME",
            Tok::LValue => "LVALUE",
            Tok::Comma => "COMMA",
            Tok::Equal => "EQUAL",
            Tok::Timestamp => "TIMESTAMP",
            Tok::Value => "VALUE",
        }
    }
}

/// Lexer start conditions (the `%x` states of the golex sources).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    Init,
    Comment,
    Meta1,
    Meta2,
    Labels,
    LValue,
    Value,
    Timestamp,
    Exemplar,
    EValue,
    ETimestamp,
}

/// Byte classes as bit flags in one table, so the hot scans test a byte
/// with one load.
const MSTART: u8 = 1;
const MCHAR: u8 = 2;
const LSTART: u8 = 4;
const LCHAR: u8 = 8;

const CLASSES: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        let alpha = b.is_ascii_alphabetic() || b == b'_';
        let digit = b.is_ascii_digit();
        let mut f = 0;
        if alpha || b == b':' {
            f |= MSTART | MCHAR;
        }
        if digit {
            f |= MCHAR | LCHAR;
        }
        if alpha {
            f |= LSTART | LCHAR;
        }
        t[c] = f;
        c += 1;
    }
    t
};

/// `[a-zA-Z_:]`
pub(crate) fn is_mname_start(c: u8) -> bool {
    CLASSES[c as usize] & MSTART != 0
}

/// `[a-zA-Z0-9_:]`
pub(crate) fn is_mname_char(c: u8) -> bool {
    CLASSES[c as usize] & MCHAR != 0
}

/// `[a-zA-Z_]`
pub(crate) fn is_lname_start(c: u8) -> bool {
    CLASSES[c as usize] & LSTART != 0
}

/// `[a-zA-Z0-9_]`
pub(crate) fn is_lname_char(c: u8) -> bool {
    CLASSES[c as usize] & LCHAR != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_match_their_regexes() {
        for c in 0..=255u8 {
            let alpha = c.is_ascii_alphabetic() || c == b'_';
            assert_eq!(is_mname_start(c), alpha || c == b':', "{c}");
            assert_eq!(
                is_mname_char(c),
                alpha || c == b':' || c.is_ascii_digit(),
                "{c}"
            );
            assert_eq!(is_lname_start(c), alpha, "{c}");
            assert_eq!(is_lname_char(c), alpha || c.is_ascii_digit(), "{c}");
        }
    }
}
