//! The black-box test harness for ferry.
//!
//! Tests start the real `ferry-api` and `ferry-worker` binaries as child
//! processes against a fresh metadata store (a SQLite file in a temporary
//! directory, or a new PostgreSQL database), and talk to them over HTTP only.
//! Nothing here links ferry's own crates: the tests see ferry exactly as its
//! users do.
//!
//! Everything a test starts is torn down when the owning value is dropped,
//! including when the test panics: processes are killed with SIGKILL and
//! PostgreSQL databases are dropped.
//!
//! Settings the harness reads from its own environment:
//! - `FERRY_TEST_BIN_DIR`: where `ferry-api` and `ferry-worker` are (default:
//!   the cargo profile directory that holds the running test binary).
//! - `FERRY_TEST_POSTGRES_URL`: a PostgreSQL database the harness may create
//!   and drop databases from (default `postgres://postgres@127.0.0.1:5432/test`).
//! - `FERRY_TEST_PYTHON`: the Python interpreter with the tests' clients
//!   (default: the virtualenv `scripts/test` builds in `target/test-python`).
//! - `FERRY_TEST_ECHO=1`: copy every child process's output to the test's
//!   stderr as it arrives, for debugging.
//!
//! The benchmarks (`bench/`) start ferry, its stores and brokers through this
//! harness too, with the knobs a measurement needs: release binaries
//! ([`binaries::profile_dir`]), ferry's own defaults instead of the tests'
//! short intervals ([`LaunchOptions::tuned_for_tests`]), log files, and a raw
//! sqlx pool on the store ([`TestDb::open_pool`]). Their fallible `try_*`
//! variants return what went wrong instead of panicking.

pub mod app;
pub mod binaries;
pub mod db;
pub mod kafka;
pub mod launcher;
pub mod mariadb;
pub mod poll;
pub mod postgres;
pub mod process;
pub mod python;
pub mod reply;
pub mod schema_registry;
pub mod tcp_proxy;
pub mod tls_proxy;

pub use app::{AppOptions, TestApp};
pub use db::{Backend, DbOptions, RawPool, TestDb};
pub use launcher::{LaunchOptions, Launcher};
pub use poll::eventually;
pub use process::FerryProcess;
pub use reply::Reply;

/// Generates one `#[tokio::test]` per metadata store for a test body written
/// as `async fn name(backend: Backend)`. The tests are named
/// `name::sqlite` and `name::postgres`, so `cargo test name::` runs both and
/// `cargo test ::postgres` runs every PostgreSQL variant.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[::tokio::test]
                async fn sqlite() {
                    super::$name($crate::Backend::Sqlite).await
                }

                #[::tokio::test]
                async fn postgres() {
                    super::$name($crate::Backend::Postgres).await
                }
            }
        )+
    };
}
