//! `/api/v1/clusters`: register, list, read, update and remove clusters.

use chrono::{DateTime, Utc};
use ferry_entity::{ClusterId, ClusterKind, Role};
use ferry_service::{
    clusters::{self, ClusterInput, ClusterView, Tls},
    schema_registry::settings::SchemaRegistryInput,
};
use poem_openapi::{ApiResponse, Object, OpenApi, Union, param::Path, param::Query, payload::Json};
use secrecy::SecretString;

use super::{NativeError, NativeResult};
use crate::{api_tags::ApiTags, auth::BearerAuth, state::AppState};

const MASK: &str = "******";

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct TlsSettings {
    pub enabled: bool,
    /// PEM of the CA that signed the servers' certificates.
    #[oai(nullable)]
    pub ca_pem: Option<String>,
    #[oai(default, nullable)]
    pub insecure_skip_verify: bool,
}

/// A cluster to register: which fields it needs depends on its `kind`. A
/// name is 1-128 letters, digits, spaces, `.`, `_` and `-`, not only spaces
/// (the registry trims it).
#[derive(Debug, Union)]
#[oai(one_of, discriminator_name = "kind")]
pub enum ClusterRegistration {
    #[oai(mapping = "kafka")]
    Kafka(KafkaRegistration),
    #[oai(mapping = "mysql")]
    Mysql(MysqlRegistration),
    #[oai(mapping = "tidb")]
    Tidb(TidbRegistration),
}

/// A Kafka cluster to register.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct KafkaRegistration {
    #[oai(validator(
        max_length = 128,
        pattern = r"^[A-Za-z0-9._ -]*[A-Za-z0-9._-][A-Za-z0-9._ -]*$"
    ))]
    pub name: String,
    /// `host:port,host:port` (ports 1-65535; an IPv6 host in brackets;
    /// spaces around entries are trimmed).
    #[oai(validator(
        pattern = r"^ *([A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\]):([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]) *(, *([A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\]):([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]) *)*$"
    ))]
    pub bootstrap_servers: String,
    #[oai(nullable)]
    pub sasl: Option<SaslRegistration>,
    #[oai(nullable)]
    pub tls: Option<TlsSettings>,
    /// The schema registry of the REST Proxy's `avro`, `jsonschema` and
    /// `protobuf` formats.
    #[oai(nullable)]
    pub schema_registry: Option<SchemaRegistrySetting>,
}

/// A Kafka cluster's schema registry (Confluent's Schema Registry API).
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct SchemaRegistrySetting {
    /// `http://` or `https://`, a host name (labels of letters, digits and
    /// single hyphens; IDNA's `xn--` labels are left out) or IPv4 address,
    /// an optional port and path; no credentials or query. On update, an
    /// empty URL removes the registry.
    #[oai(validator(
        max_length = 2048,
        pattern = r"^$|^[Hh][Tt][Tt][Pp][Ss]?://((25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])){3}|([A-Za-z0-9]([A-Za-z0-9]|-[A-Za-z0-9])*\.)*[A-Za-z]([A-Za-z0-9]|-[A-Za-z0-9])*)(:([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?(/[A-Za-z0-9._~/-]*)?$"
    ))]
    pub url: String,
    /// Basic authentication's user, if the registry asks for one.
    #[oai(nullable, validator(min_length = 1, max_length = 256))]
    pub username: Option<String>,
    /// Basic authentication's password: stored encrypted, never returned;
    /// on update, left out keeps the stored one for the same URL and user.
    #[oai(nullable)]
    pub password: Option<String>,
}

impl SchemaRegistrySetting {
    fn into_input(self) -> SchemaRegistryInput {
        SchemaRegistryInput {
            url: self.url,
            username: self.username,
            password: self.password.map(SecretString::from),
        }
    }
}

/// A cluster's schema registry as callers see it.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct SchemaRegistryView {
    pub url: String,
    #[oai(nullable)]
    pub username: Option<String>,
    /// `******` when a password is set, otherwise absent.
    #[oai(nullable)]
    pub password: Option<String>,
    pub password_set: bool,
}

/// SASL for a Kafka cluster: all three fields, the password stored
/// encrypted.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct SaslRegistration {
    /// PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (any case).
    #[oai(validator(
        pattern = r"^([Pp][Ll][Aa][Ii][Nn]|[Ss][Cc][Rr][Aa][Mm]-[Ss][Hh][Aa]-(256|512))$"
    ))]
    pub mechanism: String,
    #[oai(validator(min_length = 1))]
    pub username: String,
    #[oai(validator(min_length = 1))]
    pub password: String,
}

/// A MySQL or TiDB cluster to register; the kinds take the same fields.
macro_rules! sql_registration {
    ($name:ident, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, Object)]
        #[oai(rename_all = "camelCase")]
        pub struct $name {
            #[oai(validator(
                max_length = 128,
                pattern = r"^[A-Za-z0-9._ -]*[A-Za-z0-9._-][A-Za-z0-9._ -]*$"
            ))]
            pub name: String,
            /// A hostname or IP address (an IPv6 address may carry a zone).
            /// The characters are spelled out: `\s` differs between the
            /// document's regex dialect (ECMA 262) and the server's.
            #[oai(validator(pattern = r"^[A-Za-z0-9._:%\[\]-]{1,253}$"))]
            pub host: String,
            /// 3306 for MySQL, 4000 for TiDB when absent.
            #[oai(nullable, validator(minimum(value = "1"), maximum(value = "65535")))]
            pub port: Option<i64>,
            #[oai(validator(min_length = 1))]
            pub user: String,
            /// Stored encrypted; never returned.
            #[oai(nullable)]
            pub password: Option<String>,
            #[oai(nullable)]
            pub tls: Option<TlsSettings>,
        }

        impl $name {
            fn into_input(self, kind: ClusterKind) -> ClusterInput {
                ClusterInput {
                    name: Some(self.name),
                    kind: Some(kind.as_str().to_owned()),
                    host: Some(self.host),
                    port: self.port,
                    user: Some(self.user),
                    password: self.password.map(SecretString::from),
                    tls: self.tls.map(TlsSettings::into_tls),
                    ..ClusterInput::default()
                }
            }
        }
    };
}

sql_registration!(MysqlRegistration, "A MySQL cluster to register.");
sql_registration!(TidbRegistration, "A TiDB cluster to register.");

impl From<ClusterRegistration> for ClusterInput {
    fn from(r: ClusterRegistration) -> Self {
        match r {
            ClusterRegistration::Kafka(k) => ClusterInput {
                name: Some(k.name),
                kind: Some(ClusterKind::Kafka.as_str().to_owned()),
                bootstrap_servers: Some(k.bootstrap_servers),
                sasl_mechanism: k.sasl.as_ref().map(|s| s.mechanism.clone()),
                sasl_username: k.sasl.as_ref().map(|s| s.username.clone()),
                sasl_password: k.sasl.map(|s| SecretString::from(s.password)),
                tls: k.tls.map(TlsSettings::into_tls),
                schema_registry: k.schema_registry.map(SchemaRegistrySetting::into_input),
                ..ClusterInput::default()
            },
            ClusterRegistration::Mysql(m) => m.into_input(ClusterKind::Mysql),
            ClusterRegistration::Tidb(t) => t.into_input(ClusterKind::Tidb),
        }
    }
}

impl TlsSettings {
    fn into_tls(self) -> Tls {
        Tls {
            enabled: self.enabled,
            ca_pem: self.ca_pem,
            insecure_skip_verify: self.insecure_skip_verify,
        }
    }
}

/// The fields of a cluster to change; absent fields keep their value. A
/// field of another kind of cluster (`host` for Kafka, `bootstrapServers`
/// for MySQL) is refused with 409: the stored cluster's kind decides.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct ClusterRequest {
    #[oai(
        nullable,
        validator(
            max_length = 128,
            pattern = r"^[A-Za-z0-9._ -]*[A-Za-z0-9._-][A-Za-z0-9._ -]*$"
        )
    )]
    pub name: Option<String>,
    /// The cluster's kind, if sent: it cannot change (409 otherwise).
    #[oai(nullable, validator(pattern = r"^(kafka|mysql|tidb)$"))]
    pub kind: Option<String>,
    /// Kafka: `host:port,host:port` (ports 1-65535).
    #[oai(
        nullable,
        validator(
            pattern = r"^ *([A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\]):([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]) *(, *([A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\]):([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]) *)*$"
        )
    )]
    pub bootstrap_servers: Option<String>,
    /// Kafka: SASL, all three fields (replaces the stored ones).
    #[oai(nullable)]
    pub sasl: Option<SaslRegistration>,
    #[oai(nullable)]
    pub tls: Option<TlsSettings>,
    /// MySQL/TiDB host: a hostname or IP address.
    #[oai(nullable, validator(pattern = r"^[A-Za-z0-9._:%\[\]-]{1,253}$"))]
    pub host: Option<String>,
    /// MySQL/TiDB port.
    #[oai(nullable, validator(minimum(value = "1"), maximum(value = "65535")))]
    pub port: Option<i64>,
    /// MySQL/TiDB user.
    #[oai(nullable, validator(min_length = 1))]
    pub user: Option<String>,
    /// MySQL/TiDB: stored encrypted; never returned; empty clears it.
    #[oai(nullable)]
    pub password: Option<String>,
    /// Kafka: sets (or, with an empty URL, removes) the schema registry.
    #[oai(nullable)]
    pub schema_registry: Option<SchemaRegistrySetting>,
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct SaslView {
    pub mechanism: String,
    pub username: String,
    /// Always `******`.
    pub password: String,
    pub password_set: bool,
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct Cluster {
    pub id: String,
    /// Stable across renames; DigitalOcean's `database_cluster_uuid`.
    pub uuid: String,
    pub name: String,
    pub kind: String,
    #[oai(nullable)]
    pub bootstrap_servers: Option<String>,
    #[oai(nullable)]
    pub sasl: Option<SaslView>,
    #[oai(nullable)]
    pub tls: Option<TlsSettings>,
    #[oai(nullable)]
    pub host: Option<String>,
    #[oai(nullable)]
    pub port: Option<u16>,
    #[oai(nullable)]
    pub user: Option<String>,
    /// `******` when a password is set, otherwise absent.
    #[oai(nullable)]
    pub password: Option<String>,
    pub password_set: bool,
    #[oai(nullable)]
    pub schema_registry: Option<SchemaRegistryView>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<ClusterView> for Cluster {
    fn from(v: ClusterView) -> Self {
        let s = v.settings;
        Self {
            id: v.id.to_string(),
            uuid: v.uuid,
            name: v.name,
            kind: v.kind.as_str().to_owned(),
            bootstrap_servers: s.bootstrap_servers,
            sasl: s.sasl.map(|sasl| SaslView {
                mechanism: sasl.mechanism,
                username: sasl.username,
                password: MASK.into(),
                password_set: v.sasl_password_set,
            }),
            tls: s.tls.map(|t| TlsSettings {
                enabled: t.enabled,
                ca_pem: t.ca_pem,
                insecure_skip_verify: t.insecure_skip_verify,
            }),
            host: s.host,
            port: s.port,
            user: s.user,
            password: v.password_set.then(|| MASK.to_owned()),
            password_set: v.password_set,
            schema_registry: s.schema_registry.map(|r| SchemaRegistryView {
                url: r.url,
                username: r.username,
                password: v.schema_registry_password_set.then(|| MASK.to_owned()),
                password_set: v.schema_registry_password_set,
            }),
            created_at: v.created_at,
            updated_at: v.updated_at,
        }
    }
}

impl From<ClusterRequest> for ClusterInput {
    fn from(r: ClusterRequest) -> Self {
        Self {
            name: r.name,
            kind: r.kind,
            bootstrap_servers: r.bootstrap_servers,
            sasl_mechanism: r.sasl.as_ref().map(|s| s.mechanism.clone()),
            sasl_username: r.sasl.as_ref().map(|s| s.username.clone()),
            sasl_password: r.sasl.map(|s| SecretString::from(s.password)),
            tls: r.tls.map(TlsSettings::into_tls),
            host: r.host,
            port: r.port,
            user: r.user,
            password: r.password.map(SecretString::from),
            schema_registry: r.schema_registry.map(SchemaRegistrySetting::into_input),
        }
    }
}

#[derive(Debug, Object)]
pub struct ClusterList {
    pub data: Vec<Cluster>,
}

#[derive(ApiResponse)]
pub enum Created {
    #[oai(status = 201)]
    Created(Json<Cluster>),
}

#[derive(ApiResponse)]
pub enum Deleted {
    #[oai(status = 204)]
    Deleted,
}

fn parse_id(raw: &str) -> NativeResult<ClusterId> {
    ClusterId::parse(raw).ok_or_else(|| NativeError::not_found("no such cluster"))
}

pub struct ClustersApi;

#[OpenApi(prefix_path = "/api/v1/clusters", tag = "ApiTags::Clusters")]
impl ClustersApi {
    /// Register a cluster (global admins).
    #[oai(path = "/", method = "post")]
    async fn create(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        body: Json<ClusterRegistration>,
    ) -> NativeResult<Created> {
        auth.0.require_global(Role::Admin)?;
        let view = clusters::create(&state.store, body.0.into()).await?;
        state.clusters_changed(None);
        Ok(Created::Created(Json(view.into())))
    }

    /// List clusters, optionally of one kind (a project's tokens: the
    /// clusters granted to the project).
    #[oai(path = "/", method = "get")]
    async fn list(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        #[oai(validator(pattern = r"^(kafka|mysql|tidb)?$"))] kind: Query<Option<String>>,
    ) -> NativeResult<Json<ClusterList>> {
        auth.0.require(Role::Viewer)?;
        let kind = match kind.0.as_deref() {
            None | Some("") => None,
            Some(k) => Some(ClusterKind::parse(k).ok_or_else(|| {
                NativeError::bad_request(format!("kind `{k}` is not one of kafka, mysql, tidb"))
            })?),
        };
        let data = clusters::list(&state.store, kind)
            .await?
            .into_iter()
            .filter(|c| auth.0.reaches_cluster(c.id))
            .map(Into::into)
            .collect();
        Ok(Json(ClusterList { data }))
    }

    /// One cluster.
    #[oai(path = "/:id", method = "get")]
    async fn get(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
    ) -> NativeResult<Json<Cluster>> {
        auth.0.require(Role::Viewer)?;
        let id = parse_id(&id.0)?;
        auth.0.see_cluster(id)?;
        Ok(Json(clusters::get(&state.store, id).await?.into()))
    }

    /// Change a cluster's settings (global admins). Absent fields keep their
    /// value; an empty password clears it.
    #[oai(path = "/:id", method = "put")]
    async fn update(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
        body: Json<ClusterRequest>,
    ) -> NativeResult<Json<Cluster>> {
        let id = parse_id(&id.0)?;
        auth.0.see_cluster(id)?;
        auth.0.require_global(Role::Admin)?;
        let view = clusters::update(&state.store, id, body.0.into()).await?;
        state.clusters_changed(Some(id));
        Ok(Json(view.into()))
    }

    /// Remove a cluster (global admins), with the projects' grants on it;
    /// refused while it has pending or running tasks or a changefeed uses it.
    #[oai(path = "/:id", method = "delete")]
    async fn delete(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
    ) -> NativeResult<Deleted> {
        let id = parse_id(&id.0)?;
        auth.0.see_cluster(id)?;
        auth.0.require_global(Role::Admin)?;
        clusters::delete(&state.store, id).await?;
        state.clusters_changed(Some(id));
        Ok(Deleted::Deleted)
    }
}
