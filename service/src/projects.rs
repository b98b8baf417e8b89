//! The project registry: projects (EasyQueue's `appKey`), the grants that
//! say which registered clusters and topic prefixes a project reaches, and
//! the project's tokens. Global admins manage projects and grants; a
//! project's ADMINs manage its tokens (`tokens`).

use chrono::Utc;
use ferry_entity::{
    ClusterId, ClusterKind, api_token, changefeed,
    project::{self, Entity as Projects, Model},
    project_grant::{self, Entity as Grants},
};
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, DatabaseConnection, EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter,
    QueryOrder, TransactionTrait,
    sea_query::{Expr, OnConflict},
};

use crate::{
    clusters,
    error::{ServiceError, is_unique_violation},
    store::Store,
    topics,
};

pub use ferry_entity::project::Model as Project;
pub use ferry_entity::project_grant::Model as Grant;

/// A project to create, or the fields to change.
#[derive(Debug, Clone, Default)]
pub struct ProjectInput {
    pub id: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
}

/// A grant to set: what a project may use of one cluster.
#[derive(Debug, Clone, Default)]
pub struct GrantInput {
    /// Kafka: a topic prefix, or `None` for the whole cluster.
    pub topic_prefix: Option<String>,
    pub source: bool,
    pub target: bool,
}

/// Longest project id; ids are letters, digits, `-` and `_`.
pub const MAX_ID: usize = 64;

fn not_found(id: &str) -> ServiceError {
    ServiceError::not_found(format!("no project {id}"))
}

pub fn validate_id(id: &str) -> Result<(), ServiceError> {
    if id.is_empty()
        || id.len() > MAX_ID
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(ServiceError::invalid(format!(
            "id must be 1-{MAX_ID} letters, digits, `-` or `_`"
        )));
    }
    Ok(())
}

fn validate_name(name: &str) -> Result<String, ServiceError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 128 {
        return Err(ServiceError::invalid("name is required (1-128 characters)"));
    }
    Ok(name.to_owned())
}

fn validate_description(description: &str) -> Result<String, ServiceError> {
    if description.chars().count() > 1024 {
        return Err(ServiceError::invalid(
            "description may hold up to 1024 characters",
        ));
    }
    Ok(description.to_owned())
}

pub async fn get(db: &DatabaseConnection, id: &str) -> Result<Model, ServiceError> {
    Projects::find_by_id(id.to_owned())
        .one(db)
        .await?
        .ok_or_else(|| not_found(id))
}

pub async fn list(db: &DatabaseConnection) -> Result<Vec<Model>, ServiceError> {
    Ok(Projects::find()
        .order_by_asc(project::Column::Id)
        .all(db)
        .await?)
}

pub async fn create(db: &DatabaseConnection, input: ProjectInput) -> Result<Model, ServiceError> {
    let id = input
        .id
        .ok_or_else(|| ServiceError::invalid("id is required"))?;
    validate_id(&id)?;
    let name = validate_name(input.name.as_deref().unwrap_or_default())?;
    let description = validate_description(input.description.as_deref().unwrap_or_default())?;
    let now = Utc::now();
    project::ActiveModel {
        id: Set(id.clone()),
        name: Set(name),
        description: Set(description),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await
    .map_err(|e| {
        if is_unique_violation(&e) {
            ServiceError::conflict(format!("a project with id `{id}` already exists"))
        } else {
            e.into()
        }
    })
}

pub async fn update(
    db: &DatabaseConnection,
    id: &str,
    input: ProjectInput,
) -> Result<Model, ServiceError> {
    // A project that does not exist is 404 whatever the body says; one that
    // does keeps its id, which the body contradicts (409).
    let mut active = get(db, id).await?.into_active_model();
    if input.id.as_deref().is_some_and(|new| new != id) {
        return Err(ServiceError::conflict("a project's id cannot change"));
    }
    if let Some(name) = input.name {
        active.name = Set(validate_name(&name)?);
    }
    if let Some(description) = input.description {
        active.description = Set(validate_description(&description)?);
    }
    active.updated_at = Set(Utc::now());
    Ok(active.update(db).await?)
}

/// Deletes a project that owns nothing: no grant, no unrevoked token, no
/// changefeed.
pub async fn delete(db: &DatabaseConnection, id: &str) -> Result<Model, ServiceError> {
    let txn = db.begin().await?;
    // A write first, so that the transaction holds the write lock before it
    // reads: on SQLite one that reads first and then writes is refused as
    // busy when another writer committed meanwhile.
    Projects::update_many()
        .col_expr(
            project::Column::UpdatedAt,
            Expr::col(project::Column::UpdatedAt),
        )
        .filter(project::Column::Id.eq(id))
        .exec(&txn)
        .await?;
    let model = Projects::find_by_id(id.to_owned())
        .one(&txn)
        .await?
        .ok_or_else(|| not_found(id))?;
    let grants = Grants::find()
        .filter(project_grant::Column::ProjectId.eq(id))
        .count(&txn)
        .await?;
    let tokens = api_token::Entity::find()
        .filter(api_token::Column::ProjectId.eq(id))
        .filter(api_token::Column::RevokedAt.is_null())
        .count(&txn)
        .await?;
    let feeds = changefeed::Entity::find()
        .filter(changefeed::Column::ProjectId.eq(id))
        .count(&txn)
        .await?;
    if grants + tokens + feeds > 0 {
        return Err(ServiceError::conflict(format!(
            "project {id} still has {grants} grant(s), {tokens} token(s) and {feeds} changefeed(s); \
             remove them first"
        )));
    }
    Projects::delete_by_id(id.to_owned()).exec(&txn).await?;
    txn.commit().await?;
    Ok(model)
}

/// A project's grants, by cluster.
pub async fn grants(db: &DatabaseConnection, project: &str) -> Result<Vec<Grant>, ServiceError> {
    Ok(Grants::find()
        .filter(project_grant::Column::ProjectId.eq(project))
        .order_by_asc(project_grant::Column::ClusterId)
        .all(db)
        .await?)
}

pub async fn grant(
    db: &DatabaseConnection,
    project: &str,
    cluster_id: ClusterId,
) -> Result<Grant, ServiceError> {
    Grants::find_by_id((project.to_owned(), cluster_id))
        .one(db)
        .await?
        .ok_or_else(|| {
            ServiceError::not_found(format!(
                "project {project} has no grant on cluster {cluster_id}"
            ))
        })
}

/// Sets (creates or replaces) the project's grant on a cluster. A Kafka
/// cluster takes a topic prefix (or none: the whole cluster); a MySQL/TiDB
/// cluster is a changefeed source, target, or both.
pub async fn set_grant(
    store: &Store,
    project: &str,
    cluster_id: ClusterId,
    input: GrantInput,
) -> Result<Grant, ServiceError> {
    get(&store.db, project).await?;
    let cluster = clusters::get(store, cluster_id).await?;
    let prefix = input.topic_prefix.filter(|p| !p.is_empty());
    match cluster.kind {
        ClusterKind::Kafka => {
            if let Some(prefix) = &prefix {
                topics::validate_topic_name(prefix)
                    .map_err(|e| ServiceError::invalid(format!("topicPrefix: {e}")))?;
            }
        }
        ClusterKind::Mysql | ClusterKind::Tidb => {
            if prefix.is_some() {
                return Err(ServiceError::invalid(format!(
                    "topicPrefix does not apply to a {} cluster",
                    cluster.kind
                )));
            }
            if !input.source && !input.target {
                return Err(ServiceError::invalid(format!(
                    "a grant on a {} cluster makes it a source, a target, or both",
                    cluster.kind
                )));
            }
        }
    }
    let now = Utc::now();
    // One statement, not a read and a write: on SQLite a transaction that
    // reads first may meet a writer and be refused as busy.
    Grants::insert(project_grant::ActiveModel {
        project_id: Set(project.to_owned()),
        cluster_id: Set(cluster_id),
        topic_prefix: Set(prefix),
        source: Set(input.source),
        target: Set(input.target),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .on_conflict(
        OnConflict::columns([
            project_grant::Column::ProjectId,
            project_grant::Column::ClusterId,
        ])
        .update_columns([
            project_grant::Column::TopicPrefix,
            project_grant::Column::Source,
            project_grant::Column::Target,
            project_grant::Column::UpdatedAt,
        ])
        .to_owned(),
    )
    .exec_without_returning(&store.db)
    .await?;
    grant(&store.db, project, cluster_id).await
}

pub async fn remove_grant(
    db: &DatabaseConnection,
    project: &str,
    cluster_id: ClusterId,
) -> Result<Grant, ServiceError> {
    let existing = grant(db, project, cluster_id).await?;
    Grants::delete_by_id((project.to_owned(), cluster_id))
        .exec(db)
        .await?;
    Ok(existing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_url_safe() {
        assert!(validate_id("team-a_1").is_ok());
        for bad in ["", "a b", "a/b", "ä", &"x".repeat(65)] {
            assert!(validate_id(bad).is_err(), "{bad}");
        }
    }
}
