//! A desired-state document as a request gives it, checked into the
//! [`DesiredState`] a changeset keeps: names and limits, the topic configs
//! Kafka knows, ACLs parsed like the ACL routes parse them, and what the
//! caller may name. A changefeed's downstream password is sealed here, so
//! that it never reaches the stored document.

use std::collections::HashSet;

use ferry_entity::{
    ClusterId, Role,
    acl::AclBinding,
    changeset::{DesiredChangefeed, DesiredState, DesiredTopic},
};

use crate::{
    access::Identity,
    acls::{self, AclFields},
    error::ServiceError,
    kafka::topic_config,
    store::Store,
    topics::{self, MAX_PARTITIONS, MAX_REPLICATION_FACTOR},
};

/// Most topics, ACLs and changefeeds one document may name.
pub const MAX_TOPICS: usize = 1000;
pub const MAX_ACLS: usize = 1000;
pub const MAX_CHANGEFEEDS: usize = 100;

/// A document as the request gives it.
#[derive(Debug, Clone)]
pub struct DocumentInput {
    pub cluster: ClusterId,
    pub name: String,
    pub allow_delete: bool,
    pub require_approval: bool,
    pub watch: bool,
    pub revert: bool,
    pub topics: Vec<DesiredTopic>,
    pub acls: Vec<AclFields>,
    pub changefeeds: Vec<ChangefeedFields>,
}

/// A changefeed as TiEM's create body gives it, password included.
#[derive(Debug, Clone, Default)]
pub struct ChangefeedFields {
    pub name: String,
    pub cluster_id: String,
    pub downstream_type: String,
    pub downstream: serde_json::Value,
    pub rules: Vec<String>,
    pub start_ts: Option<String>,
}

/// A checked document: its settings and what it asks for.
#[derive(Debug, Clone)]
pub struct Document {
    pub cluster: ClusterId,
    pub name: String,
    pub allow_delete: bool,
    pub require_approval: bool,
    pub watch: bool,
    pub revert: bool,
    pub desired: DesiredState,
}

/// Checks a document for `identity`: every error names the entry and field.
pub fn check(
    store: &Store,
    identity: &Identity,
    input: DocumentInput,
) -> Result<Document, ServiceError> {
    check_name(&input.name)?;
    if input.revert && !input.watch {
        return Err(ServiceError::invalid(
            "revert needs watch: only a watched changeset is checked for drift",
        ));
    }
    let cluster = input.cluster;
    if input.topics.len() > MAX_TOPICS {
        return Err(too_many("topics", input.topics.len(), MAX_TOPICS));
    }
    if input.acls.len() > MAX_ACLS {
        return Err(too_many("acls", input.acls.len(), MAX_ACLS));
    }
    if input.changefeeds.len() > MAX_CHANGEFEEDS {
        return Err(too_many(
            "changefeeds",
            input.changefeeds.len(),
            MAX_CHANGEFEEDS,
        ));
    }
    let mut names = HashSet::new();
    for (i, topic) in input.topics.iter().enumerate() {
        check_topic(topic).map_err(|e| ServiceError::invalid(format!("topics[{i}]: {e}")))?;
        if !names.insert(topic.name.as_str()) {
            return Err(ServiceError::invalid(format!(
                "topics[{i}]: topic `{}` is named twice",
                topic.name
            )));
        }
        identity.may_name(cluster, &format!("topics[{i}].name"), &topic.name)?;
    }
    let mut acls_seen = HashSet::new();
    let mut acls = Vec::with_capacity(input.acls.len());
    for (i, fields) in input.acls.iter().enumerate() {
        let acl: AclBinding = acls::binding(fields)
            .map_err(|e| ServiceError::invalid(format!("acls[{i}]: {}", e.message())))?;
        acls::may_create(identity, cluster, &acl)?;
        if !acls_seen.insert(acl.clone()) {
            return Err(ServiceError::invalid(format!(
                "acls[{i}]: the ACL is given twice"
            )));
        }
        acls.push(acl);
    }
    if !input.changefeeds.is_empty() && !identity.is_global() {
        return Err(ServiceError::forbidden(
            "changefeeds in a changeset need a global token (a project token creates them through TiEM's API)",
        ));
    }
    // What TiEM's create asks of a global token (`changefeeds::Reach`): a
    // downstream named by address needs an admin. The apply then runs with
    // the reach the plan was checked for.
    if input
        .changefeeds
        .iter()
        .any(|f| f.downstream.get("ip").is_some() || f.downstream.get("host").is_some())
        && identity.role != Role::Admin
    {
        return Err(ServiceError::forbidden(
            "a changefeed's downstream given by ip and port needs a global admin token; name a registered cluster with targetClusterId",
        ));
    }
    let mut feed_names = HashSet::new();
    let mut changefeeds = Vec::with_capacity(input.changefeeds.len());
    for (i, feed) in input.changefeeds.into_iter().enumerate() {
        if feed.name.trim().is_empty() {
            return Err(ServiceError::invalid(format!(
                "changefeeds[{i}].name is required"
            )));
        }
        if !feed_names.insert(feed.name.clone()) {
            return Err(ServiceError::invalid(format!(
                "changefeeds[{i}]: changefeed `{}` is named twice",
                feed.name
            )));
        }
        changefeeds.push(seal_changefeed(store, feed));
    }
    Ok(Document {
        cluster,
        name: input.name,
        allow_delete: input.allow_delete,
        require_approval: input.require_approval,
        watch: input.watch,
        revert: input.revert,
        desired: DesiredState {
            topics: input.topics,
            acls,
            changefeeds,
        },
    })
}

/// A changeset's name: 1-255 characters of letters, digits, `.`, `_`, `-`.
fn check_name(name: &str) -> Result<(), ServiceError> {
    let ok = !name.is_empty()
        && name.len() <= 255
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(ServiceError::invalid(format!(
            "name `{name}` must be 1-255 letters, digits, `.`, `_` or `-`"
        )))
    }
}

fn check_topic(topic: &DesiredTopic) -> Result<(), String> {
    topics::validate_topic_name(&topic.name)?;
    if let Some(p) = topic.partitions
        && !(1..=MAX_PARTITIONS).contains(&p)
    {
        return Err(format!(
            "partitions must be between 1 and {MAX_PARTITIONS}, got {p}"
        ));
    }
    if let Some(rf) = topic.replication_factor
        && !(1..=MAX_REPLICATION_FACTOR).contains(&rf)
    {
        return Err(format!(
            "replicationFactor must be between 1 and {MAX_REPLICATION_FACTOR}, got {rf}"
        ));
    }
    topic_config::validate(&topic.configs)
}

fn too_many(what: &str, given: usize, most: usize) -> ServiceError {
    ServiceError::invalid(format!(
        "the document names {given} {what}, more than the {most} one changeset may hold"
    ))
}

/// The changefeed with its downstream password taken out and sealed.
fn seal_changefeed(store: &Store, feed: ChangefeedFields) -> DesiredChangefeed {
    let mut downstream = feed.downstream;
    let password = downstream
        .as_object_mut()
        .and_then(|d| d.remove("password"))
        .and_then(|p| p.as_str().map(str::to_owned))
        .filter(|p| !p.is_empty());
    DesiredChangefeed {
        name: feed.name,
        cluster_id: feed.cluster_id,
        downstream_type: feed.downstream_type,
        downstream,
        password_sealed: password.map(|p| store.secrets.encrypt(&p)),
        rules: feed.rules,
        start_ts: feed.start_ts,
    }
}
