//! Tokens of the expression language.

#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    /// A bare word: attribute name, function name or keyword (AND, SET, ...).
    Ident(String),
    /// `#name` placeholder (without the `#`... kept whole for messages).
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
}

/// Splits an expression into tokens. An unexpected character becomes an error at its offset.
pub fn tokenize(src: &str) -> Result<Vec<Token>, usize> {
    let bytes = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        let word_end = |from: usize| {
            let mut j = from;
            while j < bytes.len() && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_') {
                j += 1;
            }
            j
        };
        let tok = match c {
            b'#' | b':' => {
                let end = word_end(i + 1);
                if end == i + 1 {
                    return Err(i);
                }
                i = end;
                let text = src[start..end].to_owned();
                if c == b'#' {
                    Tok::Name(text)
                } else {
                    Tok::Value(text)
                }
            }
            b'0'..=b'9' => {
                let mut j = i;
                while j < bytes.len() && bytes[j].is_ascii_digit() {
                    j += 1;
                }
                i = j;
                Tok::Int(src[start..j].to_owned())
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
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
                    _ => return Err(i),
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
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokenizes_every_kind() {
        let toks: Vec<Tok> = tokenize("a.b[3] <> :v AND #n>=size(x)")
            .unwrap()
            .into_iter()
            .map(|t| t.tok)
            .collect();
        assert_eq!(
            toks,
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
        assert_eq!(tokenize("a = $").unwrap_err(), 4);
        assert!(tokenize("# = :").is_err());
    }
}
