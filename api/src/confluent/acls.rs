//! `/v3/clusters/{cluster_id}/acls`: search (DescribeAcls), create and
//! delete Kafka ACLs, in Confluent's `KafkaAcl` shape.
//!
//! Reading asks the cluster at once. Creating is an `acl.create` task and
//! deleting an `acl.delete` task (`ferry_service::acls`), recorded, audited
//! and retried like every change: the call waits up to `api.task_wait_ms`
//! and answers 201 (create) or 200 with the deleted ACLs (delete), as
//! Confluent does, or 202 with a link to the task still running.
//!
//! Filters and fields are Confluent's upper-case names; the document
//! declares each one's values, so a value outside them is refused with 400
//! naming the parameter and the pattern of its values (a body's field with
//! 422). A delete must give `resource_type`, `pattern_type`, `operation`
//! and `permission` (each may be `ANY`), as Confluent's API requires, so
//! that no request deletes every ACL of a cluster by leaving its filters
//! out.
//!
//! Who may do what (`ferry_service::acls` has the rules): reading needs a
//! token that reaches the cluster, changes the `client` role. A project
//! token reaches only `TOPIC` and `GROUP` ACLs whose `LITERAL` or
//! `PREFIXED` name starts with its grant's prefix: a list leaves the others
//! out, a create outside them is 403, and a delete must name such ACLs
//! exactly (`LITERAL` or `PREFIXED`, a name within the prefix). `CLUSTER`
//! and `TRANSACTIONAL_ID` ACLs, which concern every tenant, need a global
//! token.

use ferry_entity::{
    Role,
    acl::{AclBinding, AclsDeleted},
};
use ferry_service::{
    acls::{self, AclFields, FilterFields},
    kafka::admin::acls as kafka_acls,
    tasks::Waited,
};
use poem::Request;
use poem_openapi::{ApiResponse, Object, OpenApi, param::Path, param::Query, payload::Json};
use serde_json::json;

use super::{ConfluentError, Ctx, READ_TIMEOUT, TaskAccepted, V3Result, list_meta, list_type};
use crate::{api_tags::ApiTags, auth::BearerAuth, edge::requester, state::AppState};

/// `metadata` of an ACL: a search that finds exactly it.
#[derive(Debug, Object)]
pub struct AclMetadata {
    #[oai(rename = "self")]
    pub self_: String,
}

#[derive(Debug, Object)]
pub struct KafkaAcl {
    /// `KafkaAcl`.
    pub kind: String,
    pub metadata: AclMetadata,
    pub cluster_id: String,
    /// `TOPIC`, `GROUP`, `CLUSTER` or `TRANSACTIONAL_ID`.
    pub resource_type: String,
    pub resource_name: String,
    /// `LITERAL` or `PREFIXED`.
    pub pattern_type: String,
    /// `Type:name`, e.g. `User:alice`.
    pub principal: String,
    /// An IP address, or `*`.
    pub host: String,
    pub operation: String,
    /// `ALLOW` or `DENY`.
    pub permission: String,
}

list_type!(KafkaAclList, KafkaAcl);

/// The ACLs a delete removed.
#[derive(Debug, Object)]
pub struct DeletedAcls {
    pub data: Vec<KafkaAcl>,
}

/// One ACL to create; every field is required, as in Confluent's API.
#[derive(Debug, Object)]
pub struct CreateAclRequest {
    #[oai(validator(pattern = r"^(TOPIC|GROUP|CLUSTER|TRANSACTIONAL_ID)$"))]
    pub resource_type: String,
    /// The resource's name or prefix; `*` with `LITERAL` is every
    /// resource of the type; a `CLUSTER` ACL names `kafka-cluster`.
    #[oai(validator(max_length = 1024, pattern = r"^[^\x00]+$"))]
    pub resource_name: String,
    #[oai(validator(pattern = r"^(LITERAL|PREFIXED)$"))]
    pub pattern_type: String,
    /// `Type:name`, e.g. `User:alice`; `User:*` is every user.
    #[oai(validator(max_length = 1024, pattern = r"^[^:\x00]+:[^\x00]*$"))]
    pub principal: String,
    /// An IP address, or `*` for every host.
    #[oai(validator(max_length = 1024, pattern = r"^[^\x00]+$"))]
    pub host: String,
    #[oai(validator(
        pattern = r"^(ALL|READ|WRITE|CREATE|DELETE|ALTER|DESCRIBE|CLUSTER_ACTION|DESCRIBE_CONFIGS|ALTER_CONFIGS|IDEMPOTENT_WRITE)$"
    ))]
    pub operation: String,
    #[oai(validator(pattern = r"^(ALLOW|DENY)$"))]
    pub permission: String,
}

#[derive(Debug, ApiResponse)]
pub enum AclCreated {
    /// The ACL exists (creating one that existed is a success).
    #[oai(status = 201)]
    Created,
    /// Still being created after the wait: follow the task in `Location`.
    #[oai(status = 202)]
    Accepted(Json<TaskAccepted>, #[oai(header = "Location")] String),
}

#[derive(Debug, ApiResponse)]
pub enum AclsDeletedAnswer {
    /// The ACLs the filter matched, now deleted.
    #[oai(status = 200)]
    Deleted(Json<DeletedAcls>),
    /// Still being deleted after the wait: follow the task in `Location`.
    #[oai(status = 202)]
    Accepted(Json<TaskAccepted>, #[oai(header = "Location")] String),
}

/// Percent-encodes a query value, keeping what Confluent's links show
/// plainly (`*`, `:`).
fn query_value(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for b in raw.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'*' | b':') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `?name=value&...` of the pairs given, or nothing.
fn query(pairs: &[(&str, Option<&str>)]) -> String {
    let given: Vec<String> = pairs
        .iter()
        .filter_map(|(name, value)| value.map(|v| format!("{name}={}", query_value(v))))
        .collect();
    if given.is_empty() {
        String::new()
    } else {
        format!("?{}", given.join("&"))
    }
}

fn acl_view(ctx: &Ctx, acl: AclBinding) -> KafkaAcl {
    let self_ = ctx.url(&format!(
        "/acls{}",
        query(&[
            ("resource_type", Some(acl.resource_type.as_str())),
            ("resource_name", Some(acl.resource_name.as_str())),
            ("pattern_type", Some(acl.pattern_type.as_str())),
            ("principal", Some(acl.principal.as_str())),
            ("host", Some(acl.host.as_str())),
            ("operation", Some(acl.operation.as_str())),
            ("permission", Some(acl.permission.as_str())),
        ])
    ));
    KafkaAcl {
        kind: "KafkaAcl".into(),
        metadata: AclMetadata { self_ },
        cluster_id: ctx.cluster_id(),
        resource_type: acl.resource_type.as_str().to_owned(),
        resource_name: acl.resource_name,
        pattern_type: acl.pattern_type.as_str().to_owned(),
        principal: acl.principal,
        host: acl.host,
        operation: acl.operation.as_str().to_owned(),
        permission: acl.permission.as_str().to_owned(),
    }
}

/// The filters of a search or delete, in Confluent's order, for links and
/// the audit entry.
fn filter_pairs(f: &FilterFields) -> [(&'static str, Option<&str>); 7] {
    [
        ("resource_type", f.resource_type.as_deref()),
        ("resource_name", f.resource_name.as_deref()),
        ("pattern_type", f.pattern_type.as_deref()),
        ("principal", f.principal.as_deref()),
        ("host", f.host.as_deref()),
        ("operation", f.operation.as_deref()),
        ("permission", f.permission.as_deref()),
    ]
}

fn filter_json(f: &FilterFields) -> serde_json::Value {
    filter_pairs(f)
        .into_iter()
        .filter_map(|(name, value)| value.map(|v| (name.to_owned(), json!(v))))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

pub struct ConfluentAclsApi;

#[OpenApi(prefix_path = "/v3/clusters", tag = "ApiTags::Confluent")]
impl ConfluentAclsApi {
    /// Search the cluster's ACLs; a filter not given matches any value.
    #[oai(path = "/:cluster_id/acls", method = "get")]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        cluster_id: Path<String>,
        #[oai(validator(pattern = r"^(ANY|TOPIC|GROUP|CLUSTER|TRANSACTIONAL_ID)$"))]
        resource_type: Query<Option<String>>,
        #[oai(validator(max_length = 1024, pattern = r"^[^\x00]+$"))] resource_name: Query<
            Option<String>,
        >,
        #[oai(validator(pattern = r"^(ANY|MATCH|LITERAL|PREFIXED)$"))] pattern_type: Query<
            Option<String>,
        >,
        #[oai(validator(max_length = 1024, pattern = r"^[^\x00]+$"))] principal: Query<
            Option<String>,
        >,
        #[oai(validator(max_length = 1024, pattern = r"^[^\x00]+$"))] host: Query<Option<String>>,
        #[oai(validator(
            pattern = r"^(ANY|ALL|READ|WRITE|CREATE|DELETE|ALTER|DESCRIBE|CLUSTER_ACTION|DESCRIBE_CONFIGS|ALTER_CONFIGS|IDEMPOTENT_WRITE)$"
        ))]
        operation: Query<Option<String>>,
        #[oai(validator(pattern = r"^(ANY|ALLOW|DENY)$"))] permission: Query<Option<String>>,
    ) -> V3Result<Json<KafkaAclList>> {
        auth.0.require(Role::Viewer)?;
        let ctx = Ctx::open(&state, req, &cluster_id.0).await?;
        let raw = FilterFields {
            resource_type: resource_type.0,
            resource_name: resource_name.0,
            pattern_type: pattern_type.0,
            principal: principal.0,
            host: host.0,
            operation: operation.0,
            permission: permission.0,
        };
        let filter = acls::filter(&raw)?;
        let found = kafka_acls::describe_acls(&ctx.cluster, filter, READ_TIMEOUT)
            .await
            .map_err(|e| ConfluentError::kafka("describing the cluster's ACLs", e))?;
        Ok(Json(KafkaAclList {
            kind: "KafkaAclList".into(),
            metadata: list_meta(ctx.url(&format!("/acls{}", query(&filter_pairs(&raw))))),
            data: found
                .into_iter()
                .filter(|acl| acls::sees(&ctx.identity, ctx.cluster_id, acl))
                .map(|acl| acl_view(&ctx, acl))
                .collect(),
        }))
    }

    /// Create an ACL (an `acl.create` task). 201 once the broker has it;
    /// 202 with the task when that takes longer than the wait.
    #[oai(path = "/:cluster_id/acls", method = "post")]
    async fn create(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        cluster_id: Path<String>,
        body: Json<CreateAclRequest>,
    ) -> V3Result<AclCreated> {
        auth.0.require(Role::Client)?;
        let ctx = Ctx::open(&state, req, &cluster_id.0).await?;
        let body = body.0;
        let raw = AclFields {
            resource_type: body.resource_type,
            resource_name: body.resource_name,
            pattern_type: body.pattern_type,
            principal: body.principal,
            host: body.host,
            operation: body.operation,
            permission: body.permission,
        };
        super::audit(
            req,
            json!({ "clusterId": ctx.cluster_id, "acl": {
                "resource_type": raw.resource_type, "resource_name": raw.resource_name,
                "pattern_type": raw.pattern_type, "principal": raw.principal, "host": raw.host,
                "operation": raw.operation, "permission": raw.permission,
            }}),
        );
        let acl = acls::binding(&raw)?;
        acls::may_create(&ctx.identity, ctx.cluster_id, &acl)?;
        let task = acls::submit_create(&state.store, ctx.cluster_id, acl, &requester(&auth.0, req))
            .await?;
        Ok(match super::wait_task(&state, task).await? {
            Waited::Finished(_) => AclCreated::Created,
            Waited::Running(task) => {
                let (body, location) = TaskAccepted::new(&ctx.base, &task);
                AclCreated::Accepted(body, location)
            }
        })
    }

    /// Delete the ACLs the filter matches (an `acl.delete` task): 200 with
    /// them once deleted; 202 with the task when that takes longer than the
    /// wait. `resource_type`, `pattern_type`, `operation` and `permission`
    /// are required (`ANY` allowed).
    #[oai(path = "/:cluster_id/acls", method = "delete")]
    #[allow(clippy::too_many_arguments)]
    async fn delete(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        cluster_id: Path<String>,
        #[oai(validator(pattern = r"^(ANY|TOPIC|GROUP|CLUSTER|TRANSACTIONAL_ID)$"))]
        resource_type: Query<String>,
        #[oai(validator(max_length = 1024, pattern = r"^[^\x00]+$"))] resource_name: Query<
            Option<String>,
        >,
        #[oai(validator(pattern = r"^(ANY|MATCH|LITERAL|PREFIXED)$"))] pattern_type: Query<String>,
        #[oai(validator(max_length = 1024, pattern = r"^[^\x00]+$"))] principal: Query<
            Option<String>,
        >,
        #[oai(validator(max_length = 1024, pattern = r"^[^\x00]+$"))] host: Query<Option<String>>,
        #[oai(validator(
            pattern = r"^(ANY|ALL|READ|WRITE|CREATE|DELETE|ALTER|DESCRIBE|CLUSTER_ACTION|DESCRIBE_CONFIGS|ALTER_CONFIGS|IDEMPOTENT_WRITE)$"
        ))]
        operation: Query<String>,
        #[oai(validator(pattern = r"^(ANY|ALLOW|DENY)$"))] permission: Query<String>,
    ) -> V3Result<AclsDeletedAnswer> {
        auth.0.require(Role::Client)?;
        let ctx = Ctx::open(&state, req, &cluster_id.0).await?;
        let raw = FilterFields {
            resource_type: Some(resource_type.0),
            resource_name: resource_name.0,
            pattern_type: Some(pattern_type.0),
            principal: principal.0,
            host: host.0,
            operation: Some(operation.0),
            permission: Some(permission.0),
        };
        super::audit(
            req,
            json!({ "clusterId": ctx.cluster_id, "filter": filter_json(&raw) }),
        );
        let filter = acls::delete_filter(&raw)?;
        acls::may_delete(&ctx.identity, ctx.cluster_id, &filter)?;
        let task = acls::submit_delete(
            &state.store,
            ctx.cluster_id,
            filter,
            &requester(&auth.0, req),
        )
        .await?;
        Ok(match super::wait_task(&state, task).await? {
            Waited::Finished(task) => {
                let deleted: AclsDeleted = task
                    .result
                    .map(serde_json::from_value)
                    .transpose()
                    .map_err(|e| ConfluentError::store(format!("task {}'s result: {e}", task.id)))?
                    .unwrap_or_default();
                AclsDeletedAnswer::Deleted(Json(DeletedAcls {
                    data: deleted
                        .deleted
                        .into_iter()
                        .map(|acl| acl_view(&ctx, acl))
                        .collect(),
                }))
            }
            Waited::Running(task) => {
                let (body, location) = TaskAccepted::new(&ctx.base, &task);
                AclsDeletedAnswer::Accepted(body, location)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_keep_confluents_plain_characters() {
        assert_eq!(
            query(&[
                ("principal", Some("User:alice")),
                ("host", Some("*")),
                ("resource_name", None),
                ("x", Some("a b&c")),
            ]),
            "?principal=User:alice&host=*&x=a%20b%26c"
        );
        assert_eq!(query(&[("host", None)]), "");
    }
}
