//! TiDB table-filter rules (the syntax of TiCDC's `filter.rules`, Dumpling's
//! and Lightning's `-f`).
//!
//! Each rule is `schema-pattern.table-pattern`. A pattern is a plain name, a
//! wildcard (`*` any run of characters, `?` one character, `[a-z]` a
//! character class, `[!a-z]` a negated class), a quoted name (`` `a.b` `` or
//! `"a.b"`, where a doubled quote stands for itself and nothing is special),
//! or a regular expression between slashes (`/^log_\d+$/`). Outside quotes a
//! backslash makes the next punctuation character literal (`db\.x.*`). A rule
//! starting with `!` excludes what it matches; blank lines and `#` comments
//! are ignored. The last rule that matches a table decides; a table matched
//! by no rule is not replicated, and the system schemas never are.
//!
//! Matching ignores case, as TiCDC does by default (`case-sensitive = false`).
//!
//! Limits, so that a request cannot make ferry compile unbounded automata:
//! at most [`MAX_RULES`] rules of [`MAX_RULE_LENGTH`] bytes each, and every
//! compiled expression within [`REGEX_SIZE_LIMIT`] (the regex crate refuses
//! to build a bigger one). Callers on async threads parse on the blocking
//! pool.

use regex::Regex;

/// Schemas that hold the server's own data; replicating them would overwrite
/// the downstream's users, privileges and statistics.
pub const SYSTEM_SCHEMAS: [&str; 4] = ["mysql", "information_schema", "performance_schema", "sys"];

/// Most rules in one list.
pub const MAX_RULES: usize = 256;
/// Longest rule, in bytes.
pub const MAX_RULE_LENGTH: usize = 512;
/// Largest compiled expression (the regex crate's own measure).
pub const REGEX_SIZE_LIMIT: usize = 256 * 1024;

/// Compiles a pattern case-insensitively within [`REGEX_SIZE_LIMIT`].
fn compile(expr: &str) -> Result<Regex, regex::Error> {
    regex::RegexBuilder::new(expr)
        .case_insensitive(true)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_SIZE_LIMIT)
        .build()
}

/// A parsed list of table-filter rules.
#[derive(Debug, Clone)]
pub struct TableFilter {
    rules: Vec<Rule>,
}

#[derive(Debug, Clone)]
struct Rule {
    schema: Pattern,
    table: Pattern,
    positive: bool,
}

#[derive(Debug, Clone)]
enum Pattern {
    /// A plain or quoted name, stored lower-cased.
    Literal(String),
    /// A wildcard or a regular expression, compiled case-insensitively.
    Regex(Regex),
}

impl Pattern {
    fn matches(&self, name: &str) -> bool {
        match self {
            Pattern::Literal(literal) => *literal == name.to_lowercase(),
            Pattern::Regex(re) => re.is_match(name),
        }
    }

    /// Whether the pattern is `*`, which matches every name.
    fn matches_everything(&self) -> bool {
        matches!(self, Pattern::Regex(re) if re.as_str() == "(?si)^.*$")
    }
}

impl TableFilter {
    /// Parses `rules`; an empty list means every table (`*.*`). The error
    /// names the rule that is invalid and why.
    pub fn parse(rules: &[String]) -> Result<TableFilter, String> {
        if rules.is_empty() {
            return Self::parse(&["*.*".to_owned()]);
        }
        if rules.len() > MAX_RULES {
            return Err(format!(
                "{} rules is more than the {MAX_RULES} a list may hold",
                rules.len()
            ));
        }
        if let Some(long) = rules.iter().find(|r| r.len() > MAX_RULE_LENGTH) {
            let head: String = long.chars().take(40).collect();
            return Err(format!(
                "rule `{head}...` is longer than {MAX_RULE_LENGTH} bytes"
            ));
        }
        let mut parsed = Vec::with_capacity(rules.len());
        for rule in rules {
            if let Some(rule) =
                parse_rule(rule).map_err(|e| format!("invalid rule `{rule}`: {e}"))?
            {
                parsed.push(rule);
            }
        }
        Ok(TableFilter { rules: parsed })
    }

    /// Whether changes to `schema`.`table` are replicated.
    pub fn matches(&self, schema: &str, table: &str) -> bool {
        if is_system_schema(schema) {
            return false;
        }
        self.rules
            .iter()
            .rev()
            .find(|rule| rule.schema.matches(schema) && rule.table.matches(table))
            .is_some_and(|rule| rule.positive)
    }

    /// Whether any table of `schema` could be replicated, which decides
    /// whether `CREATE DATABASE` and `DROP DATABASE` are. As in TiDB, the last
    /// rule whose schema pattern matches decides when its table pattern is
    /// `*`; a positive rule for only some tables also counts, a negative one
    /// for only some tables does not exclude the schema.
    pub fn matches_schema(&self, schema: &str) -> bool {
        if is_system_schema(schema) {
            return false;
        }
        for rule in self.rules.iter().rev() {
            if !rule.schema.matches(schema) {
                continue;
            }
            if rule.table.matches_everything() || rule.positive {
                return rule.positive;
            }
        }
        false
    }
}

fn is_system_schema(schema: &str) -> bool {
    SYSTEM_SCHEMAS
        .iter()
        .any(|system| system.eq_ignore_ascii_case(schema))
}

/// One rule, or `None` for a blank line or a comment.
fn parse_rule(rule: &str) -> Result<Option<Rule>, String> {
    let line = rule.trim_matches([' ', '\t']);
    let (positive, line) = match line.chars().next() {
        None | Some('#') => return Ok(None),
        Some('!') => (false, &line[1..]),
        Some('@') => return Err("importing rules from a file is not supported".into()),
        Some(_) => (true, line),
    };
    let (schema, rest) = parse_pattern(line)?;
    let rest = match rest.strip_prefix('.') {
        Some(rest) => rest,
        None if rest.is_empty() => return Err("missing table pattern".into()),
        None => return Err("missing '.' between schema and table patterns".into()),
    };
    let (table, rest) = parse_pattern(rest)?;
    if !rest.is_empty() {
        return Err(format!(
            "stray characters after the table pattern: `{rest}`"
        ));
    }
    Ok(Some(Rule {
        schema,
        table,
        positive,
    }))
}

/// Parses one pattern at the start of `input`; returns it and what follows.
fn parse_pattern(input: &str) -> Result<(Pattern, &str), String> {
    match input.chars().next() {
        None => Err("missing pattern".into()),
        Some(quote @ ('`' | '"')) => parse_quoted(input, quote),
        Some('/') => parse_regex(input),
        Some(_) => parse_wildcard(input),
    }
}

/// `` `name` `` or `"name"`: a literal in which a doubled quote is one quote.
fn parse_quoted(input: &str, quote: char) -> Result<(Pattern, &str), String> {
    let mut name = String::new();
    let mut chars = input.char_indices().skip(1).peekable();
    while let Some((i, c)) = chars.next() {
        if c != quote {
            name.push(c);
            continue;
        }
        if chars.peek().is_some_and(|&(_, next)| next == quote) {
            chars.next();
            name.push(quote);
            continue;
        }
        if name.is_empty() {
            return Err("empty quoted name".into());
        }
        return Ok((Pattern::Literal(name.to_lowercase()), &input[i + 1..]));
    }
    Err(format!(
        "unterminated quoted name (missing closing {quote})"
    ))
}

/// `/regex/`, where `\/` does not end the expression.
fn parse_regex(input: &str) -> Result<(Pattern, &str), String> {
    let body_start = 1;
    let mut escaped = false;
    for (i, c) in input.char_indices().skip(1) {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '/' if i == body_start => return Err("empty regular expression".into()),
            '/' => {
                let expr = &input[body_start..i];
                let re = compile(expr)
                    .map_err(|e| format!("invalid regular expression /{expr}/: {e}"))?;
                return Ok((Pattern::Regex(re), &input[i + 1..]));
            }
            _ => {}
        }
    }
    Err("unterminated regular expression (missing closing /)".into())
}

/// A plain name or a wildcard pattern, up to the next unescaped `.`.
fn parse_wildcard(input: &str) -> Result<(Pattern, &str), String> {
    let mut literal = String::new();
    let mut regex = String::from("(?si)^");
    let mut is_literal = true;
    let mut rest = input;
    while let Some(c) = rest.chars().next() {
        match c {
            '.' => break,
            '\\' => {
                let escaped = rest[1..]
                    .chars()
                    .next()
                    .ok_or("a `\\` cannot end the pattern")?;
                if escaped.is_ascii_alphanumeric() {
                    return Err(format!(
                        "cannot escape a letter or digit (`\\{escaped}`); only punctuation can be escaped"
                    ));
                }
                literal.push(escaped);
                regex.push_str(&regex::escape(&escaped.to_string()));
                rest = &rest[1 + escaped.len_utf8()..];
            }
            '*' => {
                is_literal = false;
                regex.push_str(".*");
                rest = &rest[1..];
            }
            '?' => {
                is_literal = false;
                regex.push('.');
                rest = &rest[1..];
            }
            '[' => {
                is_literal = false;
                let (class, after) = parse_class(rest)?;
                regex.push_str(&class);
                rest = after;
            }
            c if c == '$' || c == '_' || c.is_ascii_alphanumeric() || !c.is_ascii() => {
                literal.push(c);
                regex.push_str(&regex::escape(&c.to_string()));
                rest = &rest[c.len_utf8()..];
            }
            c => {
                return Err(format!(
                    "unexpected special character `{c}` (quote the name with backquotes or escape it with `\\`)"
                ));
            }
        }
    }
    if rest.len() == input.len() {
        return Err("missing pattern".into());
    }
    if is_literal {
        return Ok((Pattern::Literal(literal.to_lowercase()), rest));
    }
    regex.push('$');
    let re = compile(&regex).map_err(|e| format!("invalid wildcard: {e}"))?;
    Ok((Pattern::Regex(re), rest))
}

/// A character class at the start of `input` (which begins with `[`), as a
/// regex class. `[!...]` negates; `^` right after `[` is an ordinary
/// character; `\` makes the next punctuation character literal; `-` between
/// two characters is a range.
fn parse_class(input: &str) -> Result<(String, &str), String> {
    let mut class = String::from("[");
    let mut body = &input[1..];
    if let Some(after) = body.strip_prefix('!') {
        class.push('^');
        body = after;
    }
    let mut members = 0;
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            ']' if members > 0 => {
                class.push(']');
                return Ok((class, &body[i + 1..]));
            }
            ']' => return Err("empty character class `[]`".into()),
            '\\' => {
                let (_, escaped) = chars
                    .next()
                    .ok_or("unterminated character class (missing `]`)")?;
                if escaped.is_ascii_alphanumeric() {
                    return Err(format!(
                        "cannot escape a letter or digit (`\\{escaped}`) in a character class"
                    ));
                }
                class.push('\\');
                class.push(escaped);
                members += 1;
            }
            '-' if members > 0 => class.push('-'),
            // Everything else stands for itself inside the class; regex
            // metacharacters are escaped so that `[^]` or `[&&]` stay literal.
            c if matches!(c, '^' | '[' | '&' | '~' | '-') => {
                class.push('\\');
                class.push(c);
                members += 1;
            }
            c => {
                class.push(c);
                members += 1;
            }
        }
    }
    Err("unterminated character class (missing `]`)".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(rules: &[&str]) -> TableFilter {
        let rules: Vec<String> = rules.iter().map(|r| (*r).to_owned()).collect();
        TableFilter::parse(&rules).unwrap_or_else(|e| panic!("{rules:?}: {e}"))
    }

    fn error(rule: &str) -> String {
        TableFilter::parse(&[rule.to_owned()]).expect_err(rule)
    }

    #[test]
    fn empty_list_means_everything() {
        let f = filter(&[]);
        assert!(f.matches("app", "users"));
        assert!(f.matches_schema("app"));
    }

    #[test]
    fn plain_names() {
        let f = filter(&["db1.tbl1", "db2.tbl2"]);
        assert!(f.matches("db1", "tbl1"));
        assert!(f.matches("db2", "tbl2"));
        assert!(!f.matches("db1", "tbl2"));
        assert!(!f.matches("db3", "tbl1"));
    }

    #[test]
    fn star_and_question_mark() {
        let f = filter(&["app_*.user?", "logs.*"]);
        assert!(f.matches("app_eu", "users"));
        assert!(f.matches("app_", "user1"));
        assert!(!f.matches("app_eu", "user"));
        assert!(!f.matches("app_eu", "users_old"));
        assert!(f.matches("logs", "anything"));
        assert!(!f.matches("app", "users"));
    }

    #[test]
    fn character_classes_and_ranges() {
        let f = filter(&["db[0-9].t[abc]"]);
        assert!(f.matches("db5", "tb"));
        assert!(!f.matches("dbx", "tb"));
        assert!(!f.matches("db5", "td"));
        assert!(!f.matches("db10", "ta"));
    }

    #[test]
    fn negated_character_class() {
        let f = filter(&["db[!0-9].*"]);
        assert!(f.matches("dbx", "t"));
        assert!(!f.matches("db1", "t"));
    }

    #[test]
    fn caret_in_class_is_literal() {
        let f = filter(&["db[^x].*"]);
        assert!(f.matches("db^", "t"));
        assert!(f.matches("dbx", "t"));
        assert!(!f.matches("dby", "t"));
    }

    #[test]
    fn escaped_punctuation_in_class() {
        let f = filter(&[r"db[\]\-].*"]);
        assert!(f.matches("db]", "t"));
        assert!(f.matches("db-", "t"));
        assert!(!f.matches("dbx", "t"));
    }

    #[test]
    fn exclusion_and_last_rule_wins() {
        let f = filter(&["*.*", "!secret.*", "secret.public_*"]);
        assert!(f.matches("app", "t"));
        assert!(!f.matches("secret", "keys"));
        assert!(f.matches("secret", "public_keys"));

        let g = filter(&["secret.public_*", "!secret.*"]);
        assert!(!g.matches("secret", "public_keys"));
    }

    #[test]
    fn unmatched_tables_are_not_replicated() {
        let f = filter(&["!app.tmp_*"]);
        assert!(!f.matches("app", "users"));
        assert!(!f.matches("app", "tmp_1"));
    }

    #[test]
    fn system_schemas_never_match() {
        let f = filter(&["*.*", "mysql.user"]);
        for schema in [
            "mysql",
            "MySQL",
            "information_schema",
            "performance_schema",
            "sys",
        ] {
            assert!(!f.matches(schema, "user"), "{schema}");
            assert!(!f.matches_schema(schema), "{schema}");
        }
    }

    #[test]
    fn backquoted_and_double_quoted_names() {
        let f = filter(&["`db.with.dots`.`t*`", r#""a""b".tbl"#, "`x``y`.z"]);
        assert!(f.matches("db.with.dots", "t*"));
        assert!(
            !f.matches("db.with.dots", "tx"),
            "wildcards are literal in quotes"
        );
        assert!(f.matches("a\"b", "tbl"));
        assert!(f.matches("x`y", "z"));
    }

    #[test]
    fn backslash_escapes() {
        let f = filter(&[r"db\.1.t\*", r"my\-app.*"]);
        assert!(f.matches("db.1", "t*"));
        assert!(!f.matches("db.1", "tx"));
        assert!(f.matches("my-app", "t"));
    }

    #[test]
    fn regular_expressions() {
        let f = filter(&[r"/^app_\d+$/./^(orders|users)$/"]);
        assert!(f.matches("app_12", "orders"));
        assert!(!f.matches("app_x", "orders"));
        assert!(!f.matches("app_1", "items"));
    }

    #[test]
    fn matching_ignores_case() {
        let f = filter(&["App.Users", "logs_*.*"]);
        assert!(f.matches("app", "users"));
        assert!(f.matches("APP", "USERS"));
        assert!(f.matches("LOGS_eu", "x"));
    }

    #[test]
    fn non_ascii_names() {
        let f = filter(&["données.é*"]);
        assert!(f.matches("données", "été"));
    }

    #[test]
    fn comments_blank_lines_and_spaces() {
        let f = filter(&["  # all of app", "", "\tapp.* "]);
        assert!(f.matches("app", "t"));
        assert!(!f.matches("other", "t"));
    }

    #[test]
    fn schema_matching_for_database_ddl() {
        let f = filter(&["app.users", "!tmp.*", "logs.*", "!logs.secret"]);
        assert!(f.matches_schema("app"), "a positive rule for one table");
        assert!(!f.matches_schema("tmp"));
        assert!(f.matches_schema("logs"), "a negative rule for one table");
        assert!(!f.matches_schema("other"));
    }

    #[test]
    fn invalid_rules_name_the_rule() {
        for (rule, reason) in [
            ("db", "missing table pattern"),
            ("db.", "missing pattern"),
            (".tbl", "missing pattern"),
            ("db.tbl.x", "stray characters"),
            ("db,x.t", "unexpected special character `,`"),
            ("db.t[a-", "unterminated character class"),
            ("db.t[]", "empty character class"),
            ("`db.t", "unterminated quoted name"),
            ("``.t", "empty quoted name"),
            (r"db\n.t", "cannot escape a letter"),
            (r"db.t\", "cannot end the pattern"),
            ("/(/.t", "invalid regular expression"),
            ("/db.t", "unterminated regular expression"),
            ("@rules.txt", "not supported"),
            ("db-x.t", "unexpected special character `-`"),
        ] {
            let err = error(rule);
            assert!(err.contains(&format!("`{rule}`")), "{err}");
            assert!(err.contains(reason), "{rule}: {err}");
        }
    }
}
