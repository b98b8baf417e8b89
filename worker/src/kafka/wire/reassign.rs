//! AlterPartitionReassignments, which librdkafka does not offer: starts
//! replica moves, or cancels them (a partition given no replicas goes back
//! to the replicas it had before its move began). The controller answers
//! it; the caller sends it there.

use std::time::Duration;

use kafka_protocol::{
    error::ParseResponseErrorCode,
    messages::{
        AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse, ApiKey, BrokerId,
        TopicName,
        alter_partition_reassignments_request::{ReassignablePartition, ReassignableTopic},
    },
    protocol::StrBytes,
};

use super::{Connection, WireError, WireTarget};

/// AlterPartitionReassignments versions ferry speaks (v0 is flexible).
const VERSIONS: (i16, i16) = (0, 0);

/// One partition to move to `replicas`, or whose move to cancel (`None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move {
    pub topic: String,
    pub partition: i32,
    pub replicas: Option<Vec<i32>>,
}

/// How the controller took one partition's move.
#[derive(Debug)]
pub struct MoveOutcome {
    pub topic: String,
    pub partition: i32,
    pub result: Result<(), WireError>,
}

/// Sends the moves in one request; the outcome of each partition, or the
/// error of the whole request.
pub async fn alter(
    target: &WireTarget,
    moves: &[Move],
    timeout: Duration,
) -> Result<Vec<MoveOutcome>, WireError> {
    let call = async { send(Connection::open(target).await?, moves, timeout).await };
    tokio::time::timeout(timeout, call)
        .await
        .unwrap_or(Err(WireError::Timeout(timeout)))
}

/// [`alter`]'s conversation with whatever answers on `stream` (a made-up
/// broker in the tests).
#[cfg(test)]
pub(crate) async fn alter_over(
    stream: impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    moves: &[Move],
) -> Result<Vec<MoveOutcome>, WireError> {
    let conn = Connection::over("broker:9092", Box::new(stream), None).await?;
    send(conn, moves, Duration::from_secs(5)).await
}

fn request(moves: &[Move], timeout: Duration) -> AlterPartitionReassignmentsRequest {
    let mut topics: Vec<ReassignableTopic> = Vec::new();
    for m in moves {
        let partition = ReassignablePartition::default()
            .with_partition_index(m.partition)
            .with_replicas(
                m.replicas
                    .as_ref()
                    .map(|r| r.iter().copied().map(BrokerId).collect()),
            );
        match topics.iter_mut().find(|t| t.name.0.as_str() == m.topic) {
            Some(topic) => topic.partitions.push(partition),
            None => topics.push(
                ReassignableTopic::default()
                    .with_name(TopicName(StrBytes::from_string(m.topic.clone())))
                    .with_partitions(vec![partition]),
            ),
        }
    }
    AlterPartitionReassignmentsRequest::default()
        .with_timeout_ms(i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX))
        .with_topics(topics)
}

async fn send(
    mut conn: Connection,
    moves: &[Move],
    timeout: Duration,
) -> Result<Vec<MoveOutcome>, WireError> {
    let version = conn.negotiate(ApiKey::AlterPartitionReassignments, VERSIONS)?;
    let response: AlterPartitionReassignmentsResponse = conn
        .call(
            ApiKey::AlterPartitionReassignments,
            version,
            &request(moves, timeout),
        )
        .await?;
    if let Some(error) = response.error_code.err() {
        return Err(WireError::Broker {
            error,
            message: response.error_message.map(|m| m.to_string()),
        });
    }
    let mut outcomes = Vec::with_capacity(moves.len());
    for m in moves {
        let answered = response
            .responses
            .iter()
            .filter(|t| t.name.0.as_str() == m.topic)
            .flat_map(|t| t.partitions.iter())
            .find(|p| p.partition_index == m.partition);
        let result = match answered {
            None => Err(conn.protocol_error(&format!(
                "no answer for partition {} of topic {}",
                m.partition, m.topic
            ))),
            Some(p) => match p.error_code.err() {
                None => Ok(()),
                Some(error) => Err(WireError::Broker {
                    error,
                    message: p.error_message.as_ref().map(|m| m.to_string()),
                }),
            },
        };
        outcomes.push(MoveOutcome {
            topic: m.topic.clone(),
            partition: m.partition,
            result,
        });
    }
    Ok(outcomes)
}

#[cfg(test)]
mod tests {
    use bytes::BufMut;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    fn moves() -> Vec<Move> {
        vec![
            Move {
                topic: "orders".into(),
                partition: 0,
                replicas: Some(vec![2, 3]),
            },
            Move {
                topic: "orders".into(),
                partition: 1,
                replicas: None,
            },
        ]
    }

    #[test]
    fn moves_of_one_topic_travel_together_and_a_cancel_has_no_replicas() {
        let request = request(&moves(), Duration::from_secs(30));
        assert_eq!(request.timeout_ms, 30_000);
        assert_eq!(request.topics.len(), 1);
        let partitions = &request.topics[0].partitions;
        assert_eq!(partitions[0].replicas, Some(vec![BrokerId(2), BrokerId(3)]));
        assert_eq!(partitions[1].replicas, None);
    }

    /// A frame of `body` after a response header (flexible: with a tag
    /// buffer) for `correlation_id`.
    fn frame(correlation_id: i32, flexible: bool, body: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let header = 4 + usize::from(flexible);
        out.put_i32(i32::try_from(header + body.len()).expect("small"));
        out.put_i32(correlation_id);
        if flexible {
            out.put_u8(0);
        }
        out.extend_from_slice(body);
        out
    }

    /// A broker that offers AlterPartitionReassignments v0 and answers it
    /// with the topic's partitions: 0 accepted, 1 refused with
    /// NO_REASSIGNMENT_IN_PROGRESS (85).
    async fn broker(mut socket: tokio::io::DuplexStream, offer: bool) {
        let read_request = async |socket: &mut tokio::io::DuplexStream| {
            let len = socket.read_i32().await.expect("a request length");
            let mut body = vec![0; usize::try_from(len).expect("positive")];
            socket.read_exact(&mut body).await.expect("a request");
            i32::from_be_bytes(body[4..8].try_into().expect("a correlation id"))
        };
        // ApiVersions v0: error 0, one api (key 45, versions 0..0), or none.
        let id = read_request(&mut socket).await;
        let mut versions = Vec::new();
        versions.put_i16(0);
        if offer {
            versions.put_i32(1);
            versions.put_i16(45);
            versions.put_i16(0);
            versions.put_i16(0);
        } else {
            versions.put_i32(0);
        }
        socket
            .write_all(&frame(id, false, &versions))
            .await
            .expect("answer ApiVersions");
        if !offer {
            return;
        }
        let id = read_request(&mut socket).await;
        let mut body = Vec::new();
        body.put_i32(0); // throttle_time_ms
        body.put_i16(0); // error_code
        body.put_u8(0); // error_message: null (compact nullable string)
        body.put_u8(2); // responses: one topic
        body.put_u8(7); // name "orders" (compact string, length + 1)
        body.extend_from_slice(b"orders");
        body.put_u8(3); // partitions: two
        body.put_i32(0);
        body.put_i16(0);
        body.put_u8(0);
        body.put_u8(0); // tags
        body.put_i32(1);
        body.put_i16(85);
        body.put_u8(0);
        body.put_u8(0); // tags
        body.put_u8(0); // topic tags
        body.put_u8(0); // response tags
        socket
            .write_all(&frame(id, true, &body))
            .await
            .expect("answer AlterPartitionReassignments");
    }

    #[tokio::test]
    async fn each_partition_gets_the_controllers_answer() {
        let (ours, theirs) = tokio::io::duplex(64 * 1024);
        let answering = tokio::spawn(broker(theirs, true));
        let outcomes = alter_over(ours, &moves()).await.expect("an answer");
        answering.await.expect("the broker ran");
        assert_eq!(outcomes.len(), 2);
        assert!(outcomes[0].result.is_ok(), "{outcomes:?}");
        let refused = outcomes[1].result.as_ref().expect_err("refused");
        assert!(
            refused.to_string().contains("NoReassignmentInProgress"),
            "{refused}"
        );
    }

    #[tokio::test]
    async fn a_broker_without_the_request_is_named() {
        let (ours, theirs) = tokio::io::duplex(64 * 1024);
        let answering = tokio::spawn(broker(theirs, false));
        let err = alter_over(ours, &moves()).await.expect_err("unsupported");
        answering.await.expect("the broker ran");
        assert!(matches!(err, WireError::Unsupported { .. }), "{err}");
        assert!(!err.is_retryable(), "{err}");
    }
}
