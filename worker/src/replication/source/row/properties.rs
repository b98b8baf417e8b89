//! Property tests of the row-image decoder: rows of generated values,
//! encoded as the binlog carries them, decode back to the same cells, and
//! a row cut short is an error. (Any bytes over a table of any column types:
//! `tests/parser_properties.rs`.)

use std::sync::Arc;

use mysql_async::consts::ColumnType::*;
use proptest::prelude::*;

use super::*;

/// `id BIGINT UNSIGNED, n INT, name VARCHAR(255) latin1, note BLOB`, as a
/// table map gives them.
fn table() -> Arc<TableInfo> {
    let charsets = Charsets::from([(8, Arc::from("latin1"))]);
    let column = |name: &str, ty, meta: &[u8], unsigned, collation| {
        ColumnInfo::from_binlog(name.into(), ty, meta, unsigned, collation, &charsets)
    };
    Arc::new(TableInfo {
        schema: "db".into(),
        name: "t".into(),
        columns: vec![
            column("id", MYSQL_TYPE_LONGLONG, &[], true, None),
            column("n", MYSQL_TYPE_LONG, &[], false, None),
            column("name", MYSQL_TYPE_VARCHAR, &[255, 0], false, Some(8)),
            column("note", MYSQL_TYPE_BLOB, &[2], false, Some(63)),
        ],
        primary_key: vec![0],
    })
}

type Row = (u64, Option<i32>, Vec<u8>, Option<Vec<u8>>);

fn row() -> impl Strategy<Value = Row> {
    (
        any::<u64>(),
        any::<Option<i32>>(),
        prop::collection::vec(any::<u8>(), 0..=255),
        prop::option::of(prop::collection::vec(any::<u8>(), 0..600)),
    )
}

/// One image: the NULL bitmap, then the values that are not NULL,
/// little-endian, strings after their length.
fn encode((id, n, name, note): &Row) -> Vec<u8> {
    let nulls = u8::from(n.is_none()) << 1 | u8::from(note.is_none()) << 3;
    let mut out = vec![nulls];
    out.extend_from_slice(&id.to_le_bytes());
    if let Some(n) = n {
        out.extend_from_slice(&n.to_le_bytes());
    }
    out.push(name.len() as u8);
    out.extend_from_slice(name);
    if let Some(note) = note {
        out.extend_from_slice(&(note.len() as u16).to_le_bytes());
        out.extend_from_slice(note);
    }
    out
}

fn cells((id, n, name, note): &Row) -> Vec<Cell> {
    vec![
        // mysql_common reads an unsigned BIGINT as `Int` when it fits.
        i64::try_from(*id).map_or(Cell::UInt(*id), Cell::Int),
        n.map_or(Cell::Null, |n| Cell::Int(n.into())),
        Cell::Text {
            bytes: name.clone(),
            charset: Arc::from("latin1"),
        },
        note.clone().map_or(Cell::Null, Cell::Bytes),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn encoded_rows_decode_to_their_values(
        rows in prop::collection::vec((row(), row()), 1..6),
        before in any::<bool>(),
        after in any::<bool>(),
    ) {
        prop_assume!(before || after);
        let mut data = Vec::new();
        let mut expected = Vec::new();
        for (old, new) in &rows {
            if before {
                data.extend(encode(old));
            }
            if after {
                data.extend(encode(new));
            }
            expected.push(match (before, after) {
                (true, true) => (Some(cells(old)), Some(cells(new))),
                (true, false) => (Some(cells(old)), None),
                _ => (None, Some(cells(new))),
            });
        }
        let mut out = Vec::new();
        table().decode_images(&data, before, after, &mut out).unwrap();
        let decoded: Vec<_> = out
            .into_iter()
            .map(|change| match change.op {
                RowOp::Insert(after) => (None, Some(after)),
                RowOp::Update { before, after } => (Some(before), Some(after)),
                RowOp::Delete(before) => (Some(before), None),
            })
            .collect();
        prop_assert_eq!(decoded, expected);
    }

    #[test]
    fn a_cut_row_is_an_error(row in row(), cut in any::<prop::sample::Index>()) {
        let data = encode(&row);
        let cut = cut.index(data.len());
        let mut out = Vec::new();
        prop_assert!(table().decode_images(&data[..cut], false, true, &mut out).is_err() || cut == 0);
    }
}
