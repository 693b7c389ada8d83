//! The raw text of `openclaw.json` before the JSON5 parser sees it: a cheap
//! tokenizer that bounds the nesting depth (the parser recurses once per level
//! and a few thousand levels overflow a thread's stack) and, when the parser
//! has refused the text, finds the first mistake and says it in words.
//!
//! The `json5` crate stays the parser; this only looks at punctuation, quotes
//! and comments, so a bracket inside a string or a comment never counts.

use std::fmt;

/// Deepest nesting of objects and arrays a config may have. Real configs use
/// under ten; the reference's schema has no section deeper than about eight.
pub const MAX_DEPTH: usize = 128;

/// A 1-based line and column (columns count characters, not bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token<'a> {
    /// One of `{ } [ ] : ,`.
    Punct(char),
    /// A quoted string (its text without the quotes, escapes left as written).
    Str(&'a str),
    /// Anything else up to the next space, punctuation, quote or comment:
    /// a key name, a number, `true`, `false`, `null`, or a typo.
    Word(&'a str),
    /// A string or block comment that never ends.
    Unterminated(&'static str),
    End,
}

struct Tokens<'a> {
    text: &'a str,
    offset: usize,
    pos: Position,
}

impl<'a> Tokens<'a> {
    fn new(text: &'a str) -> Self {
        Tokens {
            text,
            offset: 0,
            pos: Position { line: 1, column: 1 },
        }
    }

    fn peek_char(&self) -> Option<char> {
        self.text[self.offset..].chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek_char()?;
        self.offset += c.len_utf8();
        if c == '\n' {
            self.pos.line += 1;
            self.pos.column = 1;
        } else {
            self.pos.column += 1;
        }
        Some(c)
    }

    fn rest(&self) -> &'a str {
        &self.text[self.offset..]
    }

    /// Skip spaces and comments; an unterminated block comment is reported.
    fn skip_blank(&mut self) -> Option<(Position, Token<'a>)> {
        loop {
            let rest = self.rest();
            if rest.starts_with("//") {
                while self.peek_char().is_some_and(|c| c != '\n') {
                    self.bump();
                }
            } else if let Some(body) = rest.strip_prefix("/*") {
                let start = self.pos;
                match body.find("*/") {
                    Some(end) => {
                        let stop = self.offset + 2 + end + 2;
                        while self.offset < stop {
                            self.bump();
                        }
                    }
                    None => return Some((start, Token::Unterminated("comment"))),
                }
            } else if self
                .peek_char()
                .is_some_and(|c| c.is_whitespace() || c == '\u{FEFF}')
            {
                self.bump();
            } else {
                return None;
            }
        }
    }

    fn next_token(&mut self) -> (Position, Token<'a>) {
        if let Some(unterminated) = self.skip_blank() {
            return unterminated;
        }
        let start = self.pos;
        let Some(c) = self.peek_char() else {
            return (start, Token::End);
        };
        match c {
            '{' | '}' | '[' | ']' | ':' | ',' => {
                self.bump();
                (start, Token::Punct(c))
            }
            '"' | '\'' => {
                self.bump();
                let from = self.offset;
                loop {
                    match self.bump() {
                        // A raw line break ends a string in JSON5 (only an
                        // escaped one continues it).
                        None | Some('\n') => return (start, Token::Unterminated("string")),
                        Some('\\') => {
                            self.bump();
                        }
                        Some(q) if q == c => {
                            let to = self.offset - q.len_utf8();
                            return (start, Token::Str(&self.text[from..to]));
                        }
                        Some(_) => {}
                    }
                }
            }
            _ => {
                let from = self.offset;
                while let Some(c) = self.peek_char() {
                    let stops = c.is_whitespace()
                        || "{}[]:,\"'".contains(c)
                        || self.rest().starts_with("//")
                        || self.rest().starts_with("/*");
                    if stops {
                        break;
                    }
                    self.bump();
                }
                (start, Token::Word(&self.text[from..self.offset]))
            }
        }
    }
}

/// Refuse text whose objects and arrays nest deeper than [`MAX_DEPTH`],
/// before any recursive parser sees it. Linear time, no allocation.
pub fn check_nesting(text: &str) -> Result<(), String> {
    let mut tokens = Tokens::new(text);
    let mut depth = 0usize;
    loop {
        match tokens.next_token() {
            (at, Token::Punct('{' | '[')) => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(format!(
                        "{at}: objects and arrays nest deeper than {MAX_DEPTH} levels"
                    ));
                }
            }
            (_, Token::Punct('}' | ']')) => depth = depth.saturating_sub(1),
            (_, Token::End | Token::Unterminated(_)) => return Ok(()),
            _ => {}
        }
    }
}

/// What the parser expects next, in the grammar of JSON5.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// The whole document's value.
    TopValue,
    /// A value after `:` or in an array.
    Value,
    /// A key, or `}` to close the object.
    KeyOrClose,
    /// `:` after a key.
    Colon,
    /// `,` or the closer after a member.
    CommaOrClose,
    /// Nothing after the top-level value.
    End,
}

fn describe(token: &Token<'_>) -> String {
    match token {
        Token::Punct(c) => format!("`{c}`"),
        Token::Str(s) => format!("the string {:?}", short(s)),
        Token::Word(w) => format!("`{}`", short(w)),
        Token::Unterminated(what) => format!("an unterminated {what}"),
        Token::End => "the end of the file".into(),
    }
}

fn short(s: &str) -> String {
    let mut out: String = s.chars().take(24).collect();
    if s.chars().count() > 24 {
        out.push('…');
    }
    out
}

fn closer(open: char) -> char {
    if open == '{' {
        '}'
    } else {
        ']'
    }
}

/// Whether a bare word is a JSON5 value: a literal or a number.
fn is_value_word(word: &str) -> bool {
    let unsigned = word.strip_prefix(['+', '-']).unwrap_or(word);
    matches!(word, "true" | "false" | "null")
        || matches!(unsigned, "Infinity" | "NaN")
        || (unsigned.len() > 2
            && unsigned[..2].eq_ignore_ascii_case("0x")
            && unsigned[2..].chars().all(|c| c.is_ascii_hexdigit()))
        || (unsigned.chars().any(|c| c.is_ascii_digit())
            && unsigned.parse::<f64>().is_ok()
            && !unsigned.ends_with(['e', 'E'])
            && unsigned
                .chars()
                .all(|c| c.is_ascii_digit() || ".eE+-".contains(c)))
}

/// Whether a bare word can be a JSON5 key (an identifier).
fn is_key_word(word: &str) -> bool {
    let mut chars = word.chars();
    chars
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '$' || c == '_' || c == '\\')
        && chars.all(|c| {
            c.is_alphanumeric()
                || c == '$'
                || c == '_'
                || c == '\\'
                || c == '\u{200C}'
                || c == '\u{200D}'
        })
}

/// The first mistake in `text` (which the JSON5 parser refused) as
/// "line L, column C: expected …, found …". `None` when this light reading
/// finds nothing wrong (the mistake is inside a string or a number); the
/// caller then falls back to the parser's position.
pub fn first_mistake(text: &str) -> Option<String> {
    let mut tokens = Tokens::new(text);
    // Open brackets with where they opened.
    let mut open: Vec<(char, Position)> = Vec::new();
    let mut expect = Expect::TopValue;
    loop {
        let (at, token) = tokens.next_token();
        if let Token::Unterminated(what) = token {
            return Some(format!("{at}: this {what} is never closed"));
        }
        let after_value = |open: &[(char, Position)]| {
            if open.is_empty() {
                Expect::End
            } else {
                Expect::CommaOrClose
            }
        };
        let wanted: String = match (expect, &token) {
            (Expect::TopValue | Expect::Value, Token::Punct(c @ ('{' | '['))) => {
                open.push((*c, at));
                expect = if *c == '{' {
                    Expect::KeyOrClose
                } else {
                    Expect::Value
                };
                continue;
            }
            (Expect::TopValue | Expect::Value, Token::Str(_)) => {
                expect = after_value(&open);
                continue;
            }
            (Expect::TopValue | Expect::Value, Token::Word(w)) if is_value_word(w) => {
                expect = after_value(&open);
                continue;
            }
            // `[` may close at once or after a trailing comma.
            (Expect::Value, Token::Punct(']')) if matches!(open.last(), Some(('[', _))) => {
                open.pop();
                expect = after_value(&open);
                continue;
            }
            (Expect::KeyOrClose, Token::Str(_)) => {
                expect = Expect::Colon;
                continue;
            }
            (Expect::KeyOrClose, Token::Word(w)) if is_key_word(w) => {
                expect = Expect::Colon;
                continue;
            }
            (Expect::KeyOrClose, Token::Punct('}')) => {
                open.pop();
                expect = after_value(&open);
                continue;
            }
            (Expect::Colon, Token::Punct(':')) => {
                expect = Expect::Value;
                continue;
            }
            (Expect::CommaOrClose, Token::Punct(',')) => {
                expect = match open.last() {
                    Some(('{', _)) => Expect::KeyOrClose,
                    _ => Expect::Value,
                };
                continue;
            }
            (Expect::CommaOrClose, Token::Punct(c @ ('}' | ']')))
                if open.last().map(|(o, _)| closer(*o)) == Some(*c) =>
            {
                open.pop();
                expect = after_value(&open);
                continue;
            }
            (Expect::End, Token::End) => return None,
            (Expect::TopValue | Expect::Value, _) => {
                "a value (a string, a number, true, false, null, an object or an array)".into()
            }
            (Expect::KeyOrClose, _) => "a key (a name or a quoted string) or `}`".into(),
            (Expect::Colon, _) => "`:` after the key".into(),
            (Expect::CommaOrClose, _) => {
                let (o, _) = open.last().copied().unwrap_or(('{', at));
                format!("`,` or `{}`", closer(o))
            }
            (Expect::End, _) => "nothing more after the top-level value".into(),
        };
        let mut message = format!("{at}: expected {wanted}, found {}", describe(&token));
        // A missing closer is the commonest slip: say which bracket is unclosed.
        if matches!(token, Token::End | Token::Punct('}' | ']')) {
            if let Some((o, opened)) = open.last() {
                message.push_str(&format!(" (the `{o}` at {opened} is not closed)"));
            }
        }
        return Some(message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(levels: usize) -> String {
        "{a:".repeat(levels) + "1" + &"}".repeat(levels)
    }

    #[test]
    fn nesting_within_the_bound_passes() {
        assert_eq!(check_nesting(&nested(MAX_DEPTH)), Ok(()));
        assert_eq!(check_nesting("[[[]]]"), Ok(()));
        assert_eq!(check_nesting(""), Ok(()));
    }

    #[test]
    fn nesting_past_the_bound_is_refused_with_its_position() {
        let err = check_nesting(&nested(MAX_DEPTH + 1)).unwrap_err();
        let column = 3 * MAX_DEPTH + 1;
        assert!(
            err.starts_with(&format!("line 1, column {column}:")),
            "{err}"
        );
        assert!(check_nesting(&"[".repeat(100_000)).is_err());
    }

    #[test]
    fn brackets_in_strings_and_comments_do_not_count() {
        let deep = "{".repeat(MAX_DEPTH * 2);
        for text in [
            format!("{{ a: \"{deep}\" }}"),
            format!("{{ a: '{deep}' }}"),
            format!("{{ a: 'it\\'s {deep}' }}"),
            format!("{{ a: \"q\\\"{deep}\" }}"),
            format!("// {deep}\n{{}}"),
            format!("/* {deep} */ {{}}"),
            format!("{{ a: 1 /* x */, b: 2 }} // {deep}"),
        ] {
            assert_eq!(check_nesting(&text), Ok(()), "{text}");
        }
        // A quote inside a comment opens no string.
        let text = format!("// it's\n{}", nested(MAX_DEPTH + 1));
        assert!(check_nesting(&text).is_err());
    }

    #[test]
    fn valid_json5_has_no_mistake() {
        for text in [
            "{}",
            "// c\n{ gateway: { port: 1, bind: 'lan', auth: { mode: \"token\", }, }, }",
            "{ a: [1, +2, -.5, 0x1F, Infinity, NaN, true, null, 'x', [], {},], $b_c: 1e3 }",
            "{ \"quoted key\": 'multi\\\nline' }",
        ] {
            assert_eq!(first_mistake(text), None, "{text}");
            assert!(json5::from_str::<serde_json::Value>(text).is_ok(), "{text}");
        }
    }

    #[test]
    fn mistakes_are_said_in_words_with_their_position() {
        let cases = [
            (
                "{ gateway: { port: 1 }",
                "line 1, column 23: expected `,` or `}`, found the end of the file (the `{` at line 1, column 1 is not closed)",
            ),
            (
                "{ gateway: { port: ",
                "line 1, column 20: expected a value (a string, a number, true, false, null, an object or an array), found the end of the file (the `{` at line 1, column 12 is not closed)",
            ),
            ("{a:1 b:2}", "line 1, column 6: expected `,` or `}`, found `b`"),
            ("{a:1,,}", "line 1, column 6: expected a key (a name or a quoted string) or `}`, found `,`"),
            ("{\n  a 1}", "line 2, column 5: expected `:` after the key, found `1`"),
            ("{a:tru}", "line 1, column 4: expected a value (a string, a number, true, false, null, an object or an array), found `tru`"),
            ("{a:1]", "line 1, column 5: expected `,` or `}`, found `]` (the `{` at line 1, column 1 is not closed)"),
            ("{a:1}}", "line 1, column 6: expected nothing more after the top-level value, found `}`"),
            ("{'a:1}", "line 1, column 2: this string is never closed"),
            ("{a:1 /* x", "line 1, column 6: this comment is never closed"),
        ];
        for (text, want) in cases {
            assert!(
                json5::from_str::<serde_json::Value>(text).is_err(),
                "{text}"
            );
            assert_eq!(first_mistake(text).as_deref(), Some(want), "{text}");
        }
    }
}
