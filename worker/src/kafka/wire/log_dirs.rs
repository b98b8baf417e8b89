//! DescribeLogDirs, which librdkafka does not offer: each partition
//! replica's size on one broker, for the statistics sampler. The request
//! describes the broker it is sent to, so the sampler sends one to every
//! broker.

use std::time::Duration;

use kafka_protocol::{
    error::ParseResponseErrorCode,
    messages::{ApiKey, DescribeLogDirsRequest, DescribeLogDirsResponse},
};

use super::{Connection, WireError, WireTarget};

/// DescribeLogDirs versions ferry speaks (v2 is the first flexible one).
const LOG_DIRS_VERSIONS: (i16, i16) = (0, 4);

/// One partition's size on the broker that answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaSize {
    pub topic: String,
    pub partition: i32,
    pub bytes: i64,
}

/// The sizes of every partition replica on the broker at `address` (its
/// log dirs added up; a replica being moved between dirs counted once).
/// `WireError::Unsupported` when the broker does not answer the request.
pub async fn replica_sizes(
    target: &WireTarget,
    address: &str,
    timeout: Duration,
) -> Result<Vec<ReplicaSize>, WireError> {
    let target = WireTarget {
        bootstrap: vec![address.to_owned()],
        ..target.clone()
    };
    let call = async {
        let mut conn = Connection::open(&target).await?;
        let version = conn.negotiate(ApiKey::DescribeLogDirs, LOG_DIRS_VERSIONS)?;
        // No topics named: every topic and partition the broker holds.
        let request = DescribeLogDirsRequest::default().with_topics(None);
        let response: DescribeLogDirsResponse = conn
            .call(ApiKey::DescribeLogDirs, version, &request)
            .await?;
        if let Some(error) = response.error_code.err() {
            return Err(WireError::Broker {
                error,
                message: None,
            });
        }
        let mut sizes = Vec::new();
        for dir in response.results {
            if dir.error_code.err().is_some() {
                continue;
            }
            for topic in dir.topics {
                for p in topic.partitions.into_iter().filter(|p| !p.is_future_key) {
                    sizes.push(ReplicaSize {
                        topic: topic.name.to_string(),
                        partition: p.partition_index,
                        bytes: p.partition_size,
                    });
                }
            }
        }
        Ok(sizes)
    };
    tokio::time::timeout(timeout, call)
        .await
        .unwrap_or(Err(WireError::Timeout(timeout)))
}
