//! What a changefeed replicates, resolved from its row: the typed spec the
//! replication engine in `ferry-worker` runs (both endpoints, the Kafka sink's
//! protocol and dispatch rules, the table filter). The registry builds and
//! checks it at request time; the engine consumes it. No I/O here.

use secrecy::SecretString;

use super::filter::TableFilter;
use crate::clusters::Tls;

/// How to reach a MySQL-protocol server (MariaDB, MySQL or TiDB).
#[derive(Debug, Clone)]
pub struct MysqlEndpoint {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: Option<SecretString>,
    /// TLS, when the server is reached over it: the CA to trust (else the
    /// public roots) and whether to skip verification.
    pub tls: Option<Tls>,
}

/// Where a changefeed's changes go.
#[derive(Debug, Clone)]
pub enum Downstream {
    /// MySQL or TiDB, written over the MySQL protocol.
    Mysql(MysqlEndpoint),
    /// A Kafka topic.
    Kafka(KafkaSinkSpec),
}

/// How to reach a Kafka topic and what to write to it.
#[derive(Debug, Clone)]
pub struct KafkaSinkSpec {
    /// librdkafka client settings (bootstrap servers, security, client id);
    /// may hold a SASL password, so it is never printed.
    pub client: KafkaClientConfig,
    pub topic: String,
    pub protocol: Protocol,
    pub dispatchers: Dispatchers,
    /// The largest record (key and value) the changefeed may produce.
    pub max_message_bytes: usize,
    /// At most this many messages in one producer batch (librdkafka
    /// `batch.num.messages`).
    pub max_batch_size: usize,
}

/// librdkafka settings whose `Debug` shows nothing: they may carry secrets.
#[derive(Clone)]
pub struct KafkaClientConfig(pub rdkafka::ClientConfig);

impl std::fmt::Debug for KafkaClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KafkaClientConfig(..)")
    }
}

/// Everything the engine needs to replicate one changefeed.
#[derive(Debug, Clone)]
pub struct ReplicationSpec {
    pub changefeed_id: String,
    pub upstream: MysqlEndpoint,
    pub downstream: Downstream,
    /// TiDB table-filter rules; see `filter.rs`.
    pub rules: Vec<String>,
    /// Parallel appliers downstream (TiEM `workerCount`), at least 1.
    pub worker_count: usize,
    /// Most rows applied in one downstream transaction (TiEM `maxTxnRow`).
    pub max_txn_rows: usize,
    /// A server id for the binlog connection, unique among the upstream's
    /// replicas and ferry's other connections.
    pub server_id: u32,
}

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
}

/// Dispatchers: which partition of the topic each row change goes to.
///
/// TiCDC's rules `[{matcher, dispatcher}]`: the matcher is table-filter
/// syntax (a rule or a list of rules), the first rule whose matcher keeps the
/// table decides, and a table no rule matches uses `default`.
///
/// - `ts`: by the transaction's commit TSO, so a transaction stays in one
///   partition but a row's changes may not.
/// - `table`: by `schema.table`; every change of a table in one partition, in
///   commit order.
/// - `index-value` (alias `rowid`): by the table and its primary-key values;
///   one row's changes stay in one partition. A table without a primary key
///   falls back to `table`.
/// - `default`: `table`, as TiCDC does since old values are always sent: the
///   before image of an update is only meaningful in table order.
///
/// Hashes are CRC-32 of stable byte encodings, so a restart (or a new ferry
/// version) sends a key to the partition it went to before.
/// How one rule spreads changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DispatchKind {
    Ts,
    Table,
    IndexValue,
    Default,
}

impl DispatchKind {
    fn parse(name: &str) -> Result<DispatchKind, String> {
        match name.trim().to_ascii_lowercase().as_str() {
            "ts" => Ok(DispatchKind::Ts),
            "table" => Ok(DispatchKind::Table),
            "index-value" | "rowid" => Ok(DispatchKind::IndexValue),
            "default" | "" => Ok(DispatchKind::Default),
            other => Err(format!(
                "dispatcher `{other}` is not one of default, ts, table, index-value, rowid"
            )),
        }
    }
}

#[derive(Debug, Clone)]
struct Rule {
    filter: TableFilter,
    kind: DispatchKind,
}

/// A changefeed's dispatch rules, in order.
#[derive(Debug, Clone, Default)]
pub struct Dispatchers {
    rules: Vec<Rule>,
}

impl Dispatchers {
    /// Parses `(matcher rules, dispatcher name)` pairs; the error names the
    /// rule (0-based, as in the request's array) and what is wrong.
    pub fn parse(rules: &[(Vec<String>, String)]) -> Result<Dispatchers, String> {
        let mut parsed = Vec::with_capacity(rules.len());
        for (i, (matcher, dispatcher)) in rules.iter().enumerate() {
            if matcher.is_empty() {
                return Err(format!("dispatchers[{i}].matcher is required"));
            }
            let filter = TableFilter::parse(matcher)
                .map_err(|e| format!("dispatchers[{i}].matcher: {e}"))?;
            let kind =
                DispatchKind::parse(dispatcher).map_err(|e| format!("dispatchers[{i}]: {e}"))?;
            parsed.push(Rule { filter, kind });
        }
        Ok(Dispatchers { rules: parsed })
    }

    /// The rule kind for a table (before the keyless fallback).
    pub fn kind_for(&self, schema: &str, table: &str) -> DispatchKind {
        self.rules
            .iter()
            .find(|r| r.filter.matches(schema, table))
            .map_or(DispatchKind::Default, |r| r.kind)
    }
}

impl DispatchKind {
    /// Whether changes are spread by primary key, in which case an update
    /// that changes the key must be sent as a delete of the old key and an
    /// insert of the new one to keep each key's order.
    pub fn by_key(self) -> bool {
        self == DispatchKind::IndexValue
    }
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
