//! A Kafka downstream: TiEM's KafkaDownstream object checked into typed
//! settings, and the producer settings the engine gets. What changefeed
//! create and update verify on the broker (reachable, the topic created or
//! big enough) is the worker's (`jobs::changefeed_topic`).

use ferry_entity::{ClusterId, payload::KafkaAddress};
use rdkafka::ClientConfig;
use serde_json::{Map, Value};

use super::spec::{Dispatchers, KafkaClientConfig, KafkaSinkSpec, Protocol};
use crate::{clusters, kafka, store::Store, topics};

/// Partitions of a topic the changefeed creates, when not given (TiCDC's
/// default).
pub const DEFAULT_PARTITIONS: i32 = 3;
/// TiCDC's default `max-message-bytes`.
const DEFAULT_MAX_MESSAGE_BYTES: usize = 10 * 1024 * 1024;
/// librdkafka's default `batch.num.messages`.
const DEFAULT_MAX_BATCH_SIZE: usize = 10_000;
/// How long create and update wait for the brokers' metadata. It stays
/// well inside the API's default wait for the task (10 s), so that an
/// unreachable broker is answered as a refusal, not as a pending task.
pub const PRECHECK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
/// Most dispatcher rules of one downstream; each matcher is a table-filter
/// list within that grammar's limits.
const MAX_DISPATCHERS: usize = 64;
/// Kafka's own ceiling for a record.
const MAX_MESSAGE_BYTES: usize = 1 << 30;

/// A Kafka downstream's settings, validated.
#[derive(Debug, Clone)]
pub struct KafkaDownstream {
    /// A registered Kafka cluster, used instead of `ip`/`port`.
    pub target_cluster_id: Option<ClusterId>,
    /// `ip:port` when no cluster is named.
    pub bootstrap: Option<String>,
    pub topic: String,
    pub partitions: Option<i32>,
    pub replication_factor: Option<i32>,
    pub protocol: Protocol,
    pub dispatchers: Dispatchers,
    pub max_batch_size: usize,
    pub max_message_bytes: usize,
    pub client_id: Option<String>,
    /// The broker's Kafka version, for brokers that cannot say it themselves.
    pub version: Option<String>,
    pub tls: bool,
}

/// Reads and checks the downstream object; the error names the field.
pub fn parse(map: &Map<String, Value>) -> Result<KafkaDownstream, String> {
    let target_cluster_id =
        match map.get("targetClusterId") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.trim().is_empty() => None,
            Some(v) => {
                let text = match v {
                    Value::String(s) => s.trim().to_owned(),
                    other => other.to_string(),
                };
                Some(ClusterId::parse(&text).ok_or_else(|| {
                    format!("downstream.targetClusterId `{text}`: no such cluster")
                })?)
            }
        };
    let bootstrap = if target_cluster_id.is_some() {
        None
    } else {
        let ip = map
            .get("ip")
            .and_then(Value::as_str)
            .map(str::trim)
            .unwrap_or_default();
        if ip.is_empty() {
            return Err("downstream.ip is required (or downstream.targetClusterId)".into());
        }
        let port = map
            .get("port")
            .and_then(Value::as_u64)
            .filter(|p| (1..=65535).contains(p))
            .ok_or("downstream.port must be between 1 and 65535")?;
        Some(if ip.contains(':') && !ip.starts_with('[') {
            format!("[{ip}]:{port}")
        } else {
            format!("{ip}:{port}")
        })
    };
    let topic = map
        .get("topicName")
        .and_then(Value::as_str)
        .map(str::trim)
        .unwrap_or_default()
        .to_owned();
    if topic.is_empty() {
        return Err("downstream.topicName is required".into());
    }
    topics::validate_topic_name(&topic).map_err(|e| format!("downstream.topicName: {e}"))?;
    let int = |key: &str, max: u64| -> Result<Option<u64>, String> {
        match map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_u64()
                .filter(|n| (1..=max).contains(n))
                .map(Some)
                .ok_or_else(|| format!("downstream.{key} must be an integer between 1 and {max}")),
        }
    };
    let partitions = int("partitions", topics::MAX_PARTITIONS as u64)?.map(|n| n as i32);
    let replication_factor =
        int("replicationFactor", topics::MAX_REPLICATION_FACTOR as u64)?.map(|n| n as i32);
    let max_batch_size =
        int("maxBatchSize", 1_000_000)?.map_or(DEFAULT_MAX_BATCH_SIZE, |n| n as usize);
    let max_message_bytes = int("maxMessageBytes", MAX_MESSAGE_BYTES as u64)?
        .map_or(DEFAULT_MAX_MESSAGE_BYTES, |n| n as usize);
    let protocol = match map.get("protocol") {
        None | Some(Value::Null) => Protocol::Open,
        Some(Value::String(s)) if s.trim().is_empty() => Protocol::Open,
        Some(Value::String(s)) => {
            Protocol::parse(s.trim()).map_err(|e| format!("downstream.protocol: {e}"))?
        }
        Some(_) => return Err("downstream.protocol must be a string".into()),
    };
    let dispatchers = parse_dispatchers(map.get("dispatchers"))?;
    let text = |key: &str| -> Result<Option<String>, String> {
        match map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.trim().to_owned())),
            Some(_) => Err(format!("downstream.{key} must be a string")),
        }
    };
    let client_id = text("clientId")?;
    if let Some(id) = &client_id
        && (id.len() > 255
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)))
    {
        return Err(
            "downstream.clientId may hold up to 255 letters, digits, `.`, `_` and `-`".into(),
        );
    }
    let version = text("version")?;
    if let Some(v) = &version {
        let parts: Vec<&str> = v.split('.').collect();
        if !(2..=4).contains(&parts.len())
            || parts
                .iter()
                .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(format!(
                "downstream.version `{v}` is not a Kafka version such as 2.4.0"
            ));
        }
    }
    let tls = match map.get("tls") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err("downstream.tls must be true or false".into()),
    };
    Ok(KafkaDownstream {
        target_cluster_id,
        bootstrap,
        topic,
        partitions,
        replication_factor,
        protocol,
        dispatchers,
        max_batch_size,
        max_message_bytes,
        client_id,
        version,
        tls,
    })
}

/// `[{matcher, dispatcher}]`; a matcher is one table-filter rule or a list.
fn parse_dispatchers(value: Option<&Value>) -> Result<Dispatchers, String> {
    let items = match value {
        None | Some(Value::Null) => return Ok(Dispatchers::default()),
        Some(Value::Array(items)) => items,
        Some(_) => return Err("downstream.dispatchers must be an array".into()),
    };
    if items.len() > MAX_DISPATCHERS {
        return Err(format!(
            "downstream.dispatchers holds {} rules, more than {MAX_DISPATCHERS}",
            items.len()
        ));
    }
    let mut rules = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let Value::Object(rule) = item else {
            return Err(format!(
                "downstream.dispatchers[{i}] must be an object with matcher and dispatcher"
            ));
        };
        let matcher = match rule.get("matcher") {
            Some(Value::String(s)) if !s.trim().is_empty() => vec![s.trim().to_owned()],
            Some(Value::Array(list)) if !list.is_empty() => list
                .iter()
                .map(|m| m.as_str().map(|s| s.trim().to_owned()))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| format!("downstream.dispatchers[{i}].matcher must hold strings"))?,
            _ => return Err(format!("downstream.dispatchers[{i}].matcher is required")),
        };
        let dispatcher = match rule.get("dispatcher") {
            Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_owned(),
            _ => {
                return Err(format!(
                    "downstream.dispatchers[{i}].dispatcher is required"
                ));
            }
        };
        rules.push((matcher, dispatcher));
    }
    Dispatchers::parse(&rules).map_err(|e| format!("downstream.{e}"))
}

impl KafkaDownstream {
    /// librdkafka settings for this downstream, secrets included when the
    /// cluster is a registered one with SASL.
    pub async fn client_config(&self, store: &Store) -> Result<ClientConfig, String> {
        if let Some(address) = self.address() {
            return Ok(kafka::address_config(&address));
        }
        let Some(id) = self.target_cluster_id else {
            return Err("the downstream names neither brokers nor a cluster".into());
        };
        let conn = clusters::connection(store, id)
            .await
            .map_err(|e| format!("downstream cluster {id}: {e}"))?;
        let mut config = kafka::client_config(&conn);
        kafka::identify(
            &mut config,
            self.client_id.as_deref(),
            self.version.as_deref(),
        );
        Ok(config)
    }

    /// The brokers by address, when the downstream names no registered
    /// cluster.
    pub fn address(&self) -> Option<KafkaAddress> {
        self.bootstrap.as_ref().map(|servers| KafkaAddress {
            bootstrap_servers: servers.clone(),
            tls: self.tls,
            client_id: self.client_id.clone(),
            version: self.version.clone(),
        })
    }

    /// What the engine needs to produce.
    pub async fn sink_spec(&self, store: &Store) -> Result<KafkaSinkSpec, String> {
        Ok(KafkaSinkSpec {
            client: KafkaClientConfig(self.client_config(store).await?),
            topic: self.topic.clone(),
            protocol: self.protocol,
            dispatchers: self.dispatchers.clone(),
            max_message_bytes: self.max_message_bytes,
            max_batch_size: self.max_batch_size,
        })
    }

    /// The brokers, as error messages name them.
    pub fn describe_brokers(&self) -> String {
        match (&self.bootstrap, self.target_cluster_id) {
            (Some(b), _) => b.clone(),
            (None, Some(id)) => format!("cluster {id}"),
            (None, None) => "?".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn check(v: Value) -> Result<KafkaDownstream, String> {
        parse(v.as_object().unwrap())
    }

    #[test]
    fn defaults_and_fields() {
        let d = check(json!({"ip": "127.0.0.1", "port": 9092, "topicName": "cdc"})).unwrap();
        assert_eq!(d.bootstrap.as_deref(), Some("127.0.0.1:9092"));
        assert_eq!(d.protocol, Protocol::Open);
        assert_eq!(d.max_message_bytes, DEFAULT_MAX_MESSAGE_BYTES);
        let d = check(json!({
            "targetClusterId": "7", "topicName": "cdc", "protocol": "canal-json",
            "partitions": 4, "replicationFactor": 1, "maxBatchSize": 64,
            "maxMessageBytes": 2048, "clientId": "cdc-1", "version": "2.4.0",
            "dispatchers": [{"matcher": "db.*", "dispatcher": "rowid"}]
        }))
        .unwrap();
        assert_eq!(d.target_cluster_id, Some(ClusterId(7)));
        assert_eq!((d.partitions, d.max_batch_size), (Some(4), 64));
    }

    #[test]
    fn errors_name_the_field() {
        let base = |extra: Value| {
            let mut v = json!({"ip": "h", "port": 9092, "topicName": "cdc"});
            v.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            check(v).unwrap_err()
        };
        assert!(base(json!({"protocol": "avro"})).starts_with("downstream.protocol:"));
        assert!(base(json!({"partitions": 0})).starts_with("downstream.partitions"));
        assert!(base(json!({"topicName": "a b"})).starts_with("downstream.topicName"));
        assert!(
            base(json!({"dispatchers": [{"matcher": "db.*", "dispatcher": "nope"}]}))
                .starts_with("downstream.dispatchers[0]")
        );
        assert!(base(json!({"version": "latest"})).starts_with("downstream.version"));
        assert!(
            check(json!({"topicName": "cdc"}))
                .unwrap_err()
                .starts_with("downstream.ip")
        );
    }
}
