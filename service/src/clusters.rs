//! The cluster registry: validated connection settings for Kafka and
//! MySQL/TiDB clusters, with passwords encrypted at rest. Every dialect's
//! cluster routes go through here.

use chrono::Utc;
use ferry_entity::{
    ClusterId, ClusterKind, changefeed,
    cluster::{self, ActiveModel, Entity as Clusters, Model},
    project_grant, task,
};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, TransactionTrait,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::{
    error::{ServiceError, is_unique_violation},
    schema_registry::{SchemaRegistrySettings, settings::SchemaRegistryInput},
    store::Store,
    tasks,
};

/// SASL settings of a Kafka cluster.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Sasl {
    pub mechanism: String,
    pub username: String,
}

/// TLS settings of any cluster.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Tls {
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_pem: Option<String>,
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

/// The non-secret settings, as stored in `clusters.settings`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ClusterSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bootstrap_servers: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sasl: Option<Sasl>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<Tls>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Kafka: the schema registry of the REST Proxy's schema formats.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_registry: Option<SchemaRegistrySettings>,
}

/// The secret settings, stored encrypted in `clusters.secret`.
#[derive(Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClusterSecrets {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    password: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sasl_password: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    schema_registry_password: Option<String>,
}

/// A create or update request, dialect-neutral. On update, `None` keeps the
/// stored value; an empty password clears it.
#[derive(Debug, Clone, Default)]
pub struct ClusterInput {
    pub name: Option<String>,
    pub kind: Option<String>,
    pub bootstrap_servers: Option<String>,
    pub sasl_mechanism: Option<String>,
    pub sasl_username: Option<String>,
    pub sasl_password: Option<SecretString>,
    pub tls: Option<Tls>,
    pub host: Option<String>,
    pub port: Option<i64>,
    pub user: Option<String>,
    pub password: Option<SecretString>,
    /// Kafka: sets the schema registry; an empty URL removes it.
    pub schema_registry: Option<SchemaRegistryInput>,
}

/// A cluster as callers see it: settings plus which secrets are set.
#[derive(Debug, Clone)]
pub struct ClusterView {
    pub id: ClusterId,
    /// Stable across renames; DigitalOcean's `database_cluster_uuid`.
    pub uuid: String,
    pub name: String,
    pub kind: ClusterKind,
    pub settings: ClusterSettings,
    pub password_set: bool,
    pub sasl_password_set: bool,
    pub schema_registry_password_set: bool,
    pub created_at: chrono::DateTime<Utc>,
    pub updated_at: chrono::DateTime<Utc>,
}

/// Connection details for a worker, secrets included.
pub struct ClusterConnection {
    pub model: Model,
    pub settings: ClusterSettings,
    pub password: Option<SecretString>,
    pub sasl_password: Option<SecretString>,
    pub schema_registry_password: Option<SecretString>,
}

pub async fn get(store: &Store, id: ClusterId) -> Result<ClusterView, ServiceError> {
    let model = Clusters::find_by_id(id)
        .one(&store.db)
        .await?
        .ok_or_else(|| not_found(id))?;
    view(store, model)
}

pub async fn list(
    store: &Store,
    kind: Option<ClusterKind>,
) -> Result<Vec<ClusterView>, ServiceError> {
    let mut query = Clusters::find().order_by_asc(cluster::Column::Id);
    if let Some(kind) = kind {
        query = query.filter(cluster::Column::Kind.eq(kind));
    }
    query
        .all(&store.db)
        .await?
        .into_iter()
        .map(|m| view(store, m))
        .collect()
}

/// The cluster whose UUID is `uuid` (case-insensitive, as UUIDs are).
pub async fn find_by_uuid(store: &Store, uuid: &str) -> Result<Option<ClusterView>, ServiceError> {
    let Ok(parsed) = uuid::Uuid::parse_str(uuid) else {
        return Ok(None);
    };
    Clusters::find()
        .filter(cluster::Column::Uuid.eq(parsed.to_string()))
        .one(&store.db)
        .await?
        .map(|m| view(store, m))
        .transpose()
}

/// Reads a cluster with its decrypted secrets, for a worker to connect.
pub async fn connection(store: &Store, id: ClusterId) -> Result<ClusterConnection, ServiceError> {
    let model = Clusters::find_by_id(id)
        .one(&store.db)
        .await?
        .ok_or_else(|| not_found(id))?;
    let settings: ClusterSettings = serde_json::from_value(model.settings.clone())
        .map_err(|e| ServiceError::invalid(format!("stored settings unreadable: {e}")))?;
    let secrets = read_secrets(store, &model)?;
    Ok(ClusterConnection {
        settings,
        password: secrets.password.map(SecretString::from),
        sasl_password: secrets.sasl_password.map(SecretString::from),
        schema_registry_password: secrets.schema_registry_password.map(SecretString::from),
        model,
    })
}

pub async fn create(store: &Store, input: ClusterInput) -> Result<ClusterView, ServiceError> {
    let name = validate_name(input.name.as_deref())?;
    let kind_text = input
        .kind
        .as_deref()
        .ok_or_else(|| ServiceError::invalid("kind is required: kafka, mysql or tidb"))?;
    let kind = ClusterKind::parse(kind_text).ok_or_else(|| {
        ServiceError::invalid(format!(
            "kind `{kind_text}` is not one of kafka, mysql, tidb"
        ))
    })?;
    let (settings, secrets) = merge(
        kind,
        ClusterSettings::default(),
        ClusterSecrets::default(),
        &input,
    )?;
    ensure_name_free(store, &name, None).await?;
    let now = Utc::now();
    let model = ActiveModel {
        name: Set(name),
        uuid: Set(uuid::Uuid::new_v4().to_string()),
        kind: Set(kind),
        settings: Set(json!(settings)),
        secret: Set(seal(store, &secrets)),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&store.db)
    .await
    .map_err(unique_to_conflict)?;
    view(store, model)
}

pub async fn update(
    store: &Store,
    id: ClusterId,
    input: ClusterInput,
) -> Result<ClusterView, ServiceError> {
    let model = Clusters::find_by_id(id)
        .one(&store.db)
        .await?
        .ok_or_else(|| not_found(id))?;
    // What the stored cluster's kind forbids is a conflict with it (409),
    // not a malformed request: the same body suits a cluster of the other
    // kind.
    if let Some(kind) = input.kind.as_deref()
        && kind != model.kind.as_str()
    {
        return Err(ServiceError::conflict(format!(
            "kind cannot change (cluster is {}); register a new cluster instead",
            model.kind.as_str()
        )));
    }
    if let Some(field) = foreign_field(model.kind, &input) {
        return Err(ServiceError::conflict(format!(
            "{field} does not apply to a {} cluster",
            model.kind.as_str()
        )));
    }
    let current: ClusterSettings =
        serde_json::from_value(model.settings.clone()).unwrap_or_default();
    let secrets = read_secrets(store, &model)?;
    let (settings, secrets) = merge(model.kind, current, secrets, &input)?;
    let mut active: ActiveModel = model.into();
    if input.name.is_some() {
        let name = validate_name(input.name.as_deref())?;
        ensure_name_free(store, &name, Some(id)).await?;
        active.name = Set(name);
    }
    active.settings = Set(json!(settings));
    active.secret = Set(seal(store, &secrets));
    active.updated_at = Set(Utc::now());
    let model = active.update(&store.db).await.map_err(unique_to_conflict)?;
    view(store, model)
}

/// Removes a cluster unless tasks on it are still pending or running, or a
/// changefeed reads from it or writes to it (the changefeed would fail at its
/// next start with its endpoint gone, and its stored password kept).
pub async fn delete(store: &Store, id: ClusterId) -> Result<ClusterView, ServiceError> {
    let existing = get(store, id).await?;
    let users: Vec<String> = changefeed::Entity::find()
        .all(&store.db)
        .await?
        .into_iter()
        .filter(|cf| {
            cf.cluster_id == id
                || cf
                    .downstream
                    .get("targetClusterId")
                    .and_then(ClusterId::from_json)
                    == Some(id)
        })
        .map(|cf| cf.id)
        .collect();
    if !users.is_empty() {
        return Err(ServiceError::conflict(format!(
            "cluster {id} is used by changefeeds {}; delete them first",
            users.join(", ")
        )));
    }
    let busy = task::Entity::find()
        .filter(task::Column::ClusterId.eq(id))
        .filter(tasks::in_progress())
        .count(&store.db)
        .await?;
    if busy > 0 {
        return Err(ServiceError::conflict(format!(
            "cluster {id} has {busy} pending or running tasks; wait for them or cancel them first"
        )));
    }
    // Grants on the cluster go with it: a later cluster could reuse nothing
    // of them (ids are not reused), and a grant alone is not a resource.
    let txn = store.db.begin().await?;
    project_grant::Entity::delete_many()
        .filter(project_grant::Column::ClusterId.eq(id))
        .exec(&txn)
        .await?;
    Clusters::delete_by_id(id).exec(&txn).await?;
    txn.commit().await?;
    Ok(existing)
}

fn view(store: &Store, model: Model) -> Result<ClusterView, ServiceError> {
    let settings: ClusterSettings =
        serde_json::from_value(model.settings.clone()).unwrap_or_default();
    let secrets = read_secrets(store, &model)?;
    Ok(ClusterView {
        id: model.id,
        uuid: model.uuid,
        name: model.name,
        kind: model.kind,
        settings,
        password_set: secrets.password.is_some(),
        sasl_password_set: secrets.sasl_password.is_some(),
        schema_registry_password_set: secrets.schema_registry_password.is_some(),
        created_at: model.created_at,
        updated_at: model.updated_at,
    })
}

fn read_secrets(store: &Store, model: &Model) -> Result<ClusterSecrets, ServiceError> {
    match &model.secret {
        None => Ok(ClusterSecrets::default()),
        Some(sealed) => {
            let plain = store.secrets.decrypt(sealed)?;
            Ok(serde_json::from_str(plain.expose_secret()).unwrap_or_default())
        }
    }
}

fn seal(store: &Store, secrets: &ClusterSecrets) -> Option<String> {
    if secrets.password.is_none()
        && secrets.sasl_password.is_none()
        && secrets.schema_registry_password.is_none()
    {
        return None;
    }
    let plain = serde_json::to_string(secrets).expect("secrets serialise");
    Some(store.secrets.encrypt(&plain))
}

fn unique_to_conflict(err: DbErr) -> ServiceError {
    if is_unique_violation(&err) {
        ServiceError::conflict("a cluster with this name already exists")
    } else {
        err.into()
    }
}

fn not_found(id: ClusterId) -> ServiceError {
    ServiceError::not_found(format!("no cluster {id}"))
}

async fn ensure_name_free(
    store: &Store,
    name: &str,
    except: Option<ClusterId>,
) -> Result<(), ServiceError> {
    let mut query = Clusters::find().filter(cluster::Column::Name.eq(name));
    if let Some(id) = except {
        query = query.filter(cluster::Column::Id.ne(id));
    }
    if query.count(&store.db).await? > 0 {
        return Err(ServiceError::conflict(format!(
            "a cluster named `{name}` already exists"
        )));
    }
    Ok(())
}

fn validate_name(name: Option<&str>) -> Result<String, ServiceError> {
    let name = name.map(str::trim).unwrap_or_default();
    if name.is_empty() || name.len() > 128 {
        return Err(ServiceError::invalid("name is required (1-128 characters)"));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ' '))
    {
        return Err(ServiceError::invalid(
            "name may contain letters, digits, spaces, `.`, `_` and `-` only",
        ));
    }
    Ok(name.to_owned())
}

/// The first field of `input` that a cluster of `kind` does not take.
fn foreign_field(kind: ClusterKind, input: &ClusterInput) -> Option<&'static str> {
    let fields: &[(&'static str, bool)] = match kind {
        ClusterKind::Kafka => &[
            ("host", input.host.is_some()),
            ("port", input.port.is_some()),
            ("user", input.user.is_some()),
            ("password", input.password.is_some()),
        ],
        ClusterKind::Mysql | ClusterKind::Tidb => &[
            ("bootstrapServers", input.bootstrap_servers.is_some()),
            ("sasl", input.sasl_mechanism.is_some()),
            ("sasl", input.sasl_username.is_some()),
            ("sasl", input.sasl_password.is_some()),
            ("schemaRegistry", input.schema_registry.is_some()),
        ],
    };
    fields
        .iter()
        .find_map(|(field, present)| present.then_some(*field))
}

/// Applies `input` over the current settings and checks the result for `kind`.
fn merge(
    kind: ClusterKind,
    mut settings: ClusterSettings,
    mut secrets: ClusterSecrets,
    input: &ClusterInput,
) -> Result<(ClusterSettings, ClusterSecrets), ServiceError> {
    let invalid = |m: String| Err(ServiceError::invalid(m));
    if let Some(tls) = &input.tls {
        settings.tls = Some(tls.clone());
    }
    match kind {
        ClusterKind::Kafka => {
            for (field, present) in [
                ("host", input.host.is_some()),
                ("port", input.port.is_some()),
                ("user", input.user.is_some()),
                ("password", input.password.is_some()),
            ] {
                if present {
                    return invalid(format!(
                        "{field} does not apply to a kafka cluster; use bootstrapServers"
                    ));
                }
            }
            if let Some(servers) = &input.bootstrap_servers {
                settings.bootstrap_servers = Some(validate_bootstrap(servers)?);
            }
            if settings.bootstrap_servers.is_none() {
                return invalid(
                    "bootstrapServers is required for a kafka cluster (host:port,...)".into(),
                );
            }
            let wants_sasl = input.sasl_mechanism.is_some()
                || input.sasl_username.is_some()
                || input.sasl_password.is_some();
            if wants_sasl {
                let mechanism = input
                    .sasl_mechanism
                    .clone()
                    .or_else(|| settings.sasl.as_ref().map(|s| s.mechanism.clone()))
                    .unwrap_or_default()
                    .to_uppercase();
                if !["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"].contains(&mechanism.as_str()) {
                    return invalid(
                        "sasl.mechanism must be PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512".into(),
                    );
                }
                let username = input
                    .sasl_username
                    .clone()
                    .or_else(|| settings.sasl.as_ref().map(|s| s.username.clone()))
                    .unwrap_or_default();
                if username.is_empty() {
                    return invalid("sasl.username is required with SASL".into());
                }
                if let Some(pw) = &input.sasl_password {
                    secrets.sasl_password =
                        Some(pw.expose_secret().to_owned()).filter(|p| !p.is_empty());
                }
                if secrets.sasl_password.is_none() {
                    return invalid("sasl.password is required with SASL".into());
                }
                settings.sasl = Some(Sasl {
                    mechanism,
                    username,
                });
            }
            if let Some(registry) = &input.schema_registry {
                match SchemaRegistrySettings::from_input(registry)? {
                    Some((registry, password)) => {
                        // A new URL or user without a password keeps the
                        // stored one only for the same registry and user.
                        let same = settings.schema_registry.as_ref().is_some_and(|r| {
                            r.url == registry.url && r.username == registry.username
                        });
                        if password.is_some() || !same || registry.username.is_none() {
                            secrets.schema_registry_password = password;
                        }
                        settings.schema_registry = Some(registry);
                    }
                    None => {
                        settings.schema_registry = None;
                        secrets.schema_registry_password = None;
                    }
                }
            }
        }
        ClusterKind::Mysql | ClusterKind::Tidb => {
            if input.bootstrap_servers.is_some() || input.sasl_mechanism.is_some() {
                return invalid(format!(
                    "bootstrapServers and sasl do not apply to a {} cluster",
                    kind.as_str()
                ));
            }
            if let Some(host) = &input.host {
                let host = host.trim();
                if host.is_empty() || host.contains(char::is_whitespace) {
                    return invalid("host must be a hostname or IP address".into());
                }
                settings.host = Some(host.to_owned());
            }
            if settings.host.is_none() {
                return invalid(format!("host is required for a {} cluster", kind.as_str()));
            }
            if let Some(port) = input.port {
                settings.port =
                    Some(u16::try_from(port).ok().filter(|p| *p > 0).ok_or_else(|| {
                        ServiceError::invalid(format!(
                            "port must be between 1 and 65535, got {port}"
                        ))
                    })?);
            }
            if settings.port.is_none() {
                settings.port = Some(if kind == ClusterKind::Tidb {
                    4000
                } else {
                    3306
                });
            }
            if let Some(user) = &input.user {
                settings.user = Some(user.clone());
            }
            if settings.user.as_deref().unwrap_or_default().is_empty() {
                return invalid(format!("user is required for a {} cluster", kind.as_str()));
            }
            if let Some(pw) = &input.password {
                secrets.password = Some(pw.expose_secret().to_owned()).filter(|p| !p.is_empty());
            }
        }
    }
    Ok((settings, secrets))
}

fn validate_bootstrap(servers: &str) -> Result<String, ServiceError> {
    let list: Vec<&str> = servers
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if list.is_empty() {
        return Err(ServiceError::invalid(
            "bootstrapServers must list at least one host:port",
        ));
    }
    for server in &list {
        let valid = server.rsplit_once(':').is_some_and(|(host, port)| {
            !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0)
        });
        if !valid {
            return Err(ServiceError::invalid(format!(
                "bootstrapServers entry `{server}` is not host:port"
            )));
        }
    }
    Ok(list.join(","))
}

impl ClusterView {
    /// The first bootstrap host (TubeMQ's `masterIp`) or the MySQL host.
    pub fn primary_host(&self) -> String {
        if let Some(servers) = &self.settings.bootstrap_servers {
            let first = servers.split(',').next().unwrap_or_default();
            return first.rsplit_once(':').map_or(first, |(h, _)| h).to_owned();
        }
        self.settings.host.clone().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootstrap_validation() {
        assert_eq!(
            validate_bootstrap(" a:9092, b:9093 ").unwrap(),
            "a:9092,b:9093"
        );
        assert!(validate_bootstrap("a").is_err());
        assert!(validate_bootstrap("a:0").is_err());
        assert!(validate_bootstrap(",").is_err());
    }
}
