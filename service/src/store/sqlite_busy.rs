//! How a SQLite connection waits for a lock another connection holds.
//!
//! SQLite lets one connection write at a time. Its built-in busy timeout
//! (what `busy_timeout` sets) retries after sleeps of 1, 2, 5, 10, 15, 20,
//! 25, 25, 25, 50, 50 and then 100 ms, so a writer that finds the lock taken
//! a few times in a row sleeps through many short windows in which it was
//! free. With the API and a worker writing at once (`ferry-api
//! --with-worker` creating topics while accepting more) that left apalis's
//! fetch waiting 180 ms and a task claim 130 ms for locks held a few
//! milliseconds each; the topic benchmark's worker sat idle for 90 ms with
//! jobs queued. This handler retries every [`RETRY_EVERY`] instead, up to
//! the same overall limit.

use std::{
    ffi::{c_int, c_void},
    time::Duration,
};

use sqlx::sqlite::SqliteConnection;

/// The pause between two attempts to take a lock.
const RETRY_EVERY: Duration = Duration::from_micros(500);

/// How long a connection waits for a lock before giving up with
/// `database is locked`.
pub const LOCK_WAIT: Duration = Duration::from_secs(30);

const MAX_RETRIES: c_int = (LOCK_WAIT.as_micros() / RETRY_EVERY.as_micros()) as c_int;

/// SQLite calls this each time it finds a lock taken; `attempts` counts the
/// earlier calls for the same wait. Returning non-zero means "try again".
/// The sleep blocks only this connection's own thread: sqlx runs every
/// SQLite connection on a thread of its own.
extern "C" fn retry_soon(_: *mut c_void, attempts: c_int) -> c_int {
    if attempts >= MAX_RETRIES {
        return 0;
    }
    std::thread::sleep(RETRY_EVERY);
    1
}

/// Installs [`retry_soon`] on a new connection, replacing the busy timeout
/// sqlx set (SQLite keeps one handler per connection).
pub async fn install(conn: &mut SqliteConnection) -> Result<(), sqlx::Error> {
    let mut handle = conn.lock_handle().await?;
    let db = handle.as_raw_handle();
    // SAFETY: the locked handle guarantees that sqlx's worker thread makes no
    // call on this connection meanwhile, the pointer is the live connection
    // sqlx owns, and `retry_soon` is a plain function that never unwinds and
    // ignores its (null) argument.
    let rc = unsafe {
        libsqlite3_sys::sqlite3_busy_handler(db.as_ptr(), Some(retry_soon), std::ptr::null_mut())
    };
    if rc == libsqlite3_sys::SQLITE_OK {
        Ok(())
    } else {
        Err(sqlx::Error::Configuration(
            format!("cannot install the SQLite busy handler (code {rc})").into(),
        ))
    }
}
