//! Turning a plan's changes into ordinary tasks, phase by phase: what the
//! `changeset.apply` job (and a reverting drift check) submits. Each change
//! goes through the same submission as its own route (topic creation
//! through addTopicTask's, ACLs through the ACL routes', changefeeds
//! through TiEM's), so it is checked, locked and audited alike.

use std::collections::{BTreeMap, HashMap};

use ferry_entity::{
    ClusterId, Role, TaskKind,
    acl::AclBinding,
    changeset::{Action, Change, DesiredState, Resource, Step},
    payload::{
        ChangefeedOperation, ConfigChange, ConfigOp, ConfigOpKind, ConfigResource, ReplicaTarget,
        TopicSpec,
    },
};

use super::{diff::acl_name, live::Live};
use crate::{
    access::Identity,
    acls::{self, FilterFields},
    changefeeds::{self, ChangefeedInput, Reach},
    error::ServiceError,
    kafka::KafkaClients,
    reassignments,
    store::Store,
    tasks::{Requester, Task},
    topics::{self, admin},
};

/// The order in which an apply carries changes out: a phase starts when
/// every task of the one before succeeded. Topics exist before what may
/// refer to them; deletes come last, changefeeds (which write into topics)
/// before ACLs and topics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    CreateTopics,
    UpdateTopicsAndAcls,
    Changefeeds,
    DeleteChangefeeds,
    DeleteAcls,
    DeleteTopics,
}

impl Phase {
    pub const ALL: [Phase; 6] = [
        Phase::CreateTopics,
        Phase::UpdateTopicsAndAcls,
        Phase::Changefeeds,
        Phase::DeleteChangefeeds,
        Phase::DeleteAcls,
        Phase::DeleteTopics,
    ];

    /// The phase of a change that does something.
    pub fn of(change: &Change) -> Option<Phase> {
        Some(match (change.resource, change.action) {
            (_, Action::Unchanged) => return None,
            (Resource::Topic, Action::Create) => Phase::CreateTopics,
            (Resource::Topic, Action::Update)
            | (Resource::Acl, Action::Create | Action::Update) => Phase::UpdateTopicsAndAcls,
            (Resource::Changefeed, Action::Create | Action::Update) => Phase::Changefeeds,
            (Resource::Changefeed, Action::Delete) => Phase::DeleteChangefeeds,
            (Resource::Acl, Action::Delete) => Phase::DeleteAcls,
            (Resource::Topic, Action::Delete) => Phase::DeleteTopics,
        })
    }
}

/// Who the steps' tasks are recorded for, and what they may reach: the
/// changes were checked against the planning token's reach when planned.
pub struct Applier<'a> {
    pub store: &'a Store,
    pub kafka: &'a KafkaClients,
    pub cluster: ClusterId,
    pub who: Requester,
}

impl Applier<'_> {
    /// Submits the tasks of `changes` (indexes into the plan, all of one
    /// phase) and returns a step per task.
    pub async fn submit(
        &self,
        desired: &DesiredState,
        live: &Live,
        changes: &[(usize, &Change)],
    ) -> Result<Vec<Step>, ServiceError> {
        let mut steps = Vec::new();
        // A plan names an ACL by its text: each ACL's text is made once.
        let (wanted_acls, live_acls) = if changes.iter().any(|(_, c)| c.resource == Resource::Acl) {
            (acls_by_name(&desired.acls), acls_by_name(&live.acls))
        } else {
            (HashMap::new(), HashMap::new())
        };
        // Topic creations go as one addTopicTask request: one job per 100.
        let creates: Vec<(usize, TopicSpec)> = changes
            .iter()
            .filter(|(_, c)| c.resource == Resource::Topic && c.action == Action::Create)
            .filter_map(|(i, c)| {
                let topic = desired.topics.iter().find(|t| t.name == c.name)?;
                Some((
                    *i,
                    TopicSpec {
                        topic_name: topic.name.clone(),
                        partition_count: topic.partitions,
                        replication_factor: topic.replication_factor,
                        configs: topic.configs.clone(),
                        region: None,
                        user: None,
                    },
                ))
            })
            .collect();
        if !creates.is_empty() {
            let (indexes, specs): (Vec<usize>, Vec<TopicSpec>) = creates.into_iter().unzip();
            let tasks =
                topics::submit(self.store, self.kafka, self.cluster, specs, &self.who).await?;
            steps.extend(indexes.into_iter().zip(tasks).map(|(i, t)| step(i, &t)));
        }
        for (index, change) in changes {
            let tasks = match (change.resource, change.action) {
                (Resource::Topic, Action::Create) | (_, Action::Unchanged) => Vec::new(),
                (Resource::Topic, Action::Update) => self.update_topic(change, live).await?,
                (Resource::Topic, Action::Delete) => {
                    vec![
                        admin::submit_topic_delete(
                            self.store,
                            self.cluster,
                            &change.name,
                            &self.who,
                        )
                        .await?,
                    ]
                }
                (Resource::Acl, Action::Create | Action::Update) => {
                    let acl = wanted_acls
                        .get(&change.name)
                        .ok_or_else(|| missing(change))?;
                    vec![
                        acls::submit_create(self.store, self.cluster, (*acl).clone(), &self.who)
                            .await?,
                    ]
                }
                (Resource::Acl, Action::Delete) => {
                    let acl = live_acls.get(&change.name).ok_or_else(|| missing(change))?;
                    let filter = acls::delete_filter(&FilterFields {
                        resource_type: Some(acl.resource_type.as_str().to_owned()),
                        resource_name: Some(acl.resource_name.clone()),
                        pattern_type: Some(acl.pattern_type.as_str().to_owned()),
                        principal: Some(acl.principal.clone()),
                        host: Some(acl.host.clone()),
                        operation: Some(acl.operation.as_str().to_owned()),
                        permission: Some(acl.permission.as_str().to_owned()),
                    })?;
                    vec![acls::submit_delete(self.store, self.cluster, filter, &self.who).await?]
                }
                (Resource::Changefeed, Action::Create) => {
                    vec![self.create_changefeed(desired, change).await?]
                }
                (Resource::Changefeed, Action::Update) => {
                    vec![self.update_changefeed(desired, live, change).await?]
                }
                (Resource::Changefeed, Action::Delete) => {
                    let id = &live
                        .changefeeds
                        .get(&change.name)
                        .ok_or_else(|| missing(change))?
                        .id;
                    let (_, task) = changefeeds::operate(
                        self.store,
                        id,
                        TaskKind::ChangefeedDelete,
                        &ChangefeedOperation::default(),
                        &self.who,
                    )
                    .await?;
                    vec![task]
                }
            };
            steps.extend(tasks.iter().map(|t| step(*index, t)));
        }
        Ok(steps)
    }

    /// A topic's partitions, configs and replication factor, a task each.
    async fn update_topic(&self, change: &Change, live: &Live) -> Result<Vec<Task>, ServiceError> {
        let topic = &change.name;
        let mut tasks = Vec::new();
        let mut ops = Vec::new();
        for field in &change.fields {
            if field.field == "partitions" {
                let count = field
                    .new
                    .as_deref()
                    .and_then(|n| n.parse().ok())
                    .ok_or_else(|| missing(change))?;
                tasks.push(
                    admin::submit_partition_increase(
                        self.store,
                        self.cluster,
                        topic,
                        count,
                        &self.who,
                    )
                    .await?,
                );
            } else if field.field == "replicationFactor" {
                let factor: usize = field
                    .new
                    .as_deref()
                    .and_then(|n| n.parse().ok())
                    .ok_or_else(|| missing(change))?;
                let current = live.topics.get(topic).ok_or_else(|| missing(change))?;
                let targets = replica_targets(topic, &current.replicas, factor, live);
                tasks.push(
                    reassignments::submit_reassignment(
                        self.store,
                        self.cluster,
                        targets,
                        None,
                        &self.who,
                    )
                    .await?,
                );
            } else if let Some(name) = field.field.strip_prefix("configs.") {
                ops.push(ConfigOp {
                    name: name.to_owned(),
                    value: field.new.clone(),
                    sealed: None,
                    operation: if field.new.is_some() {
                        ConfigOpKind::Set
                    } else {
                        ConfigOpKind::Delete
                    },
                });
            }
        }
        if !ops.is_empty() {
            let change = ConfigChange {
                resource: ConfigResource::Topic(topic.clone()),
                ops,
            };
            tasks.push(
                admin::submit_config_change(self.store, self.cluster, change, &[], &self.who)
                    .await?,
            );
        }
        Ok(tasks)
    }

    async fn create_changefeed(
        &self,
        desired: &DesiredState,
        change: &Change,
    ) -> Result<Task, ServiceError> {
        let feed = desired
            .changefeeds
            .iter()
            .find(|f| f.name == change.name)
            .ok_or_else(|| missing(change))?;
        let mut downstream = feed.downstream.clone();
        if let (Some(sealed), Some(object)) = (&feed.password_sealed, downstream.as_object_mut()) {
            let password = self.store.secrets.decrypt(sealed).map_err(|e| {
                ServiceError::invalid(format!(
                    "changefeed `{}`: its sealed password does not open: {e}",
                    feed.name
                ))
            })?;
            use secrecy::ExposeSecret;
            object.insert("password".into(), password.expose_secret().into());
        }
        let input = ChangefeedInput {
            name: Some(feed.name.clone()),
            cluster_id: Some(feed.cluster_id.clone()),
            downstream_type: Some(feed.downstream_type.clone()),
            downstream: Some(downstream),
            rules: Some(feed.rules.clone()),
            start_ts: feed.start_ts.clone(),
            start_paused: false,
            force: false,
        };
        let identity = applier_identity(&self.who);
        let reach = Reach {
            identity: &identity,
            downstream_hosts: &[],
        };
        let (_, task) = changefeeds::create(self.store, input, &self.who, reach).await?;
        Ok(task)
    }

    async fn update_changefeed(
        &self,
        desired: &DesiredState,
        live: &Live,
        change: &Change,
    ) -> Result<Task, ServiceError> {
        let feed = desired
            .changefeeds
            .iter()
            .find(|f| f.name == change.name)
            .ok_or_else(|| missing(change))?;
        let id = &live
            .changefeeds
            .get(&change.name)
            .ok_or_else(|| missing(change))?
            .id;
        let current = changefeeds::get(&self.store.db, id).await?;
        let identity = applier_identity(&self.who);
        let reach = Reach {
            identity: &identity,
            downstream_hosts: &[],
        };
        let input = ChangefeedInput {
            rules: Some(feed.rules.clone()),
            ..ChangefeedInput::default()
        };
        let patch = changefeeds::validate_patch(self.store, &current, input, reach).await?;
        let (_, task) = changefeeds::operate(
            self.store,
            id,
            TaskKind::ChangefeedUpdate,
            &patch,
            &self.who,
        )
        .await?;
        Ok(task)
    }
}

/// ACLs by the text a plan names them by.
fn acls_by_name<'a>(
    acls: impl IntoIterator<Item = &'a AclBinding>,
) -> HashMap<String, &'a AclBinding> {
    acls.into_iter().map(|a| (acl_name(a), a)).collect()
}

fn step(change: usize, task: &Task) -> Step {
    Step {
        change,
        task_id: task.id.clone(),
    }
}

fn missing(change: &Change) -> ServiceError {
    ServiceError::conflict(format!(
        "the {} `{}` of the plan is no longer in the document or the cluster",
        change.resource.as_str(),
        change.name
    ))
}

/// The identity a changefeed's step runs under: changefeeds in a changeset
/// need a global token, and a downstream by address a global admin, when
/// planned (`document::check`), so the apply reaches what was checked then.
fn applier_identity(who: &Requester) -> Identity {
    Identity {
        token_id: String::new(),
        name: who.created_by.clone(),
        role: Role::Admin,
        project: None,
        rate: None,
    }
}

/// Each partition's new replicas for `factor`: a shorter list keeps its
/// first replicas (the preferred leader stays); a longer one adds the
/// brokers holding the fewest replicas of the cluster that the partition
/// does not have yet.
fn replica_targets(
    topic: &str,
    replicas: &[Vec<i32>],
    factor: usize,
    live: &Live,
) -> Vec<ReplicaTarget> {
    let mut load: BTreeMap<i32, usize> = live.brokers.iter().map(|b| (*b, 0)).collect();
    for t in live.topics.values() {
        for partition in &t.replicas {
            for broker in partition {
                *load.entry(*broker).or_default() += 1;
            }
        }
    }
    replicas
        .iter()
        .enumerate()
        .map(|(partition, current)| {
            let mut next: Vec<i32> = current.iter().copied().take(factor).collect();
            while next.len() < factor {
                let Some((&broker, _)) = load
                    .iter()
                    .filter(|(b, _)| !next.contains(b))
                    .min_by_key(|(b, n)| (**n, **b))
                else {
                    break;
                };
                *load.entry(broker).or_default() += 1;
                next.push(broker);
            }
            ReplicaTarget {
                topic: topic.to_owned(),
                partition: partition as i32,
                replicas: next,
            }
        })
        .collect()
}
