//! Message encodings for the Kafka sink, one module per protocol, with
//! TiCDC's field names so that existing consumers keep working.
//!
//! INTERFACE (fixed; the sink in `super` depends on exactly this; `Protocol`
//! is `pub` because the engine's public `KafkaSinkSpec` holds it):
//! - [`Protocol`] and [`Protocol::parse`].
//! - [`RowEvent`], [`DdlEvent`], [`DdlEventKind`], [`Message`].
//! - [`Protocol::row_encoder`] (a [`RowEncoder`] keeps per-table parts of
//!   the messages between rows) and [`Protocol::encode_ddl`].

mod canal_json;
mod json;
mod maxwell;
mod open_protocol;
mod values;

use crate::changefeed::source::row::RowChange;

/// The wire protocols a Kafka downstream may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// TiCDC `canal-json`.
    CanalJson,
    /// TiCDC `maxwell`.
    Maxwell,
    /// TiCDC open protocol (`default` / `open-protocol`).
    Open,
}

impl Protocol {
    /// Parses TiEM's / TiCDC's protocol name; `Err` is a message for the
    /// user naming what is accepted (avro and canal protobuf are refused).
    pub fn parse(name: &str) -> Result<Protocol, String> {
        match name.trim().to_ascii_lowercase().as_str() {
            "canal-json" => Ok(Protocol::CanalJson),
            "maxwell" => Ok(Protocol::Maxwell),
            "default" | "open-protocol" => Ok(Protocol::Open),
            "avro" => Err(
                "protocol `avro` needs a schema registry, which ferry does not support \
                 yet; use canal-json, maxwell or open-protocol"
                    .to_owned(),
            ),
            "canal" => Err(
                "protocol `canal` is canal's protobuf encoding, which ferry does not \
                 support; use canal-json for canal's JSON encoding (or maxwell or open-protocol)"
                    .to_owned(),
            ),
            _ => Err(format!(
                "unknown protocol `{name}`: use canal-json, maxwell or open-protocol \
                 (also accepted as `default`)"
            )),
        }
    }

    /// The name ferry shows and stores (`canal-json`, `maxwell`, `open-protocol`).
    pub fn name(self) -> &'static str {
        match self {
            Protocol::CanalJson => "canal-json",
            Protocol::Maxwell => "maxwell",
            Protocol::Open => "open-protocol",
        }
    }

    /// An encoder for a run of rows, such as one round.
    pub(crate) fn row_encoder(self) -> RowEncoder {
        RowEncoder {
            protocol: self,
            canal: None,
        }
    }

    pub(crate) fn encode_ddl(self, event: &DdlEvent<'_>) -> Message {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_accepts_ticdc_names() {
        assert_eq!(Protocol::parse("canal-json"), Ok(Protocol::CanalJson));
        assert_eq!(Protocol::parse("Maxwell"), Ok(Protocol::Maxwell));
        assert_eq!(Protocol::parse("default"), Ok(Protocol::Open));
        assert_eq!(Protocol::parse("open-protocol"), Ok(Protocol::Open));
        for protocol in [Protocol::CanalJson, Protocol::Maxwell, Protocol::Open] {
            assert_eq!(Protocol::parse(protocol.name()), Ok(protocol));
        }
    }

    #[test]
    fn parse_explains_refusals() {
        assert_eq!(
            Protocol::parse("avro").unwrap_err(),
            "protocol `avro` needs a schema registry, which ferry does not support yet; use \
             canal-json, maxwell or open-protocol"
        );
        let canal = Protocol::parse("canal").unwrap_err();
        assert!(
            canal.contains("protobuf") && canal.contains("canal-json"),
            "{canal}"
        );
        let other = Protocol::parse("csv").unwrap_err();
        assert!(
            other.contains("`csv`") && other.contains("open-protocol"),
            "{other}"
        );
    }
}
