//! Replica placement for a topic confined to one rack (TubeMQ's `region`):
//! which brokers may hold its replicas, and an assignment over them.

use std::collections::{BTreeMap, BTreeSet};

/// The brokers of `rack`, by id; the error says why none qualify and which
/// racks the cluster has.
pub fn brokers_in_rack(
    racks: &BTreeMap<i32, Option<String>>,
    rack: &str,
) -> Result<Vec<i32>, String> {
    let brokers: Vec<i32> = racks
        .iter()
        .filter(|(_, r)| r.as_deref() == Some(rack))
        .map(|(id, _)| *id)
        .collect();
    if !brokers.is_empty() {
        return Ok(brokers);
    }
    let known: BTreeSet<&str> = racks.values().flatten().map(String::as_str).collect();
    Err(if known.is_empty() {
        format!("region `{rack}`: no broker is in that rack (the cluster's brokers report no rack)")
    } else {
        format!(
            "region `{rack}`: no broker is in that rack (the cluster's racks: {})",
            known.into_iter().collect::<Vec<_>>().join(", ")
        )
    })
}

/// Kafka's round robin over `brokers`: partition `p` gets brokers `p`,
/// `p + 1`, ... (modulo their count), so leaders (first replicas) spread
/// evenly and no partition has two replicas on one broker. `replication`
/// must not exceed the number of brokers.
pub fn assign(brokers: &[i32], partitions: usize, replication: usize) -> Vec<Vec<i32>> {
    (0..partitions)
        .map(|p| {
            (0..replication)
                .map(|r| brokers[(p + r) % brokers.len()])
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn racks(pairs: &[(i32, Option<&str>)]) -> BTreeMap<i32, Option<String>> {
        pairs
            .iter()
            .map(|(id, r)| (*id, r.map(str::to_owned)))
            .collect()
    }

    #[test]
    fn only_brokers_of_the_rack_qualify() {
        let cluster = racks(&[
            (1, Some("east")),
            (2, Some("west")),
            (3, Some("east")),
            (4, None),
        ]);
        assert_eq!(brokers_in_rack(&cluster, "east").unwrap(), vec![1, 3]);
        let err = brokers_in_rack(&cluster, "north").unwrap_err();
        assert!(
            err.contains("`north`") && err.contains("east, west"),
            "{err}"
        );
        let err = brokers_in_rack(&racks(&[(1, None)]), "east").unwrap_err();
        assert!(err.contains("report no rack"), "{err}");
    }

    #[test]
    fn assignment_spreads_leaders_and_never_repeats_a_broker() {
        let brokers = [1, 3, 5];
        let assignment = assign(&brokers, 6, 2);
        assert_eq!(assignment.len(), 6);
        for replicas in &assignment {
            assert_eq!(replicas.len(), 2);
            assert_ne!(replicas[0], replicas[1]);
            assert!(replicas.iter().all(|b| brokers.contains(b)));
        }
        let leaders: Vec<i32> = assignment.iter().map(|r| r[0]).collect();
        assert_eq!(leaders, vec![1, 3, 5, 1, 3, 5]);
    }
}
