//! Running changefeeds: replicate row changes from an upstream
//! MySQL-compatible database's binlog into MySQL/TiDB or a Kafka topic.
//! What a changefeed replicates (its spec, table filter and TSOs) is the
//! registry's, in `ferry-service`'s `changefeeds`.
//!
//! - `engine`: the contract between the supervisor and the replication engine.
//! - `pipeline`: the engine's run loop: source -> filter -> sink.
//! - `source`: the binlog reader (mysql_async, MariaDB specifics).
//! - `sink/`: one folder per downstream kind.
//! - `precheck`: what create and update verify before accepting.
//! - `supervisor`, `lease`: which worker runs which changefeed, and its
//!   persisted state and progress.
//! - `fence`: when an engine whose lease may have passed stops writing.

pub mod engine;
pub mod fence;
pub mod lease;
pub mod pipeline;
pub mod precheck;
pub mod sink;
pub mod source;
pub mod supervisor;
