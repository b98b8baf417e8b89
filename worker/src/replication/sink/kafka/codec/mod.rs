//! Message encodings for the Kafka sink, one module per protocol, with
//! TiCDC's field names so that existing consumers keep working.
//!
//! INTERFACE (fixed; the sink in `super` depends on exactly this; the
//! [`Protocol`] itself, and its parsing, belong to the changefeed's spec in
//! `ferry-service`, which the API checks requests against):
//! - [`RowEvent`], [`DdlEvent`], [`DdlEventKind`], [`Message`].
//! - [`Encode::row_encoder`] (a [`RowEncoder`] keeps per-table parts of
//!   the messages between rows) and [`Encode::encode_ddl`], implemented for
//!   [`Protocol`] by enum dispatch.

mod canal_json;
mod json;
mod maxwell;
mod open_protocol;
mod values;

use ferry_service::changefeeds::spec::Protocol;

use crate::replication::source::row::RowChange;

/// How a sink encodes with the spec's [`Protocol`].
pub(crate) trait Encode {
    fn row_encoder(self) -> RowEncoder;
    fn encode_ddl(self, event: &DdlEvent<'_>) -> Message;
}

impl Encode for Protocol {
    /// An encoder for a run of rows, such as one round.
    fn row_encoder(self) -> RowEncoder {
        RowEncoder {
            protocol: self,
            canal: None,
        }
    }

    fn encode_ddl(self, event: &DdlEvent<'_>) -> Message {
        match self {
            Protocol::CanalJson => canal_json::encode_ddl(event),
            Protocol::Maxwell => maxwell::encode_ddl(event),
            Protocol::Open => open_protocol::encode_ddl(event),
        }
    }
}

/// Encodes rows in one protocol, remembering what depends only on the
/// table between consecutive rows of the same table.
pub(crate) struct RowEncoder {
    protocol: Protocol,
    canal: Option<canal_json::TableParts>,
}

impl RowEncoder {
    pub(crate) fn encode(&mut self, event: &RowEvent<'_>) -> Message {
        match self.protocol {
            Protocol::CanalJson => canal_json::encode_row(event, &mut self.canal),
            Protocol::Maxwell => maxwell::encode_row(event),
            Protocol::Open => open_protocol::encode_row(event),
        }
    }
}

/// One row change of an upstream transaction.
#[derive(Debug)]
pub(crate) struct RowEvent<'a> {
    pub change: &'a RowChange,
    /// The transaction's commit TSO (TiDB format, see `changefeed::tso`).
    pub commit_ts: u64,
}

/// A DDL statement to publish.
#[derive(Debug)]
pub(crate) struct DdlEvent<'a> {
    /// The schema the statement acts on (or runs in).
    pub schema: &'a str,
    /// The table it acts on; `None` for database DDL.
    pub table: Option<&'a str>,
    /// The statement as the upstream ran it.
    pub sql: &'a str,
    pub kind: DdlEventKind,
    pub commit_ts: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DdlEventKind {
    CreateDatabase,
    DropDatabase,
    AlterDatabase,
    CreateTable,
    AlterTable,
    DropTable,
    RenameTable,
    TruncateTable,
    CreateIndex,
    DropIndex,
}

/// One Kafka record's key and value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Message {
    pub key: Option<Vec<u8>>,
    pub value: Vec<u8>,
}
