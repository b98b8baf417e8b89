//! What a QUERY event's statement is: a transaction boundary, a DDL ferry
//! replicates (and which tables it touches), a statement-based data change
//! (which ROW format should never produce), or something ferry ignores.
//!
//! This is not a SQL parser: it reads the head of the statement, as far as
//! the names it acts on, and passes the statement on unchanged unless the
//! table filter keeps only part of a multi-table DROP or RENAME.

mod lexer;

use self::lexer::{Cursor, Quoting, Token, tokenize};
use super::session::SessionVars;
use ferry_service::changefeeds::filter::TableFilter;

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
    /// The SQL mode and character sets the upstream read the statement
    /// under: the downstream must read it the same way.
    pub session: SessionVars,
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
pub(crate) fn plan(
    ddl: &Ddl,
    sql: &str,
    schema: &str,
    session: SessionVars,
    filter: &TableFilter,
) -> Option<DdlPlan> {
    let current = (!schema.is_empty()).then(|| schema.to_owned());
    let table_plan = |first: &TableName, sql: String, kind| DdlPlan {
        use_schema: current.clone().or_else(|| first.schema.clone()),
        fallback_schema: first.schema.clone().or_else(|| current.clone()),
        sql,
        kind,
        session,
    };
    match ddl {
        Ddl::CreateDatabase(db) | Ddl::DropDatabase(db) => {
            filter.matches_schema(db).then(|| DdlPlan {
                use_schema: None,
                fallback_schema: None,
                sql: sql.to_owned(),
                kind: DdlKind::Database,
                session,
            })
        }
        Ddl::AlterDatabase(db) => {
            let db = db.as_deref().unwrap_or(schema);
            filter.matches_schema(db).then(|| DdlPlan {
                use_schema: current.clone(),
                fallback_schema: None,
                sql: sql.to_owned(),
                kind: DdlKind::Database,
                session,
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

/// Classifies one QUERY event's statement, lexed as the upstream read it
/// (`session`'s SQL mode).
pub(crate) fn classify(sql: &str, session: &SessionVars) -> Statement {
    let quoting = Quoting {
        ansi_quotes: session.ansi_quotes(),
        no_backslash_escapes: session.no_backslash_escapes(),
    };
    let mut c = Cursor {
        tokens: tokenize(sql, quoting),
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
            while let Some(from) = c.table_name() {
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
mod properties;
#[cfg(test)]
mod tests;
