//! What `/api/v1/changesets` answers: a changeset with its plan, its steps'
//! tasks (read for their status) and its drift, and the document as the
//! caller wrote it (a changefeed's password masked).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use ferry_entity::changeset::{Change, FieldChange, Model};
use ferry_service::tasks::{self, Task};
use poem_openapi::Object;
use serde_json::{Value, json};

use super::super::NativeResult;
use crate::state::AppState;

/// A changeset: its document, plan, steps and drift.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct ChangesetView {
    pub id: String,
    pub name: String,
    pub cluster_id: i64,
    /// planned, refused, awaitingApproval, applying, applied, failed,
    /// stale or superseded.
    pub status: String,
    pub allow_delete: bool,
    pub require_approval: bool,
    pub watch: bool,
    pub revert: bool,
    pub planned_by: String,
    #[oai(nullable)]
    pub applied_by: Option<String>,
    #[oai(nullable)]
    pub approved_by: Option<String>,
    pub created_at: DateTime<Utc>,
    #[oai(nullable)]
    pub applied_at: Option<DateTime<Utc>>,
    #[oai(nullable)]
    pub apply_task_id: Option<String>,
    pub plan: PlanView,
    pub steps: Vec<StepView>,
    #[oai(nullable)]
    pub drift: Option<DriftView>,
    /// The document as kept (a changefeed's password sealed, never shown).
    pub document: Value,
}

#[derive(Debug, Object)]
pub struct PlanView {
    pub changes: Vec<ChangeView>,
    pub summary: Summary,
}

#[derive(Debug, Object)]
pub struct Summary {
    pub create: usize,
    pub update: usize,
    pub delete: usize,
    pub unchanged: usize,
    pub refused: usize,
}

#[derive(Debug, Object)]
pub struct ChangeView {
    /// topic, acl or changefeed.
    pub resource: String,
    pub name: String,
    /// create, update, delete or unchanged.
    pub action: String,
    pub fields: Vec<FieldView>,
    #[oai(nullable)]
    pub refused: Option<String>,
    pub warnings: Vec<String>,
}

#[derive(Debug, Object)]
pub struct FieldView {
    pub field: String,
    #[oai(nullable)]
    pub old: Option<String>,
    #[oai(nullable)]
    pub new: Option<String>,
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct StepView {
    /// The change's index in the plan.
    pub change: u32,
    pub task_id: String,
    pub kind: String,
    pub status: String,
    #[oai(nullable)]
    pub last_error: Option<String>,
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct DriftView {
    pub checked_at: DateTime<Utc>,
    pub changes: Vec<ChangeView>,
    pub reverted_by: Vec<String>,
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct ChangesetPage {
    pub data: Vec<ChangesetView>,
    pub page: u64,
    pub page_size: u64,
    pub total: u64,
}

fn fields(fields: &[FieldChange]) -> Vec<FieldView> {
    fields
        .iter()
        .map(|f| FieldView {
            field: f.field.clone(),
            old: f.old.clone(),
            new: f.new.clone(),
        })
        .collect()
}

fn change_view(change: &Change) -> ChangeView {
    ChangeView {
        resource: change.resource.as_str().to_owned(),
        name: change.name.clone(),
        action: change.action.as_str().to_owned(),
        fields: fields(&change.fields),
        refused: change.refused.clone(),
        warnings: change.warnings.clone(),
    }
}

/// The view of a changeset, its steps' tasks read for their status.
pub async fn view(state: &AppState, model: Model) -> NativeResult<ChangesetView> {
    let mut one = views(state, vec![model]).await?;
    Ok(one.remove(0))
}

/// The views of `models`, the tasks of all their steps read at once.
pub async fn views(state: &AppState, models: Vec<Model>) -> NativeResult<Vec<ChangesetView>> {
    let ids: Vec<String> = models
        .iter()
        .flat_map(|m| m.steps.0.iter().map(|s| s.task_id.clone()))
        .collect();
    let found: HashMap<String, Task> = tasks::get_many(&state.store.db, &ids)
        .await?
        .into_iter()
        .map(|t| (t.id.clone(), t))
        .collect();
    Ok(models
        .into_iter()
        .map(|model| view_with(model, &found))
        .collect())
}

fn view_with(model: Model, found: &HashMap<String, Task>) -> ChangesetView {
    use ferry_entity::changeset::Action;
    let count = |a: Action| model.plan.changes.iter().filter(|c| c.action == a).count();
    let summary = Summary {
        create: count(Action::Create),
        update: count(Action::Update),
        delete: count(Action::Delete),
        unchanged: count(Action::Unchanged),
        refused: model
            .plan
            .changes
            .iter()
            .filter(|c| c.refused.is_some())
            .count(),
    };
    let steps = model
        .steps
        .0
        .iter()
        .map(|s| {
            let task = found.get(&s.task_id);
            StepView {
                change: s.change as u32,
                task_id: s.task_id.clone(),
                kind: task.map_or("", |t| t.kind.as_str()).to_owned(),
                status: task.map_or("unknown", |t| t.status.as_str()).to_owned(),
                last_error: task.and_then(|t| t.last_error.clone()),
            }
        })
        .collect();
    ChangesetView {
        id: model.id,
        name: model.name,
        cluster_id: model.cluster_id.0,
        status: model.status.as_str().to_owned(),
        allow_delete: model.allow_delete,
        require_approval: model.require_approval,
        watch: model.watch,
        revert: model.revert,
        planned_by: model.planned_by,
        applied_by: model.applied_by,
        approved_by: model.approved_by,
        created_at: model.created_at,
        applied_at: model.applied_at,
        apply_task_id: model.apply_task_id,
        plan: PlanView {
            changes: model.plan.changes.iter().map(change_view).collect(),
            summary,
        },
        steps,
        drift: model.drift.map(|d| DriftView {
            checked_at: d.checked_at,
            changes: d.changes.iter().map(change_view).collect(),
            reverted_by: d.reverted_by,
        }),
        document: document_view(&model.document),
    }
}

/// The document as the caller wrote it: ACL fields in camelCase, a
/// changefeed's sealed password shown as a mask.
fn document_view(doc: &ferry_entity::changeset::DesiredState) -> Value {
    let acls: Vec<Value> = doc
        .acls
        .iter()
        .map(|a| {
            json!({
                "resourceType": a.resource_type.as_str(),
                "resourceName": a.resource_name,
                "patternType": a.pattern_type.as_str(),
                "principal": a.principal,
                "host": a.host,
                "operation": a.operation.as_str(),
                "permission": a.permission.as_str(),
            })
        })
        .collect();
    let changefeeds: Vec<Value> = doc
        .changefeeds
        .iter()
        .map(|f| {
            let mut downstream = f.downstream.clone();
            if f.password_sealed.is_some()
                && let Some(object) = downstream.as_object_mut()
            {
                object.insert("password".into(), json!(ferry_entity::payload::MASK));
            }
            json!({
                "name": f.name,
                "clusterId": f.cluster_id,
                "downstreamType": f.downstream_type,
                "downstream": downstream,
                "rules": f.rules,
                "startTs": f.start_ts,
            })
        })
        .collect();
    json!({ "topics": doc.topics, "acls": acls, "changefeeds": changefeeds })
}
