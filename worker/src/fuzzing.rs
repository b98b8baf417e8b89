//! Entry points for the fuzz targets in `fuzz/` and the property tests that
//! feed ferry's parsers arbitrary input: each takes raw bytes, builds what
//! the parser needs from them and runs it, panicking only when a parser
//! panics or an oracle below fails.
//!
//! The parsers behind the first three (the DDL lexer and classifier, the
//! row-image decoder, the Kafka connection's reading of a broker's answers)
//! are crate-private and stay so: this module is the one narrow door,
//! hidden from the docs, rather than a feature flag, so that it is built,
//! linted and tested with the rest of the crate and cannot rot. The other
//! three drive `ferry-service`'s public parsers, so that every target's
//! body lives here and `tests/fuzz_regressions.rs` replays saved inputs
//! through the very code the fuzzer ran. Nothing but the fuzz targets and
//! tests calls this module.

use std::{cell::RefCell, sync::Arc};

use ferry_service::{
    changefeeds::{filter::TableFilter, kafka_downstream},
    kafka::admin::{ConfigOp, ConfigOpKind, decode_assignment},
};
use mysql_async::consts::ColumnType;
use serde_json::{Value, json};

use crate::{
    kafka::wire::{SaslLogin, alter_cluster_default_over},
    replication::source::{
        ddl::{self, Ddl, Statement, TableName},
        row::{Charsets, ColumnInfo, TableInfo},
        session::SessionVars,
    },
};

/// The SQL mode bits that change how a statement is lexed.
const ANSI_QUOTES: u64 = 1 << 2;
const NO_BACKSLASH_ESCAPES: u64 = 1 << 20;

/// Classifies a statement and plans it under a filter that keeps only the
/// tables whose names start with `k`. The first byte picks the SQL mode
/// (bit 0 `ANSI_QUOTES`, bit 1 `NO_BACKSLASH_ESCAPES`); the rest is the
/// statement.
///
/// Oracle: when the plan rewrites a multi-table DROP or RENAME to keep
/// only some tables, the rewritten statement reads back as exactly the
/// kept tables, so a rewrite never reaches a table the filter excludes.
pub fn ddl(input: &[u8]) {
    let Some((&mode, sql)) = input.split_first() else {
        return;
    };
    let mut sql_mode = 0;
    if mode & 1 != 0 {
        sql_mode |= ANSI_QUOTES;
    }
    if mode & 2 != 0 {
        sql_mode |= NO_BACKSLASH_ESCAPES;
    }
    let session = SessionVars {
        sql_mode: Some(sql_mode),
        charsets: None,
    };
    let sql = String::from_utf8_lossy(sql);
    let Statement::Ddl(statement) = ddl::classify(&sql, &session) else {
        return;
    };
    let filter = TableFilter::parse(&["*.k*".to_owned()]).expect("a valid filter");
    let Some(plan) = ddl::plan(&statement, &sql, "db", session, &filter) else {
        return;
    };
    if plan.sql == sql {
        return;
    }
    let keep = |t: &TableName| filter.matches(t.schema.as_deref().unwrap_or("db"), &t.name);
    let names = |tables: &[&TableName]| -> Vec<(String, String)> {
        tables
            .iter()
            .map(|t| {
                (
                    t.schema.clone().unwrap_or_else(|| "db".into()),
                    t.name.clone(),
                )
            })
            .collect()
    };
    let again = ddl::classify(&plan.sql, &session);
    match (&statement, &again) {
        (Ddl::DropTables(tables), Statement::Ddl(Ddl::DropTables(rewritten))) => {
            let kept: Vec<&TableName> = tables.iter().filter(|t| keep(t)).collect();
            let rewritten: Vec<&TableName> = rewritten.iter().collect();
            assert_eq!(names(&kept), names(&rewritten), "{sql:?} -> {:?}", plan.sql);
        }
        (Ddl::RenameTables(pairs), Statement::Ddl(Ddl::RenameTables(rewritten))) => {
            fn flat(pairs: Vec<&(TableName, TableName)>) -> Vec<&TableName> {
                pairs
                    .into_iter()
                    .flat_map(|(from, to)| [from, to])
                    .collect()
            }
            let kept = flat(
                pairs
                    .iter()
                    .filter(|(from, to)| keep(from) || keep(to))
                    .collect(),
            );
            let rewritten = flat(rewritten.iter().collect());
            assert_eq!(names(&kept), names(&rewritten), "{sql:?} -> {:?}", plan.sql);
        }
        _ => panic!("{sql:?} was rewritten as {:?}, read as {again:?}", plan.sql),
    }
}

/// Decodes row images of a table described by the input's head:
///
/// ```text
/// byte 0: columns (bits 0-3, 0 to 15), before images (bit 4), after images (bit 5)
/// per column: its binlog type code, then a byte of flags: signedness bit
///     (bit 0), collation (bits 1-2: none, binary, latin1, utf8mb4),
///     metadata length (bits 3-4, 0 to 3 bytes), followed by the metadata
/// the rest: the rows event's row data
/// ```
///
/// An input whose head names no valid column type decodes nothing.
pub fn row_images(input: &[u8]) {
    let Some((&head, mut rest)) = input.split_first() else {
        return;
    };
    let charsets = Charsets::from([(8, Arc::from("latin1")), (45, Arc::from("utf8mb4"))]);
    let mut columns = Vec::new();
    for i in 0..head & 0x0f {
        let [ty, flags, tail @ ..] = rest else {
            return;
        };
        let Ok(ty) = ColumnType::try_from(*ty) else {
            return;
        };
        let meta_len = usize::from((flags >> 3) & 3);
        if tail.len() < meta_len {
            return;
        }
        let (meta, tail) = tail.split_at(meta_len);
        let collation = [None, Some(63), Some(8), Some(45)][usize::from((flags >> 1) & 3)];
        columns.push(ColumnInfo::from_binlog(
            format!("c{i}"),
            ty,
            meta,
            flags & 1 != 0,
            collation,
            &charsets,
        ));
        rest = tail;
    }
    let table = Arc::new(TableInfo {
        schema: "db".into(),
        name: "t".into(),
        columns,
        primary_key: Vec::new(),
    });
    let mut out = Vec::new();
    let _ = table.decode_images(rest, head & 0x10 != 0, head & 0x20 != 0, &mut out);
}

thread_local! {
    /// One runtime per fuzzing thread: building one per input would cost
    /// more than the conversation.
    static RUNTIME: RefCell<Option<tokio::runtime::Runtime>> = const { RefCell::new(None) };
}

/// Runs the conversation of a cluster-wide config change (ApiVersions, a
/// SASL login, IncrementalAlterConfigs) against a broker whose every answer
/// is the input after its first byte; the first byte picks the login (no
/// SASL, PLAIN, SCRAM-SHA-256, SCRAM-SHA-512). What ferry writes is thrown
/// away.
pub fn kafka_wire(input: &[u8]) -> Result<(), String> {
    let Some((&login, answers)) = input.split_first() else {
        return Ok(());
    };
    let mechanism = ["", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"][usize::from(login % 4)];
    let sasl = (!mechanism.is_empty()).then(|| SaslLogin {
        mechanism: mechanism.into(),
        username: "ferry".into(),
        password: "secret".to_owned().into(),
    });
    let broker = tokio::io::join(std::io::Cursor::new(answers.to_vec()), tokio::io::sink());
    let ops = [ConfigOp {
        name: "log.retention.ms".into(),
        value: Some("60000".into()),
        sealed: None,
        operation: ConfigOpKind::Set,
    }];
    RUNTIME.with(|runtime| {
        let mut runtime = runtime.borrow_mut();
        let runtime = runtime.get_or_insert_with(|| {
            tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("a current-thread runtime")
        });
        runtime
            .block_on(alter_cluster_default_over(
                broker,
                sasl.as_ref(),
                &ops,
                false,
            ))
            .map_err(|e| e.to_string())
    })
}

/// The table-filter grammar: every line but the last is a rule, the last is
/// `schema.table` to match against the filter.
///
/// Oracle: a table that is replicated lies in a schema whose `CREATE` and
/// `DROP DATABASE` are.
pub fn table_filter(input: &[u8]) {
    let text = String::from_utf8_lossy(input);
    let mut lines: Vec<String> = text.split('\n').map(str::to_owned).collect();
    let name = lines.pop().unwrap_or_default();
    let (schema, table) = name.split_once('.').unwrap_or((&name, ""));
    if let Ok(filter) = TableFilter::parse(&lines) {
        let replicated = filter.matches(schema, table);
        assert!(
            !replicated || filter.matches_schema(schema),
            "{lines:?} {name:?}"
        );
    }
}

/// A changefeed's Kafka downstream as JSON, dispatcher rules included. A
/// JSON array is taken as the `dispatchers` of an otherwise valid
/// downstream, so that the fuzzer reaches the rules without having to find
/// the other fields first.
pub fn dispatchers(input: &[u8]) {
    let Ok(value) = serde_json::from_slice::<Value>(input) else {
        return;
    };
    let downstream = match value {
        dispatchers @ Value::Array(_) => json!({
            "ip": "127.0.0.1",
            "port": 9092,
            "topicName": "t",
            "dispatchers": dispatchers,
        }),
        other => other,
    };
    let Value::Object(map) = downstream else {
        return;
    };
    if let Ok(parsed) = kafka_downstream::parse(&map) {
        let _ = parsed.dispatchers.kind_for("app", "orders");
    }
}

/// The consumer-assignment decoder. Oracle: what it accepts is sorted and
/// free of duplicates.
pub fn assignment(input: &[u8]) {
    if let Ok(pairs) = decode_assignment(input) {
        assert!(pairs.windows(2).all(|w| w[0] < w[1]), "{pairs:?}");
    }
}
