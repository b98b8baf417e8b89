//! The plan: what a desired state asks of the live cluster, resource by
//! resource. Pure: [`plan`] reads a document, the previous applied document
//! of the same name and a [`Live`] snapshot, and writes nothing.
//!
//! The rules (docs/CHANGESETS.md):
//! - a topic's partition count only grows; a decrease is refused;
//! - a replication factor change runs as a reassignment (a warning), and is
//!   refused past the broker count;
//! - a config equal to the topic's live value, set on the topic or inherited,
//!   is no difference; an override the document leaves out goes back to the
//!   default, unless it already holds the default's value;
//! - only what the previous applied document named is deleted, and only
//!   with `allowDelete`; internal topics (`_` first) never are;
//! - a changefeed's upstream and downstream type are not changed here.

use std::collections::{BTreeMap, HashSet};

use ferry_entity::{
    acl::AclBinding,
    changeset::{
        Action, Change, DesiredChangefeed, DesiredState, DesiredTopic, FieldChange, Plan, Resource,
    },
};

use super::live::{Live, LiveTopic};

/// Where an override comes from on the topic itself.
const TOPIC_OVERRIDE: &str = "DYNAMIC_TOPIC_CONFIG";

/// The plan of `desired` against `live`; `previous` is the last applied
/// document of the same name, whose resources this one may delete.
pub fn plan(
    desired: &DesiredState,
    previous: Option<&DesiredState>,
    live: &Live,
    allow_delete: bool,
) -> Plan {
    let mut changes = Vec::new();
    for topic in &desired.topics {
        changes.push(topic_change(topic, live));
    }
    let named: HashSet<&str> = desired.topics.iter().map(|t| t.name.as_str()).collect();
    for old in previous.map(|p| p.topics.as_slice()).unwrap_or_default() {
        if !named.contains(old.name.as_str())
            && !old.name.starts_with('_')
            && live.topics.contains_key(&old.name)
        {
            changes.push(delete(Resource::Topic, old.name.clone(), allow_delete));
        }
    }
    for acl in &desired.acls {
        let action = if live.acls.contains(acl) {
            Action::Unchanged
        } else {
            Action::Create
        };
        changes.push(change(Resource::Acl, acl_name(acl), action));
    }
    let wanted: HashSet<&AclBinding> = desired.acls.iter().collect();
    for old in previous.map(|p| p.acls.as_slice()).unwrap_or_default() {
        if !wanted.contains(old) && live.acls.contains(old) {
            changes.push(delete(Resource::Acl, acl_name(old), allow_delete));
        }
    }
    for feed in &desired.changefeeds {
        changes.push(changefeed_change(feed, live));
    }
    let feeds: HashSet<&str> = desired
        .changefeeds
        .iter()
        .map(|f| f.name.as_str())
        .collect();
    for old in previous
        .map(|p| p.changefeeds.as_slice())
        .unwrap_or_default()
    {
        if !feeds.contains(old.name.as_str()) && live.changefeeds.contains_key(&old.name) {
            changes.push(delete(Resource::Changefeed, old.name.clone(), allow_delete));
        }
    }
    Plan { changes }
}

/// An ACL's name in a plan: `TOPIC:PREFIXED:orders User:app * WRITE ALLOW`.
pub fn acl_name(acl: &AclBinding) -> String {
    format!(
        "{}:{}:{} {} {} {} {}",
        acl.resource_type,
        acl.pattern_type.as_str(),
        acl.resource_name,
        acl.principal,
        acl.host,
        acl.operation,
        acl.permission
    )
}

fn change(resource: Resource, name: String, action: Action) -> Change {
    Change {
        resource,
        name,
        action,
        fields: Vec::new(),
        refused: None,
        warnings: Vec::new(),
    }
}

fn delete(resource: Resource, name: String, allow_delete: bool) -> Change {
    let mut change = change(resource, name, Action::Delete);
    if !allow_delete {
        change.refused = Some(format!(
            "the previous changeset of this name managed this {}, which the document no longer names: deleting it needs `allowDelete: true`",
            resource.as_str()
        ));
    }
    change
}

fn field(name: impl Into<String>, old: Option<String>, new: Option<String>) -> FieldChange {
    FieldChange {
        field: name.into(),
        old,
        new,
    }
}

fn topic_change(topic: &DesiredTopic, live: &Live) -> Change {
    let Some(current) = live.topics.get(&topic.name) else {
        let mut created = change(Resource::Topic, topic.name.clone(), Action::Create);
        if let Some(p) = topic.partitions {
            created
                .fields
                .push(field("partitions", None, Some(p.to_string())));
        }
        if let Some(rf) = topic.replication_factor {
            created
                .fields
                .push(field("replicationFactor", None, Some(rf.to_string())));
            if rf as usize > live.brokers.len() {
                created.refused = Some(format!(
                    "replicationFactor {rf} is more than the cluster's {} brokers",
                    live.brokers.len()
                ));
            }
        }
        for (name, value) in &topic.configs {
            created
                .fields
                .push(field(format!("configs.{name}"), None, Some(value.clone())));
        }
        return created;
    };
    let mut updated = change(Resource::Topic, topic.name.clone(), Action::Unchanged);
    let partitions = current.partitions();
    if let Some(p) = topic.partitions {
        if p < partitions {
            updated.refused = Some(format!(
                "the topic has {partitions} partitions and the document asks for {p}: Kafka cannot lower a partition count (delete and recreate the topic instead)"
            ));
        }
        if p != partitions {
            updated.fields.push(field(
                "partitions",
                Some(partitions.to_string()),
                Some(p.to_string()),
            ));
        }
    }
    let rf = current.replication_factor();
    if let Some(wanted) = topic.replication_factor
        && wanted != rf
    {
        updated.fields.push(field(
            "replicationFactor",
            Some(rf.to_string()),
            Some(wanted.to_string()),
        ));
        if wanted as usize > live.brokers.len() {
            updated.refused = Some(format!(
                "replicationFactor {wanted} is more than the cluster's {} brokers",
                live.brokers.len()
            ));
        } else {
            updated.warnings.push(format!(
                "the replication factor changes from {rf} to {wanted}: this runs as a partition reassignment, which copies the topic's data"
            ));
        }
    }
    config_changes(topic, current, &mut updated);
    if !updated.fields.is_empty() {
        updated.action = Action::Update;
    }
    updated
}

fn config_changes(topic: &DesiredTopic, current: &LiveTopic, change: &mut Change) {
    let entries = match &current.configs {
        Ok(entries) => entries,
        Err(err) => {
            change.refused = Some(format!("the topic's configs could not be read: {err}"));
            return;
        }
    };
    let by_name: BTreeMap<&str, _> = entries.iter().map(|e| (e.name.as_str(), e)).collect();
    for (name, value) in &topic.configs {
        let live_value = by_name.get(name.as_str()).and_then(|e| e.value.clone());
        if live_value.as_deref() != Some(value.as_str()) {
            change.fields.push(field(
                format!("configs.{name}"),
                live_value,
                Some(value.clone()),
            ));
        }
    }
    for entry in entries {
        if entry.source != TOPIC_OVERRIDE
            || entry.value.is_none()
            || topic.configs.contains_key(&entry.name)
        {
            continue;
        }
        let default = entry
            .synonyms
            .iter()
            .find(|s| s.source != TOPIC_OVERRIDE)
            .and_then(|s| s.value.as_deref());
        if default.is_some() && default == entry.value.as_deref() {
            continue;
        }
        change.fields.push(field(
            format!("configs.{}", entry.name),
            entry.value.clone(),
            None,
        ));
    }
}

fn changefeed_change(feed: &DesiredChangefeed, live: &Live) -> Change {
    let Some(current) = live.changefeeds.get(&feed.name) else {
        let mut created = change(Resource::Changefeed, feed.name.clone(), Action::Create);
        created
            .fields
            .push(field("rules", None, Some(feed.rules.join(", "))));
        return created;
    };
    let mut updated = change(Resource::Changefeed, feed.name.clone(), Action::Unchanged);
    let upstream_same = ferry_entity::ClusterId::parse(&feed.cluster_id) == Some(current.upstream);
    if !upstream_same
        || !feed
            .downstream_type
            .eq_ignore_ascii_case(current.downstream_type.as_str())
    {
        updated.action = Action::Update;
        updated.refused = Some(format!(
            "changefeed `{}` reads cluster {} into a {} downstream: a changeset does not change a changefeed's upstream or downstream type (update it through TiEM's API, or delete it and create another)",
            feed.name, current.upstream, current.downstream_type
        ));
        return updated;
    }
    if feed.rules != current.rules {
        updated.action = Action::Update;
        updated.fields.push(field(
            "rules",
            Some(current.rules.join(", ")),
            Some(feed.rules.join(", ")),
        ));
    }
    updated
}

#[cfg(test)]
mod tests {
    use ferry_entity::changeset::Action;

    use super::*;
    use crate::kafka::admin::{ConfigEntry, ConfigSynonym};

    fn entry(name: &str, value: &str, source: &str, default: Option<&str>) -> ConfigEntry {
        let mut synonyms = vec![ConfigSynonym {
            name: name.into(),
            value: Some(value.into()),
            source: source.into(),
        }];
        if let Some(d) = default {
            synonyms.push(ConfigSynonym {
                name: name.into(),
                value: Some(d.into()),
                source: "DEFAULT_CONFIG".into(),
            });
        }
        ConfigEntry {
            name: name.into(),
            value: Some(value.into()),
            source: source.into(),
            is_default: source == "DEFAULT_CONFIG",
            is_read_only: false,
            is_sensitive: false,
            synonyms,
        }
    }

    fn live(configs: Vec<ConfigEntry>) -> Live {
        let mut live = Live {
            brokers: vec![1, 2, 3],
            ..Live::default()
        };
        live.topics.insert(
            "t".into(),
            LiveTopic {
                replicas: vec![vec![1, 2], vec![2, 3]],
                configs: Ok(configs),
            },
        );
        live
    }

    fn topic(partitions: Option<i32>, rf: Option<i32>, configs: &[(&str, &str)]) -> DesiredState {
        DesiredState {
            topics: vec![DesiredTopic {
                name: "t".into(),
                partitions,
                replication_factor: rf,
                configs: configs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            }],
            ..DesiredState::default()
        }
    }

    #[test]
    fn a_config_equal_to_the_default_or_the_override_is_no_difference() {
        let live = live(vec![
            entry("retention.ms", "604800000", "DEFAULT_CONFIG", None),
            entry(
                "cleanup.policy",
                "delete",
                "DYNAMIC_TOPIC_CONFIG",
                Some("delete"),
            ),
        ]);
        let plan = plan(
            &topic(None, None, &[("retention.ms", "604800000")]),
            None,
            &live,
            false,
        );
        assert_eq!(plan.changes[0].action, Action::Unchanged, "{plan:?}");
    }

    #[test]
    fn an_override_left_out_goes_back_to_the_default() {
        let live = live(vec![entry(
            "retention.ms",
            "1000",
            "DYNAMIC_TOPIC_CONFIG",
            Some("604800000"),
        )]);
        let plan = plan(&topic(None, None, &[]), None, &live, false);
        let change = &plan.changes[0];
        assert_eq!(change.action, Action::Update);
        assert_eq!(
            change.fields,
            vec![field("configs.retention.ms", Some("1000".into()), None)]
        );
    }

    #[test]
    fn partitions_only_grow_and_a_factor_change_is_a_reassignment() {
        let live = live(Vec::new());
        let fewer = plan(&topic(Some(1), None, &[]), None, &live, false);
        assert!(fewer.is_refused());
        let more = plan(&topic(Some(4), Some(3), &[]), None, &live, false);
        assert!(!more.is_refused());
        assert_eq!(more.changes[0].fields.len(), 2);
        assert!(more.changes[0].warnings[0].contains("reassignment"));
        let too_many = plan(&topic(None, Some(4), &[]), None, &live, false);
        assert!(
            too_many.changes[0]
                .refused
                .as_deref()
                .unwrap()
                .contains("3 brokers")
        );
    }

    #[test]
    fn only_what_the_previous_document_named_is_deleted_and_only_when_allowed() {
        let live = live(Vec::new());
        let previous = topic(None, None, &[]);
        let empty = DesiredState::default();
        let refused = plan(&empty, Some(&previous), &live, false);
        assert_eq!(refused.changes[0].action, Action::Delete);
        assert!(refused.is_refused());
        assert!(!plan(&empty, Some(&previous), &live, true).is_refused());
        assert!(plan(&empty, None, &live, true).changes.is_empty());
    }
}
