//! Dispatchers: which partition of the topic each row change goes to. The
//! rules are parsed with the changefeed's spec (`changefeeds::spec` in
//! `ferry-service`); this module applies them to row changes.
//!
//! TiCDC's rules `[{matcher, dispatcher}]`: the matcher is table-filter
//! syntax (a rule or a list of rules), the first rule whose matcher keeps the
//! table decides, and a table no rule matches uses `default`.
//!
//! - `ts`: by the transaction's commit TSO, so a transaction stays in one
//!   partition but a row's changes may not.
//! - `table`: by `schema.table`; every change of a table in one partition, in
//!   commit order.
//! - `index-value` (alias `rowid`): by the table and its primary-key values;
//!   one row's changes stay in one partition. A table without a primary key
//!   falls back to `table`.
//! - `default`: `table`, as TiCDC does since old values are always sent: the
//!   before image of an update is only meaningful in table order.
//!
//! Hashes are CRC-32 of stable byte encodings, so a restart (or a new ferry
//! version) sends a key to the partition it went to before.

use ferry_service::changefeeds::spec::{DispatchKind, Dispatchers};

use crate::replication::source::row::{Cell, RowChange, RowOp, TableInfo};

/// How a sink spreads a table's changes with the spec's [`Dispatchers`].
pub(crate) trait Dispatch {
    fn resolve(&self, table: &TableInfo) -> DispatchKind;
}

impl Dispatch for Dispatchers {
    /// How changes of `table` are spread: its rule's kind, with a keyless
    /// table's `index-value` falling back to `table`. The sink asks once per
    /// table, not once per row: matching runs the table-filter patterns.
    fn resolve(&self, table: &TableInfo) -> DispatchKind {
        match self.kind_for(&table.schema, &table.name) {
            DispatchKind::IndexValue if table.primary_key.is_empty() => DispatchKind::Table,
            kind => kind,
        }
    }
}

/// Where a change goes under the kind [`Dispatch::resolve`] chose.
pub(crate) trait Partition {
    /// The partition of `change`, committed at `commit_ts`, in a topic of
    /// `partitions` partitions.
    fn partition(self, change: &RowChange, commit_ts: u64, partitions: i32) -> i32;
}

impl Partition for DispatchKind {
    fn partition(self, change: &RowChange, commit_ts: u64, partitions: i32) -> i32 {
        let partitions = partitions.max(1) as u32;
        let table = &change.table;
        let hash = match self {
            DispatchKind::Ts => return (commit_ts % u64::from(partitions)) as i32,
            DispatchKind::IndexValue if !table.primary_key.is_empty() => {
                let cells = match &change.op {
                    RowOp::Insert(c) | RowOp::Delete(c) => c,
                    RowOp::Update { after, .. } => after,
                };
                let mut h = table_hasher(&table.schema, &table.name);
                for &i in &table.primary_key {
                    hash_cell(&cells[i], &mut h);
                }
                h.finalize()
            }
            _ => table_hasher(&table.schema, &table.name).finalize(),
        };
        (hash % partitions) as i32
    }
}

fn table_hasher(schema: &str, table: &str) -> crc32fast::Hasher {
    let mut h = crc32fast::Hasher::new();
    h.update(schema.as_bytes());
    h.update(&[0]);
    h.update(table.as_bytes());
    h.update(&[0]);
    h
}

/// Feeds a key cell as bytes that do not depend on the platform or on the
/// standard library's hashing.
fn hash_cell(cell: &Cell, h: &mut crc32fast::Hasher) {
    match cell {
        Cell::Null => h.update(&[0]),
        Cell::Int(v) => h.update(&v.to_le_bytes()),
        Cell::UInt(v) => h.update(&v.to_le_bytes()),
        Cell::Float(v) => h.update(&v.to_le_bytes()),
        Cell::Double(v) => h.update(&v.to_le_bytes()),
        Cell::Decimal(s) | Cell::Temporal(s) => h.update(s.as_bytes()),
        Cell::Text { bytes, .. } | Cell::Bytes(bytes) => h.update(bytes),
    }
    h.update(&[0xff]);
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::replication::source::row::ColumnInfo;

    trait Whole {
        fn partition(&self, change: &RowChange, commit_ts: u64, partitions: i32) -> i32;
    }

    impl Whole for Dispatchers {
        fn partition(&self, change: &RowChange, commit_ts: u64, partitions: i32) -> i32 {
            self.resolve(&change.table)
                .partition(change, commit_ts, partitions)
        }
    }

    fn table(schema: &str, name: &str, pk: bool) -> Arc<TableInfo> {
        Arc::new(TableInfo {
            schema: schema.into(),
            name: name.into(),
            columns: vec![ColumnInfo::test("id"), ColumnInfo::test("v")],
            primary_key: if pk { vec![0] } else { vec![] },
        })
    }

    fn insert(t: &Arc<TableInfo>, id: i64) -> RowChange {
        RowChange {
            table: t.clone(),
            op: RowOp::Insert(vec![Cell::Int(id), Cell::Int(0)]),
        }
    }

    fn rules(pairs: &[(&str, &str)]) -> Result<Dispatchers, String> {
        let owned: Vec<(Vec<String>, String)> = pairs
            .iter()
            .map(|(m, d)| (vec![m.to_string()], d.to_string()))
            .collect();
        Dispatchers::parse(&owned)
    }

    #[test]
    fn first_matching_rule_wins_and_default_is_table() {
        let d = rules(&[("db.keyed", "index-value"), ("db.*", "ts")]).unwrap();
        assert_eq!(d.kind_for("db", "keyed"), DispatchKind::IndexValue);
        assert_eq!(d.kind_for("db", "other"), DispatchKind::Ts);
        assert_eq!(d.kind_for("x", "y"), DispatchKind::Default);
        let keyed = table("db", "keyed", true);
        let spread: std::collections::BTreeSet<i32> = (0..64)
            .map(|id| d.partition(&insert(&keyed, id), 1, 8))
            .collect();
        assert!(spread.len() > 4, "keys spread over partitions: {spread:?}");
        // The same key always lands in the same partition.
        assert_eq!(
            d.partition(&insert(&keyed, 7), 1, 8),
            d.partition(&insert(&keyed, 7), 99, 8)
        );
        // ts: by commit ts.
        let other = table("db", "other", true);
        assert_eq!(d.partition(&insert(&other, 1), 10, 4), 2);
        // default: one partition per table whatever the key.
        let plain = table("x", "y", true);
        let parts: std::collections::BTreeSet<i32> = (0..32)
            .map(|id| d.partition(&insert(&plain, id), id as u64, 8))
            .collect();
        assert_eq!(parts.len(), 1);
    }

    #[test]
    fn keyless_tables_fall_back_to_table() {
        let d = rules(&[("*.*", "rowid")]).unwrap();
        let t = table("db", "nokey", false);
        let parts: std::collections::BTreeSet<i32> = (0..32)
            .map(|id| d.partition(&insert(&t, id), 1, 8))
            .collect();
        assert_eq!(parts.len(), 1);
        assert!(!d.resolve(&t).by_key());
    }

    #[test]
    fn bad_rules_name_the_rule() {
        assert_eq!(
            rules(&[("db.*", "ts"), ("db.*", "columns")]).unwrap_err(),
            "dispatchers[1]: dispatcher `columns` is not one of default, ts, table, index-value, rowid"
        );
        assert!(
            rules(&[("db.[", "ts")])
                .unwrap_err()
                .starts_with("dispatchers[0].matcher")
        );
    }
}
