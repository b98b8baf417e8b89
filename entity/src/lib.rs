//! What ferry stores: sea-orm entities, the domain enums they use and the
//! payloads that tasks carry. This crate does no I/O.

pub mod acl;
pub mod api_token;
pub mod audit_log;
pub mod changefeed;
pub mod changeset;
pub mod cluster;
pub mod consumer_instance;
pub mod domain;
pub mod meta;
pub mod payload;
pub mod project;
pub mod project_grant;
pub mod stat_name;
pub mod stat_sample;
pub mod stat_sampler;
pub mod task;
pub mod task_queue;
pub mod task_worker;
pub mod topic_note;

pub use domain::{
    AuditOutcome, ChangefeedState, ClusterId, ClusterKind, Desired, DownstreamType, FailureKind,
    Role, TaskKind, TaskStatus,
};
