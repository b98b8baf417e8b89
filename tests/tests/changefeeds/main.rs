//! Changefeeds through the TiEM dialect, replicating a real MariaDB binlog
//! into a real MariaDB downstream.

mod api;
mod changesets;
mod ddl_safety;
mod fence;
mod helpers;
mod replication;
mod tls;
