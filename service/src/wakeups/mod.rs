//! Wake-ups across processes: "jobs were queued" for idle workers, and "these
//! tasks finished" for API calls waiting on a task (TiEM, Confluent, a
//! changefeed's topic). Without them a worker in another process finds a new
//! task only at its next poll (100 ms by default) and a waiting call sees its
//! task finish only at its next read (up to 200 ms later).
//!
//! On PostgreSQL both travel as `NOTIFY` on two channels, [`QUEUED_CHANNEL`]
//! (no payload) and [`FINISHED_CHANNEL`] (task ids, comma-separated). They are
//! never sent from the transaction that queues or finishes a task: PostgreSQL
//! commits every notifying transaction under one global lock, which made
//! submissions 4x slower when apalis's trigger notified from inside them.
//! Instead each process has one announcer that sends, after the commits, one
//! statement for whatever was announced since its last one; only announcers
//! (one per process) ever wait on that lock. Each process also has one
//! listener connection that turns the channels back into the process-local
//! signals: [`queued::jobs_queued`] for its workers' claim loops, and a
//! wake-up of whoever waits on one of the finished tasks here.
//!
//! Most finished tasks have nobody waiting on them, so a success travels to
//! the other processes only when its row says a caller waits: `tasks::wait`
//! marks the row `awaited` before it waits, and the statement that records
//! successes returns the marked ids. A failure or a cancellation is always
//! announced (a running attempt watches for its cancellation). Successes
//! nobody marked wake this process's own waiters only.
//!
//! A notification is a hint, never the record: a lost one (the listener
//! reconnecting, the store restarting) costs only the time until the next
//! poll or read, and after a reconnect every waiter looks again at once.
//! On SQLite there is one process that both queues and runs (`ferry-api
//! --with-worker`), so the process-local signals are all there is.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, Weak},
    time::Duration,
};

use sqlx::{PgPool, postgres::PgListener};
use tokio::sync::{Notify, mpsc};

pub mod queued;

/// The channel idle workers listen on.
pub const QUEUED_CHANNEL: &str = "ferry_tasks_queued";
/// The channel waiting API calls listen on; the payload is task ids.
pub const FINISHED_CHANNEL: &str = "ferry_tasks_finished";

/// Task ids per notification: 36-byte UUIDs and a comma stay well under
/// PostgreSQL's 8,000-byte payload limit.
const IDS_PER_NOTIFICATION: usize = 200;
/// Announcements gathered into one statement, at most.
const MAX_GATHER: usize = 1024;
/// Longest pause between tries to reach the store again after the listener
/// lost it.
const MAX_LISTEN_BACKOFF: Duration = Duration::from_secs(5);

enum Announcement {
    Queued,
    Finished(Vec<String>),
}

/// This process's end of the wake-ups. Cheap to clone; every clone of a
/// store shares one.
#[derive(Clone, Debug)]
pub struct Wakeups {
    waiters: Arc<Waiters>,
    /// `None` on SQLite, where nothing crosses processes.
    announcer: Option<mpsc::UnboundedSender<Announcement>>,
}

/// Who in this process waits on which task.
#[derive(Debug, Default)]
struct Waiters {
    by_task: Mutex<HashMap<String, Arc<Notify>>>,
}

impl Wakeups {
    /// Process-local wake-ups only.
    pub fn local() -> Wakeups {
        Wakeups {
            waiters: Arc::default(),
            announcer: None,
        }
    }

    /// Wake-ups that also reach the other processes on `pool`'s database:
    /// starts this process's announcer and listener. Both end when every
    /// clone of the returned value is dropped.
    pub fn postgres(pool: PgPool) -> Wakeups {
        let (tx, rx) = mpsc::unbounded_channel();
        let waiters: Arc<Waiters> = Arc::default();
        tokio::spawn(announce(pool.clone(), rx));
        tokio::spawn(listen(pool, Arc::downgrade(&waiters)));
        Wakeups {
            waiters,
            announcer: Some(tx),
        }
    }

    /// Jobs were committed to the queue: wakes this process's workers now
    /// and every other process's at the announcer's next statement.
    pub fn jobs_queued(&self) {
        queued::jobs_queued();
        if let Some(tx) = &self.announcer {
            let _ = tx.send(Announcement::Queued);
        }
    }

    /// Tasks reached a final status (committed): wakes whoever waits on them,
    /// here and in the other processes.
    pub fn tasks_finished(&self, ids: Vec<String>) {
        self.finished_here(&ids);
        self.announce_finished(ids);
    }

    /// Tasks reached a final status (committed): wakes whoever waits on them
    /// in this process only. On its own, for tasks no other process can be
    /// waiting on: successes whose rows were not marked awaited
    /// (`tasks::wait`).
    pub fn finished_here(&self, ids: &[String]) {
        self.waiters.wake(ids.iter().map(String::as_str));
    }

    /// Tells the other processes that tasks reached a final status, without
    /// waking this process's waiters again (the caller has, with
    /// [`Wakeups::finished_here`]).
    pub fn announce_finished(&self, ids: Vec<String>) {
        if ids.is_empty() {
            return;
        }
        if let Some(tx) = &self.announcer {
            let _ = tx.send(Announcement::Finished(ids));
        }
    }

    /// Whether finished tasks are announced to other processes (PostgreSQL),
    /// so that a waiter must mark the task it waits on (`tasks::wait`).
    pub fn cross_processes(&self) -> bool {
        self.announcer.is_some()
    }

    /// Starts watching a task: the returned watch's [`Notify`] is woken when
    /// the task is announced finished. Enable a `notified()` future before
    /// reading the task, so that an announcement between the read and the
    /// wait is not missed.
    pub fn watch(&self, task_id: &str) -> FinishWatch {
        let notify = self
            .waiters
            .by_task
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(task_id.to_owned())
            .or_default()
            .clone();
        FinishWatch {
            waiters: self.waiters.clone(),
            task_id: task_id.to_owned(),
            notify,
        }
    }
}

impl Waiters {
    fn wake<'a>(&self, ids: impl IntoIterator<Item = &'a str>) {
        let by_task = self.by_task.lock().unwrap_or_else(|e| e.into_inner());
        for id in ids {
            if let Some(notify) = by_task.get(id) {
                notify.notify_waiters();
            }
        }
    }

    fn wake_all(&self) {
        let by_task = self.by_task.lock().unwrap_or_else(|e| e.into_inner());
        for notify in by_task.values() {
            notify.notify_waiters();
        }
    }
}

/// A waiter's registration on one task; dropping it ends the watch.
#[derive(Debug)]
pub struct FinishWatch {
    waiters: Arc<Waiters>,
    task_id: String,
    notify: Arc<Notify>,
}

impl FinishWatch {
    pub fn notify(&self) -> &Notify {
        &self.notify
    }
}

impl Drop for FinishWatch {
    fn drop(&mut self) {
        let mut by_task = self
            .waiters
            .by_task
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        // The map holds one reference and this watch another; any more are
        // other waiters on the same task, which keep the entry.
        if Arc::strong_count(&self.notify) <= 2 {
            by_task.remove(&self.task_id);
        }
    }
}

/// The announcer: one statement per gathering of announcements, sent after
/// the previous one returned.
async fn announce(pool: PgPool, mut rx: mpsc::UnboundedReceiver<Announcement>) {
    let mut gathered = Vec::with_capacity(MAX_GATHER);
    let mut failing = false;
    while rx.recv_many(&mut gathered, MAX_GATHER).await > 0 {
        let mut queued = false;
        let mut finished = Vec::new();
        for announcement in gathered.drain(..) {
            match announcement {
                Announcement::Queued => queued = true,
                Announcement::Finished(ids) => finished.extend(ids),
            }
        }
        let mut channels = Vec::new();
        let mut payloads = Vec::new();
        if queued {
            channels.push(QUEUED_CHANNEL);
            payloads.push(String::new());
        }
        for ids in finished.chunks(IDS_PER_NOTIFICATION) {
            channels.push(FINISHED_CHANNEL);
            payloads.push(ids.join(","));
        }
        let sent = sqlx::query(
            "SELECT pg_notify(channel, payload) FROM unnest($1::text[], $2::text[]) \
             AS announced(channel, payload)",
        )
        .bind(&channels)
        .bind(&payloads)
        .execute(&pool)
        .await;
        // While the store is away every statement fails; one line says so,
        // and one more when announcing works again.
        match sent {
            Ok(_) if failing => {
                failing = false;
                tracing::info!("announcing queued and finished tasks works again");
            }
            Ok(_) => {}
            Err(err) if !failing => {
                failing = true;
                tracing::warn!(error = %err, "announcing queued and finished tasks failed; other processes find them at their next poll");
            }
            Err(_) => {}
        }
    }
}

/// The listener: turns the two channels into this process's signals, and
/// reconnects (with backoff) for as long as anyone holds the wake-ups.
async fn listen(pool: PgPool, waiters: Weak<Waiters>) {
    let mut backoff = Duration::from_millis(250);
    loop {
        let mut listener = match connect_listener(&pool).await {
            Ok(listener) => listener,
            Err(_) if pool.is_closed() => return,
            Err(err) => {
                tracing::debug!(error = %err, "cannot listen for queued and finished tasks yet");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_LISTEN_BACKOFF);
                if waiters.strong_count() == 0 {
                    return;
                }
                continue;
            }
        };
        backoff = Duration::from_millis(250);
        // Whatever was announced while nobody listened is found by looking
        // again now.
        if !look_again(&waiters) {
            return;
        }
        loop {
            match listener.try_recv().await {
                Ok(Some(notification)) => {
                    let Some(alive) = waiters.upgrade() else {
                        return;
                    };
                    if notification.channel() == QUEUED_CHANNEL {
                        queued::jobs_queued();
                    } else {
                        alive.wake(notification.payload().split(','));
                    }
                }
                // The connection was lost; the next call reconnects, and
                // what was sent meanwhile is found by looking again.
                Ok(None) => {
                    if !look_again(&waiters) {
                        return;
                    }
                }
                Err(err) => {
                    tracing::debug!(error = %err, "listening for queued and finished tasks failed; reconnecting");
                    break;
                }
            }
        }
    }
}

/// Wakes this process's workers and every waiter, so that each looks at
/// the store again; false when nobody holds the wake-ups any more.
fn look_again(waiters: &Weak<Waiters>) -> bool {
    let Some(alive) = waiters.upgrade() else {
        return false;
    };
    queued::jobs_queued();
    alive.wake_all();
    true
}

async fn connect_listener(pool: &PgPool) -> Result<PgListener, sqlx::Error> {
    // The listener holds one of the pool's connections, and the pool
    // closing (process shutdown) ends its wait with an error.
    let mut listener = PgListener::connect_with(pool).await?;
    listener
        .listen_all([QUEUED_CHANNEL, FINISHED_CHANNEL])
        .await?;
    Ok(listener)
}
