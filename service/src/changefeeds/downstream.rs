//! A changefeed's downstream: checking TiEM's downstream object, keeping its
//! password apart (encrypted), showing it masked, and resolving both ends to
//! endpoints the engine can connect to.

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use ferry_entity::{
    ClusterId, ClusterKind, DownstreamType, changefeed::Model, payload::ChangefeedOptions,
};

use super::{
    Reach, kafka_downstream,
    spec::{Downstream, MysqlEndpoint},
};
use crate::{
    clusters,
    error::{ErrorKind, ServiceError},
    store::Store,
};

/// Checks a MySQL/TiDB downstream object and splits out its password.
pub(super) async fn split_downstream(
    store: &Store,
    downstream_type: DownstreamType,
    downstream: Value,
    force: bool,
    reach: Reach<'_>,
) -> Result<(Value, Option<String>, ChangefeedOptions), ServiceError> {
    let Value::Object(mut map) = downstream else {
        return Err(ServiceError::invalid("downstream must be an object"));
    };
    if downstream_type == DownstreamType::Kafka {
        return split_kafka(store, map, force, reach).await;
    }
    let downstream_type = downstream_type.as_str();
    let count = |key: &str, default: usize, max: usize| -> Result<usize, ServiceError> {
        match map.get(key) {
            None | Some(Value::Null) => Ok(default),
            Some(v) => v
                .as_u64()
                .map(|n| n as usize)
                .filter(|n| (1..=max).contains(n))
                .ok_or_else(|| {
                    ServiceError::invalid(format!("downstream.{key} must be between 1 and {max}"))
                }),
        }
    };
    let worker_count = count("workerCount", count("concurrentThreads", 4, 128)?, 128)?;
    let options = ChangefeedOptions {
        worker_count,
        max_txn_row: count("maxTxnRow", 256, 100_000)?,
        force,
    };
    let target = map.get("targetClusterId").and_then(|v| match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    });
    if let Some(target) = target {
        let id = ClusterId::parse(&target).ok_or_else(|| {
            ServiceError::invalid(format!(
                "downstream.targetClusterId `{target}`: no such cluster"
            ))
        })?;
        let view = clusters::get(store, id).await.map_err(|e| match e.kind() {
            ErrorKind::NotFound => ServiceError::invalid(format!(
                "downstream.targetClusterId `{target}`: no such cluster"
            )),
            _ => e,
        })?;
        reach.target(id, None)?;
        if view.kind == ClusterKind::Kafka {
            return Err(ServiceError::invalid(format!(
                "downstream.targetClusterId `{target}` is a kafka cluster; a {downstream_type} downstream needs a mysql or tidb cluster"
            )));
        }
        map.remove("password");
        return Ok((Value::Object(map), None, options));
    }
    let ip = map
        .get("ip")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .trim()
        .to_owned();
    if ip.is_empty() {
        return Err(ServiceError::invalid(
            "downstream.ip is required (or downstream.targetClusterId)",
        ));
    }
    reach.address(&ip)?;
    match map.get("port").and_then(Value::as_u64) {
        Some(p) if (1..=65535).contains(&p) => {}
        _ => {
            return Err(ServiceError::invalid(
                "downstream.port must be between 1 and 65535",
            ));
        }
    }
    if map
        .get("username")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .is_empty()
    {
        return Err(ServiceError::invalid("downstream.username is required"));
    }
    let secret = match map.remove("password") {
        Some(Value::String(pw)) if !pw.is_empty() => Some(store.secrets.encrypt(&pw)),
        Some(Value::String(_)) | Some(Value::Null) | None => None,
        Some(_) => {
            return Err(ServiceError::invalid(
                "downstream.password must be a string",
            ));
        }
    };
    Ok((Value::Object(map), secret, options))
}

/// Checks a Kafka downstream object. It holds no password of its own (a
/// registered cluster keeps its SASL secret), so nothing is split out.
async fn split_kafka(
    store: &Store,
    mut map: serde_json::Map<String, Value>,
    force: bool,
    reach: Reach<'_>,
) -> Result<(Value, Option<String>, ChangefeedOptions), ServiceError> {
    // The dispatchers' matchers are compiled on the blocking pool, as rules
    // are (see `validate_rules`).
    let fields = map.clone();
    let parsed = tokio::task::spawn_blocking(move || kafka_downstream::parse(&fields))
        .await
        .map_err(|e| ServiceError::unavailable("checking the downstream failed", e))?
        .map_err(ServiceError::invalid)?;
    if let Some(id) = parsed.target_cluster_id {
        let view = clusters::get(store, id).await.map_err(|e| match e.kind() {
            ErrorKind::NotFound => ServiceError::invalid(format!(
                "downstream.targetClusterId `{id}`: no such cluster"
            )),
            _ => e,
        })?;
        reach.target(id, Some(&parsed.topic))?;
        if view.kind != ClusterKind::Kafka {
            return Err(ServiceError::invalid(format!(
                "downstream.targetClusterId `{id}` is a {} cluster; a kafka downstream needs a kafka cluster",
                view.kind.as_str()
            )));
        }
    } else if let Some(ip) = map.get("ip").and_then(Value::as_str) {
        reach.address(ip)?;
    }
    map.remove("password");
    let options = ChangefeedOptions {
        // One producer per changefeed; librdkafka parallelises by itself.
        worker_count: 1,
        // Rows per round: whole transactions are sent together anyway, and
        // bigger rounds mean fewer acknowledgement waits.
        max_txn_row: 4096,
        force,
    };
    Ok((Value::Object(map), None, options))
}

/// The downstream object as the API shows it: the password masked.
pub fn downstream_view(model: &Model) -> Value {
    let mut shown = model.downstream.clone();
    // A Kafka downstream has no password field (SASL secrets stay with the
    // registered cluster).
    if model.downstream_type == DownstreamType::Kafka {
        return shown;
    }
    if let Value::Object(map) = &mut shown {
        let has_password = model.downstream_secret.is_some();
        map.insert(
            "password".into(),
            if has_password {
                json!("******")
            } else {
                Value::Null
            },
        );
    }
    shown
}

/// The stored Kafka downstream of a changefeed, checked again (it was
/// checked when recorded).
pub fn kafka_of(model: &Model) -> Result<kafka_downstream::KafkaDownstream, ServiceError> {
    let Value::Object(map) = &model.downstream else {
        return Err(ServiceError::invalid(
            "the stored downstream is not an object",
        ));
    };
    kafka_downstream::parse(map).map_err(ServiceError::invalid)
}

/// How the engine reaches the upstream and the downstream, secrets included.
pub async fn endpoints(
    store: &Store,
    model: &Model,
) -> Result<(MysqlEndpoint, Downstream), ServiceError> {
    let upstream = cluster_endpoint(store, model.cluster_id).await?;
    if model.downstream_type == DownstreamType::Kafka {
        let spec = kafka_of(model)?
            .sink_spec(store)
            .await
            .map_err(ServiceError::invalid)?;
        return Ok((upstream, Downstream::Kafka(spec)));
    }
    let target = model
        .downstream
        .get("targetClusterId")
        .and_then(ClusterId::from_json);
    let downstream = match target {
        Some(id) => cluster_endpoint(store, id).await?,
        None => MysqlEndpoint {
            host: model
                .downstream
                .get("ip")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            port: model
                .downstream
                .get("port")
                .and_then(Value::as_u64)
                .unwrap_or(3306) as u16,
            user: model
                .downstream
                .get("username")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            password: match &model.downstream_secret {
                Some(sealed) => Some(store.secrets.decrypt(sealed)?),
                None => None,
            },
            // A downstream by address says only whether to use TLS; its
            // certificate is checked against the public roots.
            tls: model
                .downstream
                .get("tls")
                .and_then(Value::as_bool)
                .unwrap_or(false)
                .then(|| clusters::Tls {
                    enabled: true,
                    ..clusters::Tls::default()
                }),
        },
    };
    Ok((upstream, Downstream::Mysql(downstream)))
}

async fn cluster_endpoint(store: &Store, id: ClusterId) -> Result<MysqlEndpoint, ServiceError> {
    let conn = clusters::connection(store, id)
        .await
        .map_err(|e| match e.kind() {
            ErrorKind::NotFound => ServiceError::invalid(format!("cluster {id} was removed")),
            _ => e,
        })?;
    Ok(MysqlEndpoint {
        host: conn.settings.host.clone().unwrap_or_default(),
        port: conn.settings.port.unwrap_or(3306),
        user: conn.settings.user.clone().unwrap_or_default(),
        password: conn
            .password
            .as_ref()
            .map(|p| SecretString::from(p.expose_secret().to_owned())),
        tls: conn.settings.tls.clone().filter(|t| t.enabled),
    })
}
