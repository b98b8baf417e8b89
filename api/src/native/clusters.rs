//! `/api/v1/clusters`: register, list, read, update and remove clusters.

use chrono::{DateTime, Utc};
use ferry_entity::{ClusterId, ClusterKind, Role};
use ferry_service::clusters::{self, ClusterInput, ClusterView, Tls};
use poem_openapi::{ApiResponse, Object, OpenApi, param::Path, param::Query, payload::Json};
use secrecy::SecretString;

use super::{NativeError, NativeResult};
use crate::{api_tags::ApiTags, auth::BearerAuth, state::AppState};

const MASK: &str = "******";

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct TlsSettings {
    pub enabled: bool,
    /// PEM of the CA that signed the servers' certificates.
    pub ca_pem: Option<String>,
    #[oai(default)]
    pub insecure_skip_verify: bool,
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct SaslInput {
    /// PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
    pub mechanism: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
}

/// A cluster to register (create) or the fields to change (update).
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct ClusterRequest {
    pub name: Option<String>,
    /// kafka, mysql or tidb.
    pub kind: Option<String>,
    /// Kafka: `host:port,host:port`.
    pub bootstrap_servers: Option<String>,
    pub sasl: Option<SaslInput>,
    pub tls: Option<TlsSettings>,
    /// MySQL/TiDB host.
    pub host: Option<String>,
    pub port: Option<i64>,
    pub user: Option<String>,
    /// Stored encrypted; never returned.
    pub password: Option<String>,
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
    pub name: String,
    pub kind: String,
    pub bootstrap_servers: Option<String>,
    pub sasl: Option<SaslView>,
    pub tls: Option<TlsSettings>,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub user: Option<String>,
    /// `******` when a password is set, otherwise absent.
    pub password: Option<String>,
    pub password_set: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<ClusterView> for Cluster {
    fn from(v: ClusterView) -> Self {
        let s = v.settings;
        Self {
            id: v.id.to_string(),
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
            sasl_mechanism: r.sasl.as_ref().and_then(|s| s.mechanism.clone()),
            sasl_username: r.sasl.as_ref().and_then(|s| s.username.clone()),
            sasl_password: r.sasl.and_then(|s| s.password).map(SecretString::from),
            tls: r.tls.map(|t| Tls {
                enabled: t.enabled,
                ca_pem: t.ca_pem,
                insecure_skip_verify: t.insecure_skip_verify,
            }),
            host: r.host,
            port: r.port,
            user: r.user,
            password: r.password.map(SecretString::from),
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
        body: Json<ClusterRequest>,
    ) -> NativeResult<Created> {
        auth.0.require_global(Role::Admin)?;
        let view = clusters::create(&state.store, body.0.into()).await?;
        Ok(Created::Created(Json(view.into())))
    }

    /// List clusters, optionally of one kind (a project's tokens: the
    /// clusters granted to the project).
    #[oai(path = "/", method = "get")]
    async fn list(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        kind: Query<Option<String>>,
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
        state.kafka.forget(id);
        Ok(Deleted::Deleted)
    }
}
