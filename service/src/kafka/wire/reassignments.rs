//! ListPartitionReassignments, which librdkafka does not offer: the replica
//! moves in progress, for Confluent's `.../reassignment` reads. The request
//! is the controller's to answer; the caller sends it there when it knows
//! the controller (a broker that is not answers `NOT_CONTROLLER`, which is
//! retriable).

use std::time::Duration;

use kafka_protocol::{
    error::ParseResponseErrorCode,
    messages::{
        ApiKey, ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse, TopicName,
        list_partition_reassignments_request::ListPartitionReassignmentsTopics,
    },
    protocol::StrBytes,
};

use super::{Connection, WireError, WireTarget};

/// ListPartitionReassignments versions ferry speaks (v0 is flexible).
const VERSIONS: (i16, i16) = (0, 0);

/// One partition's replica move in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reassignment {
    pub topic: String,
    pub partition: i32,
    /// The replica set while the move lasts: the target set and the
    /// replicas being removed.
    pub replicas: Vec<i32>,
    pub adding: Vec<i32>,
    pub removing: Vec<i32>,
}

/// The reassignments in progress: of every partition (`topics` `None`), or
/// of the given topics' given partitions; sorted by topic and partition.
pub async fn list(
    target: &WireTarget,
    topics: Option<Vec<(String, Vec<i32>)>>,
    timeout: Duration,
) -> Result<Vec<Reassignment>, WireError> {
    let call = async {
        let mut conn = Connection::open(target).await?;
        let version = conn.negotiate(ApiKey::ListPartitionReassignments, VERSIONS)?;
        let request = ListPartitionReassignmentsRequest::default()
            .with_timeout_ms(i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX))
            .with_topics(topics.map(|topics| {
                topics
                    .into_iter()
                    .map(|(name, partitions)| {
                        ListPartitionReassignmentsTopics::default()
                            .with_name(TopicName(StrBytes::from_string(name)))
                            .with_partition_indexes(partitions)
                    })
                    .collect()
            }));
        let response: ListPartitionReassignmentsResponse = conn
            .call(ApiKey::ListPartitionReassignments, version, &request)
            .await?;
        if let Some(error) = response.error_code.err() {
            return Err(WireError::Broker {
                error,
                message: response.error_message.map(|m| m.to_string()),
            });
        }
        // A move in progress adds or removes a replica. A partition listed
        // with neither is not moving: tansu 0.6 lists every partition so.
        let mut found: Vec<Reassignment> = response
            .topics
            .into_iter()
            .flat_map(|t| {
                let topic = t.name.to_string();
                t.partitions.into_iter().map(move |p| Reassignment {
                    topic: topic.clone(),
                    partition: p.partition_index,
                    replicas: p.replicas.into_iter().map(|b| b.0).collect(),
                    adding: p.adding_replicas.into_iter().map(|b| b.0).collect(),
                    removing: p.removing_replicas.into_iter().map(|b| b.0).collect(),
                })
            })
            .filter(is_moving)
            .collect();
        found.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
        Ok(found)
    };
    tokio::time::timeout(timeout, call)
        .await
        .unwrap_or(Err(WireError::Timeout(timeout)))
}

/// Whether a listed partition is really moving: a move in progress adds or
/// removes a replica.
fn is_moving(r: &Reassignment) -> bool {
    !(r.adding.is_empty() && r.removing.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_partitions_that_add_or_remove_a_replica_are_moving() {
        let at_rest = Reassignment {
            topic: "t".into(),
            partition: 0,
            replicas: vec![1],
            adding: vec![],
            removing: vec![],
        };
        assert!(!is_moving(&at_rest));
        assert!(is_moving(&Reassignment {
            adding: vec![2],
            ..at_rest.clone()
        }));
        assert!(is_moving(&Reassignment {
            removing: vec![1],
            ..at_rest
        }));
    }
}
