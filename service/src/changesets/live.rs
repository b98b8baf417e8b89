//! The live state a plan compares with: the cluster's brokers and topics
//! (one Metadata request), the configs of the topics the documents name
//! (DescribeConfigs of up to 200 topics per request), the cluster's ACLs
//! (one DescribeAcls, only when a document names ACLs) and the changefeeds
//! the documents name, from the registry.

use std::collections::{BTreeMap, HashSet};

use ferry_entity::{
    ClusterId, DownstreamType,
    acl::{AclBinding, AclFilter},
    changefeed,
    changeset::DesiredState,
};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::{
    error::ServiceError,
    kafka::{
        INSPECT_TIMEOUT, KafkaClients,
        admin::{self as kafka_admin, ConfigEntry},
    },
    store::Store,
};

/// The cluster as a plan sees it.
#[derive(Debug, Clone, Default)]
pub struct Live {
    pub brokers: Vec<i32>,
    pub topics: BTreeMap<String, LiveTopic>,
    pub acls: HashSet<AclBinding>,
    /// The changefeeds the documents name, by name.
    pub changefeeds: BTreeMap<String, LiveChangefeed>,
}

#[derive(Debug, Clone)]
pub struct LiveTopic {
    /// Each partition's replicas, preferred leader first, by partition id.
    pub replicas: Vec<Vec<i32>>,
    /// The topic's configs, or why they could not be read. Topics that no
    /// document names are not described.
    pub configs: Result<Vec<ConfigEntry>, String>,
}

impl LiveTopic {
    pub fn partitions(&self) -> i32 {
        self.replicas.len() as i32
    }

    /// The first partition's replica count: Kafka keeps a topic's partitions
    /// at one factor unless a reassignment changed some.
    pub fn replication_factor(&self) -> i32 {
        self.replicas.first().map_or(0, |r| r.len() as i32)
    }
}

#[derive(Debug, Clone)]
pub struct LiveChangefeed {
    pub id: String,
    pub upstream: ClusterId,
    pub downstream_type: DownstreamType,
    pub rules: Vec<String>,
}

/// Reads what `desired` and `previous` name from the cluster and registry.
pub async fn read(
    store: &Store,
    kafka: &KafkaClients,
    cluster_id: ClusterId,
    desired: &DesiredState,
    previous: Option<&DesiredState>,
) -> Result<Live, ServiceError> {
    let cluster = kafka.get(store, cluster_id).await?;
    let unreachable = |err: kafka_admin::AdminError| {
        ServiceError::unavailable(
            format!(
                "cluster {cluster_id} did not answer ({err}): a plan needs its live state; try again"
            ),
            err,
        )
    };
    let described = kafka_admin::describe_cluster(&cluster, INSPECT_TIMEOUT)
        .await
        .map_err(unreachable)?;
    let documents = || std::iter::once(desired).chain(previous);
    let named: HashSet<&str> = documents()
        .flat_map(|d| d.topics.iter().map(|t| t.name.as_str()))
        .collect();
    let present: Vec<String> = described
        .topics
        .iter()
        .filter(|t| t.error.is_none() && named.contains(t.name.as_str()))
        .map(|t| t.name.clone())
        .collect();
    let mut configs = if present.is_empty() {
        BTreeMap::new()
    } else {
        kafka_admin::describe_topic_configs(&cluster, &present, INSPECT_TIMEOUT)
            .await
            .map_err(unreachable)?
    };
    let topics = described
        .topics
        .iter()
        .filter(|t| t.error.is_none())
        .map(|t| {
            let configs = match configs.remove(&t.name) {
                Some(Ok(entries)) => Ok(entries),
                Some(Err(err)) => Err(err.to_string()),
                None if named.contains(t.name.as_str()) => {
                    Err("the broker did not describe the topic's configs".to_owned())
                }
                None => Ok(Vec::new()),
            };
            let replicas = t.partitions.iter().map(|p| p.replicas.clone()).collect();
            (t.name.clone(), LiveTopic { replicas, configs })
        })
        .collect();
    let acls = if documents().any(|d| !d.acls.is_empty()) {
        kafka_admin::acls::describe_acls(&cluster, AclFilter::default(), INSPECT_TIMEOUT)
            .await
            .map_err(unreachable)?
            .into_iter()
            .collect()
    } else {
        HashSet::new()
    };
    let feed_names: Vec<String> = documents()
        .flat_map(|d| d.changefeeds.iter().map(|f| f.name.clone()))
        .collect();
    let mut changefeeds = BTreeMap::new();
    if !feed_names.is_empty() {
        let rows = changefeed::Entity::find()
            .filter(changefeed::Column::Name.is_in(feed_names))
            .all(&store.db)
            .await?;
        for row in rows {
            let rules = row
                .rules()
                .map_err(|e| ServiceError::invalid(e.to_string()))?;
            changefeeds.insert(
                row.name.clone(),
                LiveChangefeed {
                    id: row.id,
                    upstream: row.cluster_id,
                    downstream_type: row.downstream_type,
                    rules,
                },
            );
        }
    }
    Ok(Live {
        brokers: described.brokers.iter().map(|b| b.id).collect(),
        topics,
        acls,
        changefeeds,
    })
}
