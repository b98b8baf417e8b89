//! A tokenizer for the heads of DDL statements, and a cursor over its
//! tokens that reads keywords and (possibly qualified) names.

use super::TableName;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Token {
    /// An unquoted word: keyword or identifier.
    Word(String),
    /// A backquoted identifier, unescaped.
    Quoted(String),
    /// A string literal (its content is never needed).
    Str,
    Punct(char),
}

impl Token {
    pub fn is_kw(&self, kw: &str) -> bool {
        matches!(self, Token::Word(w) if w.eq_ignore_ascii_case(kw))
    }

    pub fn ident(&self) -> Option<String> {
        match self {
            Token::Word(w) | Token::Quoted(w) => Some(w.clone()),
            _ => None,
        }
    }
}

/// How the server read the statement: which quote starts a string and
/// whether a backslash escapes the next character in one. Lexing with other
/// rules than the server's would let a string hide a name from ferry, or a
/// name hide in a string.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Quoting {
    /// `ANSI_QUOTES`: `"` quotes an identifier, as a backquote does.
    pub ansi_quotes: bool,
    /// `NO_BACKSLASH_ESCAPES`: a backslash is an ordinary character.
    pub no_backslash_escapes: bool,
}

/// Splits `sql` into tokens, dropping whitespace and comments. The content of
/// MySQL's executable comments (`/*!50100 ... */`, `/*M!100100 ... */`) is
/// kept, since the server runs it.
pub(super) fn tokenize(sql: &str, quoting: Quoting) -> Vec<Token> {
    let chars: Vec<char> = sql.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        match c {
            c if c.is_whitespace() => i += 1,
            '/' if next == Some('*') => {
                let executable = matches!(chars.get(i + 2), Some('!'))
                    || (chars.get(i + 2) == Some(&'M') && chars.get(i + 3) == Some(&'!'));
                if executable {
                    i += if chars[i + 2] == 'M' { 4 } else { 3 };
                    while i < chars.len() && chars[i].is_ascii_digit() {
                        i += 1;
                    }
                } else {
                    i += 2;
                    while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                        i += 1;
                    }
                    i += 2;
                }
            }
            '*' if next == Some('/') => i += 2,
            '#' => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '-' if next == Some('-') && chars.get(i + 2).is_none_or(|c| c.is_whitespace()) => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '`' | '"' if c == '`' || quoting.ansi_quotes => {
                // Identifiers know no backslash escapes, only a doubled quote.
                let quote = c;
                let mut name = String::new();
                i += 1;
                while i < chars.len() {
                    if chars[i] == quote {
                        if chars.get(i + 1) == Some(&quote) {
                            name.push(quote);
                            i += 2;
                            continue;
                        }
                        i += 1;
                        break;
                    }
                    name.push(chars[i]);
                    i += 1;
                }
                tokens.push(Token::Quoted(name));
            }
            '\'' | '"' => {
                let quote = c;
                i += 1;
                while i < chars.len() {
                    if chars[i] == '\\' && !quoting.no_backslash_escapes {
                        i += 2;
                        continue;
                    }
                    if chars[i] == quote {
                        if chars.get(i + 1) == Some(&quote) {
                            i += 2;
                            continue;
                        }
                        i += 1;
                        break;
                    }
                    i += 1;
                }
                tokens.push(Token::Str);
            }
            c if c.is_alphanumeric() || c == '_' || c == '$' || !c.is_ascii() => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_alphanumeric()
                        || chars[i] == '_'
                        || chars[i] == '$'
                        || !chars[i].is_ascii())
                    && !chars[i].is_whitespace()
                {
                    i += 1;
                }
                tokens.push(Token::Word(chars[start..i].iter().collect()));
            }
            c => {
                tokens.push(Token::Punct(c));
                i += 1;
            }
        }
    }
    tokens
}

pub(super) struct Cursor {
    pub tokens: Vec<Token>,
    pub pos: usize,
}

impl Cursor {
    pub fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    pub fn eat_kw(&mut self, kw: &str) -> bool {
        if self.peek().is_some_and(|t| t.is_kw(kw)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    pub fn eat_kws(&mut self, kws: &[&str]) -> bool {
        let start = self.pos;
        for kw in kws {
            if !self.eat_kw(kw) {
                self.pos = start;
                return false;
            }
        }
        true
    }

    pub fn eat_punct(&mut self, p: char) -> bool {
        if self.peek() == Some(&Token::Punct(p)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    pub fn ident(&mut self) -> Option<String> {
        let ident = self.peek()?.ident()?;
        self.pos += 1;
        Some(ident)
    }

    pub fn table_name(&mut self) -> Option<TableName> {
        let first = self.ident()?;
        if self.eat_punct('.') {
            let name = self.ident()?;
            Some(TableName {
                schema: Some(first),
                name,
            })
        } else {
            Some(TableName {
                schema: None,
                name: first,
            })
        }
    }

    /// Skips to just after the keyword `kw` outside parentheses.
    pub fn skip_past_kw(&mut self, kw: &str) -> bool {
        let mut depth = 0i32;
        while let Some(t) = self.peek() {
            match t {
                Token::Punct('(') => depth += 1,
                Token::Punct(')') => depth -= 1,
                t if depth == 0 && t.is_kw(kw) => {
                    self.pos += 1;
                    return true;
                }
                _ => {}
            }
            self.pos += 1;
        }
        false
    }
}
