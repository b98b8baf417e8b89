//! The SQL statements that apply row changes: which statements a change
//! needs (by the downstream key), and one multi-row statement per run of
//! changes of the same kind to the same table.

use super::sql;
use crate::replication::source::{
    ddl::quote_ident,
    row::{Cell, RowOp, TableInfo},
};

/// How to write rows of one upstream table shape into the downstream table.
#[derive(Debug)]
pub(super) struct Plan {
    /// Upstream columns written (generated columns are left to the server).
    pub columns: Vec<usize>,
    /// Upstream positions of the key columns, `None` without a key.
    pub key: Option<Vec<usize>>,
}

/// One statement's worth of changes.
pub(super) enum Op<'a> {
    Upsert(&'a [Cell]),
    Insert(&'a [Cell]),
    DeleteByKey(&'a [Cell]),
    DeleteExact(&'a [Cell]),
}

/// The statements one row change needs, in order.
pub(super) fn split<'a>(op: &'a RowOp, plan: &Plan) -> Vec<Op<'a>> {
    match (op, &plan.key) {
        (RowOp::Insert(after), Some(_)) => vec![Op::Upsert(after)],
        (RowOp::Insert(after), None) => vec![Op::Insert(after)],
        (RowOp::Delete(before), Some(_)) => vec![Op::DeleteByKey(before)],
        (RowOp::Delete(before), None) => vec![Op::DeleteExact(before)],
        (RowOp::Update { before, after }, Some(key)) => {
            if key.iter().all(|&k| before[k] == after[k]) {
                vec![Op::Upsert(after)]
            } else {
                vec![Op::DeleteByKey(before), Op::Upsert(after)]
            }
        }
        (RowOp::Update { before, after }, None) => vec![Op::DeleteExact(before), Op::Insert(after)],
    }
}

pub(super) fn same_kind(a: &Op<'_>, b: &Op<'_>) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

pub(super) fn op_size(op: &Op<'_>) -> usize {
    let cells = match op {
        Op::Upsert(c) | Op::Insert(c) | Op::DeleteByKey(c) | Op::DeleteExact(c) => c,
    };
    cells
        .iter()
        .map(|c| match c {
            Cell::Text { bytes, .. } | Cell::Bytes(bytes) => bytes.len() + 16,
            _ => 24,
        })
        .sum()
}

/// One statement for a group of operations of the same kind on one table.
pub(super) fn statement(table: &TableInfo, plan: &Plan, group: &[Op<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    let names = || plan.columns.iter().map(|&i| table.columns[i].name.as_str());
    match group.first() {
        Some(Op::Upsert(_) | Op::Insert(_)) => {
            let verb: &[u8] = if matches!(group[0], Op::Upsert(_)) {
                b"REPLACE INTO "
            } else {
                b"INSERT INTO "
            };
            out.extend_from_slice(verb);
            sql::push_table(&mut out, &table.schema, &table.name);
            out.push(b' ');
            sql::push_column_list(&mut out, names());
            out.extend_from_slice(b" VALUES ");
            for (i, op) in group.iter().enumerate() {
                if let Op::Upsert(cells) | Op::Insert(cells) = op {
                    if i > 0 {
                        out.push(b',');
                    }
                    sql::push_tuple(&mut out, cells, &plan.columns);
                }
            }
        }
        Some(Op::DeleteByKey(_)) => {
            let key = plan.key.as_deref().unwrap_or_default();
            out.extend_from_slice(b"DELETE FROM ");
            sql::push_table(&mut out, &table.schema, &table.name);
            out.extend_from_slice(b" WHERE ");
            sql::push_column_list(
                &mut out,
                key.iter().map(|&i| table.columns[i].name.as_str()),
            );
            out.extend_from_slice(b" IN (");
            for (i, op) in group.iter().enumerate() {
                if let Op::DeleteByKey(cells) = op {
                    if i > 0 {
                        out.push(b',');
                    }
                    sql::push_tuple(&mut out, cells, key);
                }
            }
            out.push(b')');
        }
        Some(Op::DeleteExact(cells)) => {
            out.extend_from_slice(b"DELETE FROM ");
            sql::push_table(&mut out, &table.schema, &table.name);
            out.extend_from_slice(b" WHERE ");
            for (n, &i) in plan.columns.iter().enumerate() {
                if n > 0 {
                    out.extend_from_slice(b" AND ");
                }
                out.extend_from_slice(quote_ident(&table.columns[i].name).as_bytes());
                out.extend_from_slice(b" <=> ");
                sql::push_literal(&mut out, &cells[i]);
            }
            out.extend_from_slice(b" LIMIT 1");
        }
        None => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replication::source::row::ColumnInfo;

    fn table() -> TableInfo {
        TableInfo {
            schema: "db".into(),
            name: "t`x".into(),
            columns: vec![ColumnInfo::test("id"), ColumnInfo::test("v")],
            primary_key: vec![0],
        }
    }

    fn sql(plan: &Plan, ops: &[Op<'_>]) -> String {
        String::from_utf8(statement(&table(), plan, ops)).unwrap()
    }

    #[test]
    fn upserts_and_deletes_by_key() {
        let plan = Plan {
            columns: vec![0, 1],
            key: Some(vec![0]),
        };
        let (a, b) = (
            vec![Cell::Int(1), Cell::Int(10)],
            vec![Cell::Int(2), Cell::Null],
        );
        assert_eq!(
            sql(&plan, &[Op::Upsert(&a), Op::Upsert(&b)]),
            "REPLACE INTO `db`.`t``x` (`id`,`v`) VALUES (1,10),(2,NULL)"
        );
        assert_eq!(
            sql(&plan, &[Op::DeleteByKey(&a), Op::DeleteByKey(&b)]),
            "DELETE FROM `db`.`t``x` WHERE (`id`) IN ((1),(2))"
        );
    }

    #[test]
    fn without_a_key_rows_match_on_every_column() {
        let plan = Plan {
            columns: vec![0, 1],
            key: None,
        };
        let a = vec![Cell::Int(1), Cell::Null];
        assert_eq!(
            sql(&plan, &[Op::DeleteExact(&a)]),
            "DELETE FROM `db`.`t``x` WHERE `id` <=> 1 AND `v` <=> NULL LIMIT 1"
        );
        assert_eq!(
            sql(&plan, &[Op::Insert(&a)]),
            "INSERT INTO `db`.`t``x` (`id`,`v`) VALUES (1,NULL)"
        );
    }

    #[test]
    fn a_key_change_deletes_the_old_row() {
        let plan = Plan {
            columns: vec![0, 1],
            key: Some(vec![0]),
        };
        let before = vec![Cell::Int(1), Cell::Int(10)];
        let same = vec![Cell::Int(1), Cell::Int(11)];
        let moved = vec![Cell::Int(2), Cell::Int(10)];
        let op = RowOp::Update {
            before: before.clone(),
            after: same,
        };
        assert!(matches!(split(&op, &plan)[..], [Op::Upsert(_)]));
        let op = RowOp::Update {
            before,
            after: moved,
        };
        assert!(matches!(
            split(&op, &plan)[..],
            [Op::DeleteByKey(_), Op::Upsert(_)]
        ));
    }
}
