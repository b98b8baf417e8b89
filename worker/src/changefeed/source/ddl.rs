//! What a QUERY event's statement is: a transaction boundary, a DDL ferry
//! replicates (and which tables it touches), a statement-based data change
//! (which ROW format should never produce), or something ferry ignores.
//!
//! This is not a SQL parser: it reads the head of the statement, as far as
//! the names it acts on, and passes the statement on unchanged unless the
//! table filter keeps only part of a multi-table DROP or RENAME.

use crate::changefeed::filter::TableFilter;

/// A possibly schema-qualified table name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TableName {
    pub schema: Option<String>,
    pub name: String,
}

impl TableName {
    /// The schema, defaulting to the statement's current database.
    fn schema_or<'a>(&'a self, default: &'a str) -> &'a str {
        self.schema.as_deref().unwrap_or(default)
    }

    fn qualified(&self, default: &str) -> String {
        format!(
            "{}.{}",
            quote_ident(self.schema_or(default)),
            quote_ident(&self.name)
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Statement {
    Begin,
    Commit,
    Rollback,
    /// INSERT, UPDATE, DELETE, REPLACE, LOAD DATA written as a statement:
    /// the upstream logged it in STATEMENT format.
    Dml,
    Ddl(Ddl),
    /// Not replicated: accounts, privileges, views, routines, savepoints, ...
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ddl {
    CreateDatabase(String),
    DropDatabase(String),
    /// `ALTER DATABASE`; `None` means the current database.
    AlterDatabase(Option<String>),
    /// CREATE TABLE (also `LIKE`), ALTER TABLE, TRUNCATE, CREATE/DROP INDEX.
    /// `renamed_to` is set by `ALTER TABLE ... RENAME TO`.
    Table {
        table: TableName,
        renamed_to: Option<TableName>,
    },
    DropTables(Vec<TableName>),
    RenameTables(Vec<(TableName, TableName)>),
}

/// A DDL to apply downstream: run `USE use_schema` (when set) and then `sql`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DdlPlan {
    pub use_schema: Option<String>,
    pub sql: String,
    /// The schema the statement works in, for `USE` when `use_schema` does
    /// not exist downstream.
    pub fallback_schema: Option<String>,
    pub kind: DdlKind,
}

/// Which "already done" errors a replayed DDL may meet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DdlKind {
    Database,
    Table,
    Drop,
    Rename,
}

/// Quotes an identifier with backquotes, doubling any backquote inside.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// Decides what to apply downstream for `ddl`, run upstream with current
/// database `schema`; `None` when the filter excludes every table it touches.
pub(crate) fn plan(ddl: &Ddl, sql: &str, schema: &str, filter: &TableFilter) -> Option<DdlPlan> {
    let current = (!schema.is_empty()).then(|| schema.to_owned());
    let table_plan = |first: &TableName, sql: String, kind| DdlPlan {
        use_schema: current.clone().or_else(|| first.schema.clone()),
        fallback_schema: first.schema.clone().or_else(|| current.clone()),
        sql,
        kind,
    };
    match ddl {
        Ddl::CreateDatabase(db) | Ddl::DropDatabase(db) => {
            filter.matches_schema(db).then(|| DdlPlan {
                use_schema: None,
                fallback_schema: None,
                sql: sql.to_owned(),
                kind: DdlKind::Database,
            })
        }
        Ddl::AlterDatabase(db) => {
            let db = db.as_deref().unwrap_or(schema);
            filter.matches_schema(db).then(|| DdlPlan {
                use_schema: current.clone(),
                fallback_schema: None,
                sql: sql.to_owned(),
                kind: DdlKind::Database,
            })
        }
        Ddl::Table { table, renamed_to } => {
            let matched = filter.matches(table.schema_or(schema), &table.name)
                || renamed_to
                    .as_ref()
                    .is_some_and(|t| filter.matches(t.schema_or(schema), &t.name));
            let kind = if renamed_to.is_some() {
                DdlKind::Rename
            } else {
                DdlKind::Table
            };
            matched.then(|| table_plan(table, sql.to_owned(), kind))
        }
        Ddl::DropTables(tables) => {
            let kept: Vec<&TableName> = tables
                .iter()
                .filter(|t| filter.matches(t.schema_or(schema), &t.name))
                .collect();
            let first = *kept.first()?;
            let sql = if kept.len() == tables.len() {
                sql.to_owned()
            } else {
                let names: Vec<String> = kept.iter().map(|t| t.qualified(schema)).collect();
                format!("DROP TABLE IF EXISTS {}", names.join(", "))
            };
            Some(table_plan(first, sql, DdlKind::Drop))
        }
        Ddl::RenameTables(pairs) => {
            let kept: Vec<&(TableName, TableName)> = pairs
                .iter()
                .filter(|(from, to)| {
                    filter.matches(from.schema_or(schema), &from.name)
                        || filter.matches(to.schema_or(schema), &to.name)
                })
                .collect();
            let first = &kept.first()?.0;
            let sql = if kept.len() == pairs.len() {
                sql.to_owned()
            } else {
                let renames: Vec<String> = kept
                    .iter()
                    .map(|(from, to)| {
                        format!("{} TO {}", from.qualified(schema), to.qualified(schema))
                    })
                    .collect();
                format!("RENAME TABLE {}", renames.join(", "))
            };
            Some(table_plan(first, sql, DdlKind::Rename))
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// An unquoted word: keyword or identifier.
    Word(String),
    /// A backquoted identifier, unescaped.
    Quoted(String),
    /// A string literal (its content is never needed).
    Str,
    Punct(char),
}

impl Token {
    fn is_kw(&self, kw: &str) -> bool {
        matches!(self, Token::Word(w) if w.eq_ignore_ascii_case(kw))
    }

    fn ident(&self) -> Option<String> {
        match self {
            Token::Word(w) | Token::Quoted(w) => Some(w.clone()),
            _ => None,
        }
    }
}

/// Splits `sql` into tokens, dropping whitespace and comments. The content of
/// MySQL's executable comments (`/*!50100 ... */`, `/*M!100100 ... */`) is
/// kept, since the server runs it.
fn tokenize(sql: &str) -> Vec<Token> {
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
            '`' => {
                let mut name = String::new();
                i += 1;
                while i < chars.len() {
                    if chars[i] == '`' {
                        if chars.get(i + 1) == Some(&'`') {
                            name.push('`');
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
                    if chars[i] == '\\' {
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

struct Cursor {
    tokens: Vec<Token>,
    pos: usize,
}

impl Cursor {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn eat_kw(&mut self, kw: &str) -> bool {
        if self.peek().is_some_and(|t| t.is_kw(kw)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn eat_kws(&mut self, kws: &[&str]) -> bool {
        let start = self.pos;
        for kw in kws {
            if !self.eat_kw(kw) {
                self.pos = start;
                return false;
            }
        }
        true
    }

    fn eat_punct(&mut self, p: char) -> bool {
        if self.peek() == Some(&Token::Punct(p)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn ident(&mut self) -> Option<String> {
        let ident = self.peek()?.ident()?;
        self.pos += 1;
        Some(ident)
    }

    fn table_name(&mut self) -> Option<TableName> {
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
    fn skip_past_kw(&mut self, kw: &str) -> bool {
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

/// Classifies one QUERY event's statement.
pub(crate) fn classify(sql: &str) -> Statement {
    let mut c = Cursor {
        tokens: tokenize(sql),
        pos: 0,
    };
    let Some(Token::Word(first)) = c.peek().cloned() else {
        return Statement::Other;
    };
    c.pos += 1;
    match first.to_ascii_uppercase().as_str() {
        "BEGIN" => Statement::Begin,
        "START" if c.eat_kw("TRANSACTION") => Statement::Begin,
        "COMMIT" => Statement::Commit,
        "ROLLBACK" if c.peek().is_none() || c.eat_kw("WORK") => Statement::Rollback,
        "INSERT" | "UPDATE" | "DELETE" | "REPLACE" | "LOAD" => Statement::Dml,
        "CREATE" => create(&mut c),
        "ALTER" => alter(&mut c),
        "DROP" => drop(&mut c),
        "TRUNCATE" => {
            c.eat_kw("TABLE");
            ddl(c.table_name().map(|table| Ddl::Table {
                table,
                renamed_to: None,
            }))
        }
        "RENAME" if c.eat_kw("TABLE") || c.eat_kw("TABLES") => {
            let mut pairs = Vec::new();
            loop {
                let Some(from) = c.table_name() else { break };
                if !c.eat_kw("TO") {
                    break;
                }
                let Some(to) = c.table_name() else { break };
                pairs.push((from, to));
                if !c.eat_punct(',') {
                    break;
                }
            }
            ddl((!pairs.is_empty()).then_some(Ddl::RenameTables(pairs)))
        }
        _ => Statement::Other,
    }
}

fn ddl(ddl: Option<Ddl>) -> Statement {
    ddl.map_or(Statement::Other, Statement::Ddl)
}

fn create(c: &mut Cursor) -> Statement {
    c.eat_kws(&["OR", "REPLACE"]);
    if c.eat_kw("DATABASE") || c.eat_kw("SCHEMA") {
        c.eat_kws(&["IF", "NOT", "EXISTS"]);
        return ddl(c.ident().map(Ddl::CreateDatabase));
    }
    if c.peek().is_some_and(|t| t.is_kw("TEMPORARY")) {
        return Statement::Other;
    }
    if c.eat_kw("TABLE") {
        c.eat_kws(&["IF", "NOT", "EXISTS"]);
        return ddl(c.table_name().map(|table| Ddl::Table {
            table,
            renamed_to: None,
        }));
    }
    let _ = c.eat_kw("ONLINE") || c.eat_kw("OFFLINE");
    let _ = c.eat_kw("UNIQUE") || c.eat_kw("FULLTEXT") || c.eat_kw("SPATIAL");
    if c.eat_kw("INDEX") && c.skip_past_kw("ON") {
        return ddl(c.table_name().map(|table| Ddl::Table {
            table,
            renamed_to: None,
        }));
    }
    Statement::Other
}

fn alter(c: &mut Cursor) -> Statement {
    if c.eat_kw("DATABASE") || c.eat_kw("SCHEMA") {
        let name = match c.peek() {
            Some(Token::Quoted(_)) => c.ident(),
            Some(Token::Word(w)) if !is_database_option(w) => c.ident(),
            _ => None,
        };
        return Statement::Ddl(Ddl::AlterDatabase(name));
    }
    let _ = c.eat_kw("ONLINE") || c.eat_kw("OFFLINE");
    c.eat_kw("IGNORE");
    if !c.eat_kw("TABLE") {
        return Statement::Other;
    }
    c.eat_kws(&["IF", "EXISTS"]);
    let Some(table) = c.table_name() else {
        return Statement::Other;
    };
    // `RENAME [TO|AS] name` renames the table; RENAME COLUMN/INDEX/KEY do not.
    let mut renamed_to = None;
    while c.skip_past_kw("RENAME") {
        if c.peek()
            .is_some_and(|t| t.is_kw("COLUMN") || t.is_kw("INDEX") || t.is_kw("KEY"))
        {
            continue;
        }
        let _ = c.eat_kw("TO") || c.eat_kw("AS");
        renamed_to = c.table_name();
    }
    Statement::Ddl(Ddl::Table { table, renamed_to })
}

fn is_database_option(word: &str) -> bool {
    [
        "DEFAULT",
        "CHARACTER",
        "CHARSET",
        "COLLATE",
        "COMMENT",
        "UPGRADE",
        "READ",
        "ENCRYPTION",
    ]
    .iter()
    .any(|kw| word.eq_ignore_ascii_case(kw))
}

fn drop(c: &mut Cursor) -> Statement {
    if c.eat_kw("DATABASE") || c.eat_kw("SCHEMA") {
        c.eat_kws(&["IF", "EXISTS"]);
        return ddl(c.ident().map(Ddl::DropDatabase));
    }
    if c.peek().is_some_and(|t| t.is_kw("TEMPORARY")) {
        return Statement::Other;
    }
    if c.eat_kw("TABLE") || c.eat_kw("TABLES") {
        c.eat_kws(&["IF", "EXISTS"]);
        let mut tables = Vec::new();
        while let Some(t) = c.table_name() {
            tables.push(t);
            if !c.eat_punct(',') {
                break;
            }
        }
        return ddl((!tables.is_empty()).then_some(Ddl::DropTables(tables)));
    }
    let _ = c.eat_kw("ONLINE") || c.eat_kw("OFFLINE");
    if c.eat_kw("INDEX") && c.skip_past_kw("ON") {
        return ddl(c.table_name().map(|table| Ddl::Table {
            table,
            renamed_to: None,
        }));
    }
    Statement::Other
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(schema: Option<&str>, name: &str) -> TableName {
        TableName {
            schema: schema.map(str::to_owned),
            name: name.to_owned(),
        }
    }

    fn table(schema: Option<&str>, name: &str) -> Statement {
        Statement::Ddl(Ddl::Table {
            table: t(schema, name),
            renamed_to: None,
        })
    }

    #[test]
    fn transaction_boundaries() {
        assert_eq!(classify("BEGIN"), Statement::Begin);
        assert_eq!(classify("COMMIT"), Statement::Commit);
        assert_eq!(classify("ROLLBACK"), Statement::Rollback);
        assert_eq!(classify("ROLLBACK TO SAVEPOINT a"), Statement::Other);
        assert_eq!(classify("insert into t values (1)"), Statement::Dml);
    }

    #[test]
    fn table_ddl() {
        assert_eq!(
            classify("CREATE TABLE t (id int primary key)"),
            table(None, "t")
        );
        assert_eq!(
            classify("create or replace table if not exists `a``b`.`c d` (x int)"),
            table(Some("a`b"), "c d")
        );
        assert_eq!(
            classify("CREATE TABLE db.t2 LIKE db.t1"),
            table(Some("db"), "t2")
        );
        assert_eq!(classify("ALTER TABLE t ADD COLUMN c INT"), table(None, "t"));
        assert_eq!(
            classify("alter online ignore table IF EXISTS d.t add x int"),
            table(Some("d"), "t")
        );
        assert_eq!(classify("TRUNCATE TABLE d.t"), table(Some("d"), "t"));
        assert_eq!(classify("truncate t"), table(None, "t"));
        assert_eq!(
            classify("CREATE UNIQUE INDEX i ON d.t (a)"),
            table(Some("d"), "t")
        );
        assert_eq!(classify("DROP INDEX IF EXISTS i ON t"), table(None, "t"));
        assert_eq!(
            classify("/* comment */ ALTER TABLE t RENAME COLUMN a TO b, RENAME INDEX i TO j"),
            table(None, "t")
        );
        assert_eq!(
            classify("ALTER TABLE t ADD x INT, RENAME TO d2.u"),
            Statement::Ddl(Ddl::Table {
                table: t(None, "t"),
                renamed_to: Some(t(Some("d2"), "u")),
            })
        );
    }

    #[test]
    fn drops_and_renames() {
        assert_eq!(
            classify("DROP TABLE IF EXISTS `a`, d.b /* generated by server */"),
            Statement::Ddl(Ddl::DropTables(vec![t(None, "a"), t(Some("d"), "b")]))
        );
        assert_eq!(
            classify("RENAME TABLE a TO b, d.c TO d.e"),
            Statement::Ddl(Ddl::RenameTables(vec![
                (t(None, "a"), t(None, "b")),
                (t(Some("d"), "c"), t(Some("d"), "e"))
            ]))
        );
        assert_eq!(
            classify("DROP TEMPORARY TABLE IF EXISTS t"),
            Statement::Other
        );
        assert_eq!(
            classify("CREATE TEMPORARY TABLE t (a int)"),
            Statement::Other
        );
    }

    #[test]
    fn databases() {
        assert_eq!(
            classify("CREATE DATABASE IF NOT EXISTS `app`"),
            Statement::Ddl(Ddl::CreateDatabase("app".into()))
        );
        assert_eq!(
            classify("drop schema app"),
            Statement::Ddl(Ddl::DropDatabase("app".into()))
        );
        assert_eq!(
            classify("ALTER DATABASE CHARACTER SET utf8mb4"),
            Statement::Ddl(Ddl::AlterDatabase(None))
        );
        assert_eq!(
            classify("ALTER DATABASE app CHARACTER SET utf8mb4"),
            Statement::Ddl(Ddl::AlterDatabase(Some("app".into())))
        );
    }

    #[test]
    fn ignored_statements() {
        for sql in [
            "GRANT ALL ON *.* TO x",
            "CREATE USER x",
            "CREATE VIEW v AS SELECT 1",
            "DROP VIEW v",
            "CREATE DEFINER=`root`@`localhost` TRIGGER tr BEFORE INSERT ON t FOR EACH ROW SET @a=1",
            "FLUSH PRIVILEGES",
            "SAVEPOINT a",
            "",
        ] {
            assert_eq!(classify(sql), Statement::Other, "{sql}");
        }
    }

    #[test]
    fn executable_comments_are_code() {
        assert_eq!(
            classify("/*!40000 ALTER TABLE `t` DISABLE KEYS */"),
            table(None, "t")
        );
    }

    fn filter(rules: &[&str]) -> TableFilter {
        TableFilter::parse(&rules.iter().map(|r| (*r).to_owned()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn plans_follow_the_filter() {
        let f = filter(&["app.*", "!app.secret"]);
        let sql = "DROP TABLE a, secret, other.x";
        let Statement::Ddl(d) = classify(sql) else {
            panic!()
        };
        let p = plan(&d, sql, "app", &f).unwrap();
        assert_eq!(p.sql, "DROP TABLE IF EXISTS `app`.`a`");
        assert_eq!(p.use_schema.as_deref(), Some("app"));

        let sql = "CREATE TABLE other.t (a int)";
        let Statement::Ddl(d) = classify(sql) else {
            panic!()
        };
        assert!(plan(&d, sql, "app", &f).is_none());

        let sql = "CREATE TABLE t (a int)";
        let Statement::Ddl(d) = classify(sql) else {
            panic!()
        };
        let p = plan(&d, sql, "app", &f).unwrap();
        assert_eq!(p.sql, sql);

        let sql = "RENAME TABLE app.a TO app.b, other.c TO other.d";
        let Statement::Ddl(d) = classify(sql) else {
            panic!()
        };
        let p = plan(&d, sql, "", &f).unwrap();
        assert_eq!(p.sql, "RENAME TABLE `app`.`a` TO `app`.`b`");
        assert_eq!(p.use_schema.as_deref(), Some("app"));

        let sql = "CREATE DATABASE app";
        let Statement::Ddl(d) = classify(sql) else {
            panic!()
        };
        assert!(plan(&d, sql, "", &f).is_some());
        let sql = "CREATE DATABASE other";
        let Statement::Ddl(d) = classify(sql) else {
            panic!()
        };
        assert!(plan(&d, sql, "", &f).is_none());
    }
}
