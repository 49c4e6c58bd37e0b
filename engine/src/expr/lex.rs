//! Tokens of the expression language.
//!
//! Tokenizing never fails: a character that starts no token becomes an [`Tok::Unknown`] token,
//! so the parser reports it as DynamoDB does, as a syntax error at that token with its
//! neighbours as the "near" text (`Syntax error; token: "_", near: "SET _a"`).

#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    /// A bare word: attribute name, function name or keyword (AND, SET, ...). Starts with an
    /// ASCII letter, goes on with letters, digits and `_`.
    Ident(String),
    /// `#name` placeholder (kept whole, `#` included, for messages).
    Name(String),
    /// `:value` placeholder (kept whole).
    Value(String),
    /// Digits, only meaningful as a list index.
    Int(String),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Dot,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Plus,
    Minus,
    /// A character that starts no token (`_`, `$`, a lone `#` or `:`, ...).
    Unknown(String),
    Eof,
}

#[derive(Clone, Debug)]
pub struct Token {
    pub tok: Tok,
    /// Byte range in the source.
    pub start: usize,
    pub end: usize,
}

impl Tok {
    pub fn is_keyword(&self, kw: &str) -> bool {
        matches!(self, Tok::Ident(s) if s.eq_ignore_ascii_case(kw))
    }

    /// A comparison operator (`=`, `<>`, `<`, `<=`, `>`, `>=`).
    pub fn is_comparator(&self) -> bool {
        matches!(
            self,
            Tok::Eq | Tok::Ne | Tok::Lt | Tok::Le | Tok::Gt | Tok::Ge
        )
    }
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Splits an expression into tokens, ending with [`Tok::Eof`].
pub fn tokenize(src: &str) -> Vec<Token> {
    let bytes = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&c) = bytes.get(i) {
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        let word_end = |from: usize| {
            let mut j = from;
            while bytes.get(j).copied().is_some_and(is_word_byte) {
                j += 1;
            }
            j
        };
        let tok = match c {
            b'#' | b':' if bytes.get(i + 1).copied().is_some_and(is_word_byte) => {
                i = word_end(i + 1);
                let text = src[start..i].to_owned();
                if c == b'#' {
                    Tok::Name(text)
                } else {
                    Tok::Value(text)
                }
            }
            b'0'..=b'9' => {
                while bytes.get(i).is_some_and(u8::is_ascii_digit) {
                    i += 1;
                }
                Tok::Int(src[start..i].to_owned())
            }
            c if c.is_ascii_alphabetic() => {
                i = word_end(i);
                Tok::Ident(src[start..i].to_owned())
            }
            _ => {
                let two = bytes.get(i + 1).copied();
                let (t, len) = match (c, two) {
                    (b'<', Some(b'>')) => (Tok::Ne, 2),
                    (b'<', Some(b'=')) => (Tok::Le, 2),
                    (b'>', Some(b'=')) => (Tok::Ge, 2),
                    (b'<', _) => (Tok::Lt, 1),
                    (b'>', _) => (Tok::Gt, 1),
                    (b'=', _) => (Tok::Eq, 1),
                    (b'(', _) => (Tok::LParen, 1),
                    (b')', _) => (Tok::RParen, 1),
                    (b'[', _) => (Tok::LBracket, 1),
                    (b']', _) => (Tok::RBracket, 1),
                    (b',', _) => (Tok::Comma, 1),
                    (b'.', _) => (Tok::Dot, 1),
                    (b'+', _) => (Tok::Plus, 1),
                    (b'-', _) => (Tok::Minus, 1),
                    _ => {
                        let ch = src[i..].chars().next().unwrap_or(' ');
                        (Tok::Unknown(ch.to_string()), ch.len_utf8())
                    }
                };
                i += len;
                t
            }
        };
        out.push(Token { tok, start, end: i });
    }
    out.push(Token {
        tok: Tok::Eof,
        start: src.len(),
        end: src.len(),
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        tokenize(s).into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn tokenizes_every_kind() {
        assert_eq!(
            toks("a.b[3] <> :v AND #n>=size(x)"),
            vec![
                Tok::Ident("a".into()),
                Tok::Dot,
                Tok::Ident("b".into()),
                Tok::LBracket,
                Tok::Int("3".into()),
                Tok::RBracket,
                Tok::Ne,
                Tok::Value(":v".into()),
                Tok::Ident("AND".into()),
                Tok::Name("#n".into()),
                Tok::Ge,
                Tok::Ident("size".into()),
                Tok::LParen,
                Tok::Ident("x".into()),
                Tok::RParen,
                Tok::Eof
            ]
        );
    }

    #[test]
    fn characters_that_start_no_token_are_unknown_tokens() {
        assert_eq!(toks("a = $")[2], Tok::Unknown("$".into()));
        assert_eq!(
            toks("# = :"),
            vec![
                Tok::Unknown("#".into()),
                Tok::Eq,
                Tok::Unknown(":".into()),
                Tok::Eof
            ]
        );
        // Bare words start with a letter: `_a` is `_` then `a`.
        assert_eq!(
            toks("_a1_"),
            vec![Tok::Unknown("_".into()), Tok::Ident("a1_".into()), Tok::Eof]
        );
        // Placeholders may start with a digit or `_`.
        assert_eq!(
            toks("#_1 :9")[..2],
            [Tok::Name("#_1".into()), Tok::Value(":9".into())]
        );
        let t = tokenize("a é");
        assert_eq!(t[1].tok, Tok::Unknown("é".into()));
        assert_eq!((t[1].start, t[1].end), (2, 4));
    }
}
