//! How many attempts each task kind gets and how long each may take: read
//! when a task is recorded (its attempt limit) and when the worker runs an
//! attempt (its timeout).

use std::time::Duration;

use ferry_entity::TaskKind;

/// How many attempts a kind gets and how long each may take.
#[derive(Debug, Clone, Copy)]
pub struct KindPolicy {
    pub max_attempts: i32,
    pub attempt_timeout: Duration,
}

pub fn of(kind: TaskKind) -> KindPolicy {
    match kind {
        TaskKind::Ping => KindPolicy {
            max_attempts: 5,
            attempt_timeout: Duration::from_secs(60),
        },
        // Brokers being restarted or a controller moving are common and
        // short; eight attempts with backoff span about two minutes.
        TaskKind::TopicCreate => KindPolicy {
            max_attempts: 8,
            attempt_timeout: Duration::from_secs(120),
        },
        // Deletion waits for the metadata to drop the topic; config changes
        // are one request. Both retry broker hiccups like topic creation.
        TaskKind::TopicDelete => KindPolicy {
            max_attempts: 8,
            attempt_timeout: Duration::from_secs(120),
        },
        // One request each (ACL changes are idempotent, so a retry after a
        // lost answer is safe).
        TaskKind::TopicConfigAlter
        | TaskKind::BrokerConfigAlter
        | TaskKind::TopicPartitions
        | TaskKind::AclCreate
        | TaskKind::AclDelete => KindPolicy {
            max_attempts: 8,
            attempt_timeout: Duration::from_secs(60),
        },
        // A move copies a partition's data, which takes as long as its size
        // over the throttle: an attempt watches it for up to six hours, and a
        // retry resumes watching (Kafka keeps the move going meanwhile).
        TaskKind::PartitionReassign | TaskKind::BrokerRemove => KindPolicy {
            max_attempts: 5,
            attempt_timeout: Duration::from_secs(6 * 3600),
        },
        // Prechecks answer with precise permanent errors; retries cover a
        // metadata store hiccup or an owner slow to stop the engine.
        TaskKind::ChangefeedCreate
        | TaskKind::ChangefeedPause
        | TaskKind::ChangefeedResume
        | TaskKind::ChangefeedUpdate
        | TaskKind::ChangefeedDelete => KindPolicy {
            max_attempts: 5,
            attempt_timeout: Duration::from_secs(180),
        },
        // An apply waits for its steps' tasks, a reassignment's among them:
        // as long as one of those. A retried attempt resumes from the steps
        // recorded on the changeset.
        TaskKind::ChangesetApply => KindPolicy {
            max_attempts: 5,
            attempt_timeout: Duration::from_secs(6 * 3600),
        },
        // One plan against the cluster, and a revert's tasks waited for.
        TaskKind::ChangesetDrift => KindPolicy {
            max_attempts: 3,
            attempt_timeout: Duration::from_secs(600),
        },
    }
}
