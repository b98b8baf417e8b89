//! Row changes as the binlog carries them, converted into [`Cell`]s that
//! keep every value exact: numbers as numbers, DECIMAL and temporal values as
//! their text, strings as bytes with their character set.
//!
//! This module reads table maps into [`TableInfo`]; `image` decodes a rows
//! event's row images with it and `convert` turns each value into a cell.

mod convert;
mod image;
#[cfg(test)]
mod properties;

use std::{
    collections::HashMap,
    hash::{Hash, Hasher},
    sync::Arc,
};

use mysql_async::{
    binlog::events::{OptionalMetaExtractor, TableMapEvent},
    consts::ColumnType,
};

/// The binary pseudo character set's collation id.
const BINARY_COLLATION: u16 = 63;

/// Collation id -> character set name, read from the upstream.
pub(crate) type Charsets = HashMap<u16, Arc<str>>;

/// One column value, ready to be written without loss.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cell {
    Null,
    Int(i64),
    UInt(u64),
    Float(f32),
    Double(f64),
    /// An exact number in decimal notation (DECIMAL), written unquoted.
    Decimal(String),
    /// A date, time or datetime as MySQL writes it, written as a quoted
    /// literal. TIMESTAMP values are in UTC.
    Temporal(String),
    /// Character data in the character set `charset` (the upstream column's).
    Text {
        bytes: Vec<u8>,
        charset: Arc<str>,
    },
    /// Binary data: BINARY, VARBINARY, BLOB, GEOMETRY.
    Bytes(Vec<u8>),
}

impl Hash for Cell {
    fn hash<H: Hasher>(&self, state: &mut H) {
        std::mem::discriminant(self).hash(state);
        match self {
            Cell::Null => {}
            Cell::Int(v) => v.hash(state),
            Cell::UInt(v) => v.hash(state),
            Cell::Float(v) => v.to_bits().hash(state),
            Cell::Double(v) => v.to_bits().hash(state),
            Cell::Decimal(s) | Cell::Temporal(s) => s.hash(state),
            Cell::Text { bytes, .. } | Cell::Bytes(bytes) => bytes.hash(state),
        }
    }
}

/// What a table looked like when its rows were written, from the binlog's
/// table map (with `binlog_row_metadata=FULL`).
#[derive(Debug)]
pub(crate) struct TableInfo {
    pub schema: String,
    pub name: String,
    pub columns: Vec<ColumnInfo>,
    /// Positions of the primary key's columns; empty when there is none.
    pub primary_key: Vec<usize>,
}

#[derive(Debug)]
pub(crate) struct ColumnInfo {
    pub name: String,
    kind: Kind,
    /// The column's type as TiDB numbers it (see [`tidb_type`]), which is
    /// what change-data encoders publish.
    ty: ColumnType,
    unsigned: bool,
    nullable: bool,
    /// The type and metadata the table map gives the column, which is
    /// what decoding its binlog values takes.
    binlog_type: ColumnType,
    binlog_meta: Box<[u8]>,
}

#[cfg(test)]
impl ColumnInfo {
    /// A nullable signed INT column, for other modules' tests.
    pub fn test(name: &str) -> ColumnInfo {
        ColumnInfo::test_typed(name, ColumnType::MYSQL_TYPE_LONG, "binary")
    }

    /// A nullable, signed column of type `ty` (as [`tidb_type`] gives it),
    /// for other modules' tests; `charset` is the character set of a
    /// character column (`binary` for a binary string) and is otherwise
    /// ignored.
    pub fn test_typed(name: &str, ty: ColumnType, charset: &str) -> ColumnInfo {
        let charsets = Charsets::from([(1, Arc::from(charset))]);
        let collation = if charset == "binary" {
            BINARY_COLLATION
        } else {
            1
        };
        ColumnInfo {
            name: name.to_owned(),
            kind: kind_of(ty, &[], Some(collation), &charsets),
            ty,
            unsigned: false,
            nullable: true,
            binlog_type: ty,
            binlog_meta: Box::default(),
        }
    }

    /// Sets the type and metadata the binlog's table map gives the column.
    pub fn binlog(mut self, ty: ColumnType, meta: &[u8]) -> ColumnInfo {
        self.binlog_type = ty;
        self.binlog_meta = meta.into();
        self
    }

    pub fn unsigned(mut self) -> ColumnInfo {
        self.unsigned = true;
        self
    }

    pub fn not_null(mut self) -> ColumnInfo {
        self.nullable = false;
        self
    }
}

impl ColumnInfo {
    /// A nullable column as the table map describes it: its binlog type
    /// and metadata, its signedness bit, and its collation id when it holds
    /// characters (`charsets` names the character set).
    pub(crate) fn from_binlog(
        name: String,
        ty: ColumnType,
        meta: &[u8],
        signedness_bit: bool,
        charset: Option<u16>,
        charsets: &Charsets,
    ) -> ColumnInfo {
        ColumnInfo {
            name,
            kind: kind_of(ty, meta, charset, charsets),
            ty: tidb_type(ty, meta),
            // YEAR has a bit but no sign to speak of; TiCDC names it `year`.
            unsigned: signedness_bit && ty != ColumnType::MYSQL_TYPE_YEAR,
            nullable: true,
            binlog_type: ty,
            binlog_meta: meta.into(),
        }
    }
}

/// Type information for encoders that publish it (the Kafka protocols),
/// spelled the way TiDB and TiCDC spell it.
impl ColumnInfo {
    /// The column's type; its `u8` value is the MySQL protocol type code
    /// that TiCDC's open protocol publishes.
    pub fn column_type(&self) -> ColumnType {
        self.ty
    }

    /// Whether the numeric column is UNSIGNED.
    pub fn is_unsigned(&self) -> bool {
        self.unsigned
    }

    /// Whether the column accepts NULL.
    pub fn is_nullable(&self) -> bool {
        self.nullable
    }

    /// Whether the column's character set is `binary` in TiDB's sense:
    /// binary strings and every column that is not character data (numbers,
    /// temporal values, BIT, JSON) are binary; ENUM and SET are not.
    pub fn is_binary(&self) -> bool {
        !matches!(self.kind, Kind::Text(_) | Kind::Enum | Kind::Set)
    }

    /// The type's name as TiCDC's canal-json `mysqlType` shows it: the base
    /// name (TEXT becomes BLOB and CHAR becomes BINARY for binary strings),
    /// with ` unsigned` for unsigned numbers.
    pub fn mysql_type_name(&self) -> std::borrow::Cow<'static, str> {
        use ColumnType::*;
        let binary = self.is_binary();
        let name = match self.ty {
            MYSQL_TYPE_TINY => "tinyint",
            MYSQL_TYPE_SHORT => "smallint",
            MYSQL_TYPE_INT24 => "mediumint",
            MYSQL_TYPE_LONG => "int",
            MYSQL_TYPE_LONGLONG => "bigint",
            MYSQL_TYPE_FLOAT => "float",
            MYSQL_TYPE_DOUBLE => "double",
            MYSQL_TYPE_DECIMAL | MYSQL_TYPE_NEWDECIMAL => "decimal",
            MYSQL_TYPE_NULL => "null",
            MYSQL_TYPE_TIMESTAMP | MYSQL_TYPE_TIMESTAMP2 => "timestamp",
            MYSQL_TYPE_DATE | MYSQL_TYPE_NEWDATE => "date",
            MYSQL_TYPE_TIME | MYSQL_TYPE_TIME2 => "time",
            MYSQL_TYPE_DATETIME | MYSQL_TYPE_DATETIME2 => "datetime",
            MYSQL_TYPE_YEAR => "year",
            MYSQL_TYPE_BIT => "bit",
            MYSQL_TYPE_JSON => "json",
            MYSQL_TYPE_ENUM => "enum",
            MYSQL_TYPE_SET => "set",
            MYSQL_TYPE_GEOMETRY => "geometry",
            MYSQL_TYPE_VECTOR => "vector",
            MYSQL_TYPE_VARCHAR if binary => "varbinary",
            MYSQL_TYPE_VARCHAR => "varchar",
            MYSQL_TYPE_VAR_STRING => "var_string",
            MYSQL_TYPE_STRING if binary => "binary",
            MYSQL_TYPE_STRING => "char",
            MYSQL_TYPE_TINY_BLOB if binary => "tinyblob",
            MYSQL_TYPE_TINY_BLOB => "tinytext",
            MYSQL_TYPE_BLOB if binary => "blob",
            MYSQL_TYPE_BLOB => "text",
            MYSQL_TYPE_MEDIUM_BLOB if binary => "mediumblob",
            MYSQL_TYPE_MEDIUM_BLOB => "mediumtext",
            MYSQL_TYPE_LONG_BLOB if binary => "longblob",
            MYSQL_TYPE_LONG_BLOB => "longtext",
            MYSQL_TYPE_TYPED_ARRAY | MYSQL_TYPE_UNKNOWN => "unspecified",
        };
        if self.unsigned {
            format!("{name} unsigned").into()
        } else {
            name.into()
        }
    }

    /// The `java.sql.Types` code TiCDC's canal-json `sqlType` gives the
    /// column (canal's own mapping: YEAR is VARCHAR, ENUM is INTEGER, SET is
    /// BIT, and binary strings are BLOB). canal-json promotes unsigned
    /// integers whose value does not fit the signed type; that depends on
    /// the value and is the encoder's business.
    pub fn jdbc_type(&self) -> i32 {
        use ColumnType::*;
        use jdbc::*;
        let binary = self.is_binary();
        match self.ty {
            MYSQL_TYPE_TINY => TINYINT,
            MYSQL_TYPE_SHORT => SMALLINT,
            MYSQL_TYPE_INT24 | MYSQL_TYPE_LONG | MYSQL_TYPE_ENUM => INTEGER,
            MYSQL_TYPE_LONGLONG => BIGINT,
            MYSQL_TYPE_FLOAT => REAL,
            MYSQL_TYPE_DOUBLE => DOUBLE,
            MYSQL_TYPE_NULL => NULL,
            MYSQL_TYPE_DECIMAL | MYSQL_TYPE_NEWDECIMAL => DECIMAL,
            MYSQL_TYPE_TIMESTAMP
            | MYSQL_TYPE_TIMESTAMP2
            | MYSQL_TYPE_DATETIME
            | MYSQL_TYPE_DATETIME2 => TIMESTAMP,
            MYSQL_TYPE_DATE | MYSQL_TYPE_NEWDATE => DATE,
            MYSQL_TYPE_TIME | MYSQL_TYPE_TIME2 => TIME,
            MYSQL_TYPE_SET | MYSQL_TYPE_BIT => BIT,
            MYSQL_TYPE_TINY_BLOB
            | MYSQL_TYPE_BLOB
            | MYSQL_TYPE_MEDIUM_BLOB
            | MYSQL_TYPE_LONG_BLOB => {
                if binary {
                    BLOB
                } else {
                    CLOB
                }
            }
            MYSQL_TYPE_VARCHAR | MYSQL_TYPE_VAR_STRING | MYSQL_TYPE_STRING if binary => BLOB,
            MYSQL_TYPE_STRING => CHAR,
            MYSQL_TYPE_GEOMETRY => BINARY,
            _ => VARCHAR,
        }
    }
}

/// The `java.sql.Types` codes canal-json's `sqlType` uses.
pub mod jdbc {
    pub const BIT: i32 = -7;
    pub const TINYINT: i32 = -6;
    pub const SMALLINT: i32 = 5;
    pub const INTEGER: i32 = 4;
    pub const BIGINT: i32 = -5;
    pub const REAL: i32 = 7;
    pub const DOUBLE: i32 = 8;
    pub const DECIMAL: i32 = 3;
    pub const CHAR: i32 = 1;
    pub const VARCHAR: i32 = 12;
    pub const DATE: i32 = 91;
    pub const TIME: i32 = 92;
    pub const TIMESTAMP: i32 = 93;
    pub const BINARY: i32 = -2;
    pub const NULL: i32 = 0;
    pub const BLOB: i32 = 2004;
    pub const CLOB: i32 = 2005;
}

/// How a column's binlog value becomes a [`Cell`].
#[derive(Debug, Clone)]
enum Kind {
    Number,
    Decimal,
    Date,
    DateTime,
    Time,
    Timestamp,
    Year,
    Bit,
    Enum,
    Set,
    /// A character column; `None` when the collation is unknown, in which
    /// case the bytes are written as binary and the server takes them as
    /// the downstream column's character set.
    Text(Option<Arc<str>>),
    /// BINARY(n) is padded back to `n` bytes: the binlog drops trailing zeros.
    Binary {
        pad_to: Option<usize>,
    },
    Json,
}

/// A change to one row.
#[derive(Debug, Clone)]
pub(crate) struct RowChange {
    pub table: Arc<TableInfo>,
    pub op: RowOp,
}

#[derive(Debug, Clone)]
pub(crate) enum RowOp {
    Insert(Vec<Cell>),
    Update { before: Vec<Cell>, after: Vec<Cell> },
    Delete(Vec<Cell>),
}

impl TableInfo {
    /// Reads the table map. Fails when the metadata lacks column names,
    /// which means the upstream's `binlog_row_metadata` is not FULL.
    pub fn from_table_map(
        tme: &TableMapEvent<'_>,
        charsets: &Charsets,
    ) -> Result<TableInfo, String> {
        let schema = tme.database_name().into_owned();
        let name = tme.table_name().into_owned();
        let meta = OptionalMetaExtractor::new(tme.iter_optional_meta())
            .map_err(|e| format!("bad table map for `{schema}`.`{name}`: {e}"))?;
        let mut names = meta.iter_column_name();
        let mut text_charsets = meta.iter_charset();
        let mut signedness = meta.iter_signedness();
        let nulls = tme.null_bitmask();
        let count = usize::try_from(tme.columns_count()).unwrap_or(usize::MAX);
        let mut columns = Vec::with_capacity(count);
        for i in 0..count {
            let ty = tme
                .get_column_type(i)
                .map_err(|e| format!("`{schema}`.`{name}` column {i}: {e}"))?
                .ok_or_else(|| {
                    format!("`{schema}`.`{name}` column {i}: no type in the table map")
                })?;
            let column_meta = tme.get_column_metadata(i).unwrap_or(&[]);
            let column_name = match names.next() {
                Some(Ok(n)) => n.name().into_owned(),
                _ => {
                    return Err(format!(
                        "the table map of `{schema}`.`{name}` has no column names: the upstream's \
                         binlog_row_metadata must be FULL"
                    ));
                }
            };
            let charset = if ty.is_character_type() {
                Some(
                    text_charsets
                        .next()
                        .transpose()
                        .map_err(|e| format!("`{schema}`.`{name}`: {e}"))?
                        .ok_or_else(|| {
                            format!(
                                "the table map of `{schema}`.`{name}` has no character sets: the \
                                 upstream's binlog_row_metadata must be FULL"
                            )
                        })?,
                )
            } else {
                None
            };
            // Only numeric columns have a signedness bit; consuming one for
            // any other column would shift the bits of the columns after it.
            let bit = has_signedness(ty) && signedness.next().unwrap_or(false);
            let mut column =
                ColumnInfo::from_binlog(column_name, ty, column_meta, bit, charset, charsets);
            column.nullable = nulls.get(i).is_none_or(|nullable| *nullable);
            columns.push(column);
        }
        let primary_key = meta
            .iter_primary_key()
            .map(|i| i.map(|i| i as usize))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("`{schema}`.`{name}`: {e}"))?;
        Ok(TableInfo {
            schema,
            name,
            columns,
            primary_key,
        })
    }

    /// `schema.name` for messages.
    pub fn full_name(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }
}

fn kind_of(ty: ColumnType, meta: &[u8], charset: Option<u16>, charsets: &Charsets) -> Kind {
    use ColumnType::*;
    match ty {
        MYSQL_TYPE_TINY | MYSQL_TYPE_SHORT | MYSQL_TYPE_INT24 | MYSQL_TYPE_LONG
        | MYSQL_TYPE_LONGLONG | MYSQL_TYPE_FLOAT | MYSQL_TYPE_DOUBLE => Kind::Number,
        MYSQL_TYPE_NEWDECIMAL | MYSQL_TYPE_DECIMAL => Kind::Decimal,
        MYSQL_TYPE_DATE | MYSQL_TYPE_NEWDATE => Kind::Date,
        MYSQL_TYPE_DATETIME | MYSQL_TYPE_DATETIME2 => Kind::DateTime,
        MYSQL_TYPE_TIME | MYSQL_TYPE_TIME2 => Kind::Time,
        MYSQL_TYPE_TIMESTAMP | MYSQL_TYPE_TIMESTAMP2 => Kind::Timestamp,
        MYSQL_TYPE_YEAR => Kind::Year,
        MYSQL_TYPE_BIT => Kind::Bit,
        MYSQL_TYPE_ENUM => Kind::Enum,
        MYSQL_TYPE_SET => Kind::Set,
        MYSQL_TYPE_JSON => Kind::Json,
        MYSQL_TYPE_STRING
        | MYSQL_TYPE_VAR_STRING
        | MYSQL_TYPE_VARCHAR
        | MYSQL_TYPE_BLOB
        | MYSQL_TYPE_TINY_BLOB
        | MYSQL_TYPE_MEDIUM_BLOB
        | MYSQL_TYPE_LONG_BLOB => match charset {
            Some(BINARY_COLLATION) | None => Kind::Binary {
                pad_to: (ty == MYSQL_TYPE_STRING).then(|| string_length(meta)),
            },
            Some(id) => Kind::Text(charsets.get(&id).cloned()),
        },
        _ => Kind::Binary { pad_to: None },
    }
}

/// Whether the table map's SIGNEDNESS metadata has a bit for a column of
/// this type: every numeric type, YEAR included, as in
/// [`ColumnType::is_numeric_type`]. An earlier list without YEAR shifted the
/// bits of every later column on MariaDB 10.11, so that a negative INT after
/// a YEAR arrived as unsigned (engine test
/// `signedness_after_year_and_bit_columns`).
fn has_signedness(ty: ColumnType) -> bool {
    ty.is_numeric_type()
}

/// The column type as TiDB's schema has it, which is what TiCDC publishes:
/// the binlog's storage variants (TIMESTAMP2, DATETIME2, TIME2, NEWDATE)
/// become the plain types, and BLOB/TEXT is told apart from TINY-, MEDIUM-
/// and LONGBLOB by the length bytes its metadata declares.
fn tidb_type(ty: ColumnType, meta: &[u8]) -> ColumnType {
    use ColumnType::*;
    match ty {
        MYSQL_TYPE_DECIMAL => MYSQL_TYPE_NEWDECIMAL,
        MYSQL_TYPE_NEWDATE => MYSQL_TYPE_DATE,
        MYSQL_TYPE_TIMESTAMP2 => MYSQL_TYPE_TIMESTAMP,
        MYSQL_TYPE_DATETIME2 => MYSQL_TYPE_DATETIME,
        MYSQL_TYPE_TIME2 => MYSQL_TYPE_TIME,
        MYSQL_TYPE_BLOB => match meta.first() {
            Some(1) => MYSQL_TYPE_TINY_BLOB,
            Some(3) => MYSQL_TYPE_MEDIUM_BLOB,
            Some(4) => MYSQL_TYPE_LONG_BLOB,
            _ => MYSQL_TYPE_BLOB,
        },
        other => other,
    }
}

/// The declared byte length of a CHAR/BINARY column from its table-map
/// metadata (the same arithmetic as the server's `Field_string`).
fn string_length(meta: &[u8]) -> usize {
    match meta {
        [byte0, byte1, ..] => {
            let (byte0, byte1) = (usize::from(*byte0), usize::from(*byte1));
            if byte0 & 0x30 != 0x30 {
                byte1 | (((byte0 & 0x30) ^ 0x30) << 4)
            } else {
                byte1
            }
        }
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn char_lengths_come_from_the_metadata() {
        assert_eq!(string_length(&[0xfe, 16]), 16);
    }

    #[test]
    fn type_names_follow_tidb() {
        use ColumnType::*;
        let col = |ty, charset| ColumnInfo::test_typed("c", ty, charset);
        assert_eq!(tidb_type(MYSQL_TYPE_BLOB, &[1]), MYSQL_TYPE_TINY_BLOB);
        assert_eq!(tidb_type(MYSQL_TYPE_BLOB, &[2]), MYSQL_TYPE_BLOB);
        assert_eq!(tidb_type(MYSQL_TYPE_DATETIME2, &[6]), MYSQL_TYPE_DATETIME);
        assert_eq!(tidb_type(MYSQL_TYPE_NEWDATE, &[]), MYSQL_TYPE_DATE);
        assert_eq!(
            col(MYSQL_TYPE_LONGLONG, "binary")
                .unsigned()
                .mysql_type_name(),
            "bigint unsigned"
        );
        assert_eq!(
            col(MYSQL_TYPE_VARCHAR, "utf8mb4").mysql_type_name(),
            "varchar"
        );
        assert_eq!(
            col(MYSQL_TYPE_VARCHAR, "binary").mysql_type_name(),
            "varbinary"
        );
        assert_eq!(col(MYSQL_TYPE_STRING, "binary").mysql_type_name(), "binary");
        assert_eq!(col(MYSQL_TYPE_BLOB, "latin1").mysql_type_name(), "text");
        assert_eq!(
            col(MYSQL_TYPE_MEDIUM_BLOB, "binary").mysql_type_name(),
            "mediumblob"
        );
        assert_eq!(col(MYSQL_TYPE_ENUM, "binary").mysql_type_name(), "enum");
        assert_eq!(col(MYSQL_TYPE_JSON, "binary").mysql_type_name(), "json");
        assert_eq!(col(MYSQL_TYPE_STRING, "utf8mb4").jdbc_type(), 1);
        assert_eq!(col(MYSQL_TYPE_VARCHAR, "binary").jdbc_type(), 2004);
        assert_eq!(col(MYSQL_TYPE_BLOB, "utf8mb4").jdbc_type(), 2005);
        assert_eq!(col(MYSQL_TYPE_YEAR, "binary").jdbc_type(), 12);
        assert_eq!(col(MYSQL_TYPE_SET, "utf8mb4").jdbc_type(), -7);
        assert!(col(MYSQL_TYPE_LONG, "binary").is_binary());
        assert!(!col(MYSQL_TYPE_ENUM, "utf8mb4").is_binary());
        assert!(!col(MYSQL_TYPE_VARCHAR, "latin1").is_binary());
        assert!(has_signedness(MYSQL_TYPE_NEWDECIMAL) && has_signedness(MYSQL_TYPE_YEAR));
        assert!(!has_signedness(MYSQL_TYPE_BIT) && !has_signedness(MYSQL_TYPE_VARCHAR));
    }
}
