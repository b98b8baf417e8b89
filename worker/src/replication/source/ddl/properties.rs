//! Property tests of the DDL lexer and classifier: statements are built
//! from pieces whose tokens are known (words, quoted names, strings with
//! any content, punctuation, comments), written the way the server reads
//! them under the generated SQL mode; the lexer must find exactly those
//! tokens, so a `;` inside a string or a name never ends the statement for
//! ferry, and one outside always does. The tables of generated DROP,
//! RENAME and CREATE statements are the ones generated.

use proptest::prelude::*;

use super::*;

#[derive(Debug, Clone)]
enum Piece {
    Word(String),
    /// A quoted name; `ansi` picks `"` over the backquote when the mode
    /// allows it.
    Name {
        name: String,
        ansi: bool,
    },
    /// A string literal; `double` picks `"` when the mode makes it a string
    /// quote, `backslash` escapes the quote with `\` where backslashes
    /// escape.
    Str {
        text: String,
        double: bool,
        backslash: bool,
    },
    Punct(char),
    Comment {
        text: String,
        style: u8,
    },
}

fn word() -> impl Strategy<Value = String> {
    "[A-Za-z_][A-Za-z0-9_$]{0,8}"
}

fn piece() -> impl Strategy<Value = Piece> {
    prop_oneof![
        word().prop_map(Piece::Word),
        (any::<String>(), any::<bool>()).prop_map(|(name, ansi)| Piece::Name { name, ansi }),
        (any::<String>(), any::<bool>(), any::<bool>()).prop_map(|(text, double, backslash)| {
            Piece::Str {
                text,
                double,
                backslash,
            }
        }),
        prop::sample::select(vec![';', '(', ')', ',', '.', '=']).prop_map(Piece::Punct),
        ("[a-z ;'\"`\\\\]{0,10}", 0u8..3).prop_map(|(text, style)| Piece::Comment { text, style }),
    ]
}

fn quoting() -> impl Strategy<Value = Quoting> {
    (any::<bool>(), any::<bool>()).prop_map(|(ansi_quotes, no_backslash_escapes)| Quoting {
        ansi_quotes,
        no_backslash_escapes,
    })
}

/// Writes `piece` as the server reads it under `quoting`, with the token
/// it must lex to (none for a comment).
fn render(piece: &Piece, quoting: Quoting) -> (String, Option<Token>) {
    match piece {
        Piece::Word(w) => (w.clone(), Some(Token::Word(w.clone()))),
        Piece::Name { name, ansi } => {
            let quote = if *ansi && quoting.ansi_quotes {
                '"'
            } else {
                '`'
            };
            let doubled = name.replace(quote, &format!("{quote}{quote}"));
            (
                format!("{quote}{doubled}{quote}"),
                Some(Token::Quoted(name.clone())),
            )
        }
        Piece::Str {
            text,
            double,
            backslash,
        } => {
            let quote = if *double && !quoting.ansi_quotes {
                '"'
            } else {
                '\''
            };
            let mut out = String::from(quote);
            for c in text.chars() {
                match c {
                    '\\' if !quoting.no_backslash_escapes => out.push_str("\\\\"),
                    c if c == quote && *backslash && !quoting.no_backslash_escapes => {
                        out.push('\\');
                        out.push(c);
                    }
                    c if c == quote => {
                        out.push(c);
                        out.push(c);
                    }
                    c => out.push(c),
                }
            }
            out.push(quote);
            (out, Some(Token::Str))
        }
        Piece::Punct(p) => (p.to_string(), Some(Token::Punct(*p))),
        Piece::Comment { text, style } => {
            let text = match style {
                0 => format!("/* {text} */"),
                1 => format!("# {text}\n"),
                _ => format!("-- {text}\n"),
            };
            (text, None)
        }
    }
}

fn statement(pieces: &[Piece], quoting: Quoting) -> (String, Vec<Token>) {
    let mut sql = Vec::new();
    let mut tokens = Vec::new();
    for piece in pieces {
        let (text, token) = render(piece, quoting);
        sql.push(text);
        tokens.extend(token);
    }
    (sql.join(" "), tokens)
}

/// A table name: a plain name that is no keyword, or any name quoted.
fn table_name() -> impl Strategy<Value = (Option<String>, String, bool)> {
    let name = prop_oneof!["t_[a-z0-9_]{0,6}", any::<String>()];
    (prop::option::of("d_[a-z0-9]{0,4}"), name, any::<bool>())
}

fn write_table((schema, name, ansi): &(Option<String>, String, bool), quoting: Quoting) -> String {
    let write = |part: &str| {
        if part.starts_with("t_") && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            part.to_owned()
        } else {
            render(
                &Piece::Name {
                    name: part.to_owned(),
                    ansi: *ansi,
                },
                quoting,
            )
            .0
        }
    };
    match schema {
        Some(schema) => format!("{schema}.{}", write(name)),
        None => write(name),
    }
}

fn as_table((schema, name, _): &(Option<String>, String, bool)) -> TableName {
    TableName {
        schema: schema.clone(),
        name: name.clone(),
    }
}

fn session_of(quoting: Quoting) -> SessionVars {
    let mut mode = 0;
    if quoting.ansi_quotes {
        mode |= 1 << 2;
    }
    if quoting.no_backslash_escapes {
        mode |= 1 << 20;
    }
    SessionVars {
        sql_mode: Some(mode),
        charsets: None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn the_lexer_finds_the_tokens_the_server_reads(
        pieces in prop::collection::vec(piece(), 0..16),
        quoting in quoting(),
    ) {
        let (sql, tokens) = statement(&pieces, quoting);
        prop_assert_eq!(tokenize(&sql, quoting), tokens, "{}", sql);
    }

    #[test]
    fn dropped_and_renamed_tables_are_the_ones_written(
        tables in prop::collection::vec(table_name(), 1..5),
        tail in prop::collection::vec(piece(), 0..4),
        quoting in quoting(),
    ) {
        let session = session_of(quoting);
        let names: Vec<String> = tables.iter().map(|t| write_table(t, quoting)).collect();
        // A trailing string or comment must not change what is read.
        let (tail, _) = statement(
            &tail.into_iter().filter(|p| matches!(p, Piece::Str { .. } | Piece::Comment { .. })).collect::<Vec<_>>(),
            quoting,
        );
        let drop = format!("DROP TABLE IF EXISTS {} {tail}", names.join(", "));
        prop_assert_eq!(
            classify(&drop, &session),
            Statement::Ddl(Ddl::DropTables(tables.iter().map(as_table).collect())),
            "{}", drop
        );
        let renames: Vec<String> = names
            .iter()
            .map(|n| format!("{n} TO {}", names[0]))
            .collect();
        let rename = format!("RENAME TABLE {} {tail}", renames.join(", "));
        prop_assert_eq!(
            classify(&rename, &session),
            Statement::Ddl(Ddl::RenameTables(
                tables.iter().map(|t| (as_table(t), as_table(&tables[0]))).collect()
            )),
            "{}", rename
        );
        let create = format!("CREATE TABLE {} (a INT) {tail}", names[0]);
        prop_assert_eq!(
            classify(&create, &session),
            Statement::Ddl(Ddl::Table { table: as_table(&tables[0]), renamed_to: None }),
            "{}", create
        );
    }
}
