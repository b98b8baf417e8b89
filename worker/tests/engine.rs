//! The replication engine run directly (not through the API) from a scratch
//! MariaDB upstream with a ROW binlog into the system MariaDB (a fresh
//! database per test, dropped afterwards).
//!
//! - `replication`: rows of every type, DML and DDL, rules, throughput.
//! - `recovery`: stop and restart, replay, crash, retryable and fatal errors.
//! - `start`: startTS and the prechecks.
//! - `fence`: an engine whose lease is not renewed stops writing in time.
//!
//! Needs `mariadbd` and `mariadb-install-db` (scratch upstreams) and a
//! MariaDB/MySQL on 127.0.0.1:3306 with a passwordless root (the
//! downstream); see `ferry_tests::mariadb`.

#[path = "engine/fence.rs"]
mod fence;
#[path = "engine/helpers.rs"]
mod helpers;
#[path = "engine/recovery.rs"]
mod recovery;
#[path = "engine/replication.rs"]
mod replication;
#[path = "engine/start.rs"]
mod start;
