//! Black-box tests of ferry's HTTP API and task queue.
//!
//! Every test starts real `ferry-api` / `ferry-worker` processes on a fresh
//! metadata store and talks to them over HTTP; most run once on SQLite and
//! once on PostgreSQL (`<test>::sqlite`, `<test>::postgres`). Build the
//! binaries first: `cargo build --workspace --bins` (`scripts/test` does).

mod helpers;

mod auth;
mod clusters;
mod drain;
mod errors;
mod hardening;
mod ops;
mod outage;
mod queue;
mod secrets;
mod submission;
mod tasks;
