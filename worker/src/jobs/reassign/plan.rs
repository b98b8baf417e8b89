//! What a reassignment moves: the checks of given moves, and the plan that
//! empties a broker.
//!
//! A removal plan replaces the broker in each of its partitions' replica
//! lists by the other broker that holds the fewest replicas (the lowest id
//! on a tie) and is not already in that list, at the same position, so
//! that a partition whose preferred leader was the removed broker gets the
//! replacement as its preferred leader. Every broker's count grows as the
//! plan goes, so the moved replicas spread out.

use std::collections::{BTreeMap, BTreeSet};

use ferry_entity::payload::ReplicaTarget;
use ferry_service::kafka::admin::ClusterDescription;

/// The most partitions one reassignment task moves: as many as one may
/// name when it is submitted.
pub use ferry_service::reassignments::MAX_TARGETS as MAX_MOVES;

/// A partition's replicas now, when the cluster has it.
pub fn current<'a>(
    described: &'a ClusterDescription,
    topic: &str,
    partition: i32,
) -> Option<&'a Vec<i32>> {
    described
        .topic(topic)?
        .partitions
        .iter()
        .find(|p| p.id == partition)
        .map(|p| &p.replicas)
}

/// Given moves must name partitions the cluster has, each once, and
/// replica lists of distinct brokers it has.
pub fn check(described: &ClusterDescription, targets: &[ReplicaTarget]) -> Result<(), String> {
    if targets.is_empty() || targets.len() > MAX_MOVES {
        return Err(format!(
            "a reassignment moves 1 to {MAX_MOVES} partitions, not {}",
            targets.len()
        ));
    }
    let mut seen = BTreeSet::new();
    for t in targets {
        if !seen.insert((&t.topic, t.partition)) {
            return Err(format!(
                "partition {} of topic {} is named twice",
                t.partition, t.topic
            ));
        }
        if current(described, &t.topic, t.partition).is_none() {
            return Err(format!(
                "the cluster has no partition {} of topic {}",
                t.partition, t.topic
            ));
        }
        let distinct: BTreeSet<i32> = t.replicas.iter().copied().collect();
        if t.replicas.is_empty() || distinct.len() != t.replicas.len() {
            return Err(format!(
                "partition {} of topic {}: the replicas must be distinct brokers, at least one",
                t.partition, t.topic
            ));
        }
        if let Some(missing) = t.replicas.iter().find(|b| described.broker(**b).is_none()) {
            return Err(format!(
                "partition {} of topic {}: the cluster has no broker {missing}",
                t.partition, t.topic
            ));
        }
    }
    Ok(())
}

/// The moves that take every replica off `broker` (module doc); none when
/// it holds none.
pub fn removal(described: &ClusterDescription, broker: i32) -> Result<Vec<ReplicaTarget>, String> {
    if described.broker(broker).is_none() {
        return Err(format!("the cluster has no broker {broker}"));
    }
    let mut load: BTreeMap<i32, usize> = described
        .brokers
        .iter()
        .filter(|b| b.id != broker)
        .map(|b| (b.id, 0))
        .collect();
    for topic in &described.topics {
        for p in &topic.partitions {
            for r in &p.replicas {
                if let Some(n) = load.get_mut(r) {
                    *n += 1;
                }
            }
        }
    }
    let mut moves = Vec::new();
    let mut topics: Vec<_> = described
        .topics
        .iter()
        .filter(|t| t.error.is_none())
        .collect();
    topics.sort_by(|a, b| a.name.cmp(&b.name));
    for topic in topics {
        for p in &topic.partitions {
            let Some(at) = p.replicas.iter().position(|r| *r == broker) else {
                continue;
            };
            let replacement = load
                .iter()
                .filter(|(id, _)| !p.replicas.contains(id))
                .min_by_key(|(id, n)| (**n, **id))
                .map(|(id, _)| *id)
                .ok_or_else(|| {
                    format!(
                        "partition {} of topic {} has {} replicas and the cluster has no other \
                         broker to take the one on broker {broker}",
                        p.id,
                        topic.name,
                        p.replicas.len()
                    )
                })?;
            *load.get_mut(&replacement).expect("a candidate") += 1;
            let mut replicas = p.replicas.clone();
            replicas[at] = replacement;
            moves.push(ReplicaTarget {
                topic: topic.name.clone(),
                partition: p.id,
                replicas,
            });
        }
    }
    Ok(moves)
}

#[cfg(test)]
mod tests {
    use ferry_service::kafka::admin::{BrokerInfo, PartitionInfo, TopicInfo};

    use super::*;

    fn cluster(brokers: &[i32], partitions: &[(&str, i32, &[i32])]) -> ClusterDescription {
        let mut topics: Vec<TopicInfo> = Vec::new();
        for (topic, id, replicas) in partitions {
            let partition = PartitionInfo {
                id: *id,
                leader: replicas.first().copied(),
                replicas: replicas.to_vec(),
                isr: replicas.to_vec(),
                error: None,
            };
            match topics.iter_mut().find(|t| t.name == *topic) {
                Some(t) => t.partitions.push(partition),
                None => topics.push(TopicInfo {
                    name: (*topic).to_owned(),
                    partitions: vec![partition],
                    error: None,
                }),
            }
        }
        ClusterDescription {
            brokers: brokers
                .iter()
                .map(|id| BrokerInfo {
                    id: *id,
                    host: "h".into(),
                    port: 9092,
                })
                .collect(),
            controller: Some(brokers[0]),
            topics,
        }
    }

    #[test]
    fn a_removed_broker_is_replaced_in_place_by_the_least_loaded() {
        let c = cluster(
            &[1, 2, 3, 4],
            &[
                ("a", 0, &[1, 2]),
                ("a", 1, &[2, 3]),
                ("b", 0, &[3, 1]),
                ("b", 1, &[1, 4]),
            ],
        );
        let moves = removal(&c, 1).expect("a plan");
        let got: Vec<(&str, i32, Vec<i32>)> = moves
            .iter()
            .map(|m| (m.topic.as_str(), m.partition, m.replicas.clone()))
            .collect();
        // Loads without broker 1: 2 -> 2, 3 -> 2, 4 -> 1.
        assert_eq!(
            got,
            [
                ("a", 0, vec![4, 2]),
                ("b", 0, vec![3, 2]),
                ("b", 1, vec![3, 4])
            ]
        );
        assert!(removal(&c, 9).is_err());
        assert!(removal(&cluster(&[1, 2], &[("a", 0, &[1, 2])]), 1).is_err());
        assert!(
            removal(&cluster(&[1, 2], &[("a", 0, &[2])]), 1)
                .expect("a plan")
                .is_empty()
        );
    }

    #[test]
    fn moves_name_partitions_and_brokers_the_cluster_has() {
        let c = cluster(&[1, 2], &[("a", 0, &[1])]);
        let target = |topic: &str, partition, replicas: Vec<i32>| ReplicaTarget {
            topic: topic.into(),
            partition,
            replicas,
        };
        assert!(check(&c, &[target("a", 0, vec![2])]).is_ok());
        assert!(check(&c, &[]).is_err());
        assert!(check(&c, &[target("a", 1, vec![2])]).is_err());
        assert!(check(&c, &[target("z", 0, vec![2])]).is_err());
        assert!(check(&c, &[target("a", 0, vec![2, 2])]).is_err());
        assert!(check(&c, &[target("a", 0, vec![])]).is_err());
        assert!(check(&c, &[target("a", 0, vec![3])]).is_err());
        assert!(check(&c, &[target("a", 0, vec![2]), target("a", 0, vec![1])]).is_err());
    }
}
