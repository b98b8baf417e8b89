//! Where a worker's attempts come from: ferry's queue (`tasks::queue`) as
//! the source of an apalis worker, through apalis-core's `CustomBackend`.
//!
//! apalis asks for the next job only when one of the worker's concurrency
//! slots is free. The claim loop then takes as many due batch keys as there
//! are free slots in one statement (`queue::claim`, which also starts the
//! attempts of their tasks), hands out each key's tasks as one job (one
//! task, or a request's batch), and keeps the rest of the page for
//! apalis's next asks. A job takes its slot when it is handed out and
//! holds it until its attempt has ended (`ClaimedJob::attempt_ended`); it
//! does not hold it while its outcome is written, so that the next page is
//! claimed while the last one's outcomes commit (apalis's own limit is
//! twice the slots, for jobs waiting for their outcome to be written).
//! Only a page claimed ahead (`Pages::ahead`) takes more jobs than the
//! worker has free slots.
//!
//! When the queue has nothing due, the loop waits for the first of: a
//! submission in this process (`ferry-api --with-worker` raises the
//! process's signal directly), one in another process (`wakeups` hears its
//! announcement and raises the same signal), or the poll interval, which is
//! what finds a retry whose backoff has passed. A submission that lands
//! while the loop claims is not missed: the signal's count has moved when
//! the claim comes back empty.
//!
//! A claim that fails means the store is away. The loop waits for it
//! (`recovery::wait_for_store`), then puts back into the queue every task
//! the store shows this worker running that it does not hold: a claim
//! whose commit was never answered started attempts nobody runs.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    sync::{Arc, Mutex},
    time::Duration,
};

use apalis::prelude::{BackendBuilder, BoxDynError, CustomBackend, Task};
use ferry_entity::task::Model;
use ferry_service::{
    store::Store,
    tasks::queue,
    wakeups::queued::{self, QueuedSignal},
};
use futures::{
    SinkExt, StreamExt,
    sink::{Drain, SinkMapErr},
    stream::BoxStream,
};
use sea_orm::DbErr;
use tokio::{
    sync::{OwnedSemaphorePermit, Semaphore},
    task::JoinHandle,
};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use super::recovery;

/// What one call of the handler runs: one task, or the claimed tasks of one
/// batch. Dropping it frees its slot and stops holding its tasks.
#[derive(Debug)]
pub(super) struct ClaimedJob {
    pub(super) tasks: Vec<Model>,
    slot: Slot,
}

impl ClaimedJob {
    /// The job's attempt has ended; what is left is writing its outcome,
    /// which needs no slot. Its tasks stay held until it is dropped.
    pub(super) fn attempt_ended(&mut self) {
        self.slot.permit = None;
    }
}

/// The tasks this worker runs: a slot per job (`concurrency` in all) and
/// the ids of the tasks it holds, which are what an outage's clean-up keeps.
#[derive(Debug)]
pub(super) struct InFlight {
    slots: Arc<Semaphore>,
    concurrency: usize,
    held: Mutex<HashSet<String>>,
    /// Claims running in the background (`Pages::ahead`), which a stopping
    /// worker waits for before it leaves the queue: a claim that commits
    /// after the worker has left would start attempts that nobody runs or
    /// releases.
    claims_ahead: TaskTracker,
}

impl InFlight {
    pub(super) fn new(concurrency: usize) -> Arc<InFlight> {
        Arc::new(InFlight {
            slots: Arc::new(Semaphore::new(concurrency.max(1))),
            concurrency: concurrency.max(1),
            held: Mutex::new(HashSet::new()),
            claims_ahead: TaskTracker::new(),
        })
    }

    /// Waits for any claim still running in the background; after this no
    /// claim of this worker's starts an attempt.
    pub(super) async fn claims_ended(&self) {
        self.claims_ahead.close();
        self.claims_ahead.wait().await;
    }

    /// Whether no job holds a slot: every attempt of the pages claimed so far
    /// has ended.
    fn idle(&self) -> bool {
        self.slots.available_permits() == self.concurrency
    }

    fn held(&self) -> Vec<String> {
        self.lock().iter().cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        // A panic while the set was held cannot leave it half-written
        // (inserts and removes are single calls), so a poisoned lock's data
        // is still right.
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A job's slot: while it lives, the job's tasks are held; its permit is
/// taken from when the job is handed out until its attempt ends.
#[derive(Debug)]
struct Slot {
    in_flight: Arc<InFlight>,
    ids: Vec<String>,
    permit: Option<OwnedSemaphorePermit>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut held = self.in_flight.lock();
        for id in &self.ids {
            held.remove(id);
        }
    }
}

/// ferry's queue as an apalis backend. It takes no pushes: tasks enter the
/// queue through `tasks::submit`, in the request's own transaction.
pub(super) type QueueBackend = CustomBackend<
    ClaimedJob,
    ClaimLoop,
    BoxStream<'static, Result<Option<Task<ClaimedJob>>, BoxDynError>>,
    SinkMapErr<Drain<Task<ClaimedJob>>, fn(std::convert::Infallible) -> BoxDynError>,
>;

/// Builds the backend for one apalis worker.
pub(super) fn backend(claims: ClaimLoop) -> QueueBackend {
    BackendBuilder::new()
        .database(claims)
        .fetcher(|claims: &mut ClaimLoop, _, _| claims.clone().into_stream())
        .sink(|_, _| {
            futures::sink::drain().sink_map_err(
                (|never| match never {}) as fn(std::convert::Infallible) -> BoxDynError,
            )
        })
        .build()
        .expect("the database, fetcher, sink and config are all given")
}

/// The state of a worker's claims.
#[derive(Clone)]
pub(super) struct ClaimLoop {
    store: Store,
    worker: String,
    in_flight: Arc<InFlight>,
    poll: Duration,
    signal: &'static QueuedSignal,
    stop: CancellationToken,
}

impl ClaimLoop {
    pub(super) fn new(
        store: Store,
        worker: String,
        in_flight: Arc<InFlight>,
        poll: Duration,
        stop: CancellationToken,
    ) -> ClaimLoop {
        ClaimLoop {
            store,
            worker,
            in_flight,
            poll,
            signal: queued::process_signal(),
            stop,
        }
    }

    fn into_stream(self) -> BoxStream<'static, Result<Option<Task<ClaimedJob>>, BoxDynError>> {
        futures::stream::unfold((self, Pages::default()), |(claims, mut pages)| async move {
            let job = claims.next(&mut pages).await;
            Some((Ok(Some(Task::new(job))), (claims, pages)))
        })
        .boxed()
    }

    /// The next job: from the last claim's page, or from a new claim once
    /// one is due.
    async fn next(&self, pages: &mut Pages) -> ClaimedJob {
        loop {
            if let Some(mut job) = pages.ready.pop_front() {
                job.slot.permit = Some(self.take_slot().await);
                return job;
            }
            let concurrency = self.in_flight.concurrency as u64;
            let (limit, seen, claimed, was_ahead) = match pages.ahead.take() {
                Some(ahead) => {
                    let claimed = ahead.claim.await.unwrap_or_else(|err| {
                        Err(DbErr::Custom(format!("the claim ahead stopped: {err}")))
                    });
                    (ahead.limit, ahead.seen, claimed, true)
                }
                None => {
                    // apalis asks with one of its own slots free (twice
                    // ours), so this waits until a job of the last page has
                    // ended its attempt.
                    let free = self.free_slots().await as u64;
                    let seen = self.signal.count();
                    let claimed = queue::claim(&self.store.queue_db, &self.worker, free).await;
                    (free, seen, claimed, false)
                }
            };
            match claimed {
                Ok(tasks) if tasks.is_empty() => self.wait(seen).await,
                Ok(tasks) => {
                    let jobs = jobs_of(tasks);
                    // A full page (a job per key claimed) while every
                    // attempt of the last one has already ended: the tasks
                    // are short and more are due, so the next page is
                    // claimed now, while this one runs, rather than after;
                    // after a full page claimed ahead, twice as large a
                    // one (see `Pages::ahead`).
                    if jobs.len() as u64 == limit && self.in_flight.idle() {
                        let ahead = if was_ahead {
                            (limit * 2).min(concurrency * MAX_AHEAD)
                        } else {
                            concurrency
                        };
                        pages.ahead = Some(self.claim_ahead(ahead));
                    }
                    for tasks in jobs {
                        pages.ready.push_back(self.hold(tasks));
                    }
                }
                Err(err) => {
                    tracing::warn!(worker = %self.worker, error = %err, "claiming tasks failed");
                    metrics::counter!("ferry_worker_claim_failures_total").increment(1);
                    self.recover().await;
                    // A claim that fails with the store answering (not an
                    // outage) is tried again at the poll's pace, not at once.
                    tokio::time::sleep(self.poll).await;
                }
            }
        }
    }

    /// Claims a page of `limit` batch keys in the background.
    fn claim_ahead(&self, limit: u64) -> Ahead {
        let seen = self.signal.count();
        let store = self.store.clone();
        let worker = self.worker.clone();
        let claim = self
            .in_flight
            .claims_ahead
            .spawn(async move { queue::claim(&store.queue_db, &worker, limit).await });
        Ahead { limit, seen, claim }
    }

    async fn free_slots(&self) -> usize {
        let one = self.take_slot().await;
        let free = 1 + self.in_flight.slots.available_permits();
        drop(one);
        free
    }

    /// A claimed job, its tasks held from now on; it takes a slot when it
    /// is handed out.
    fn hold(&self, tasks: Vec<Model>) -> ClaimedJob {
        let ids: Vec<String> = tasks.iter().map(|t| t.id.clone()).collect();
        self.in_flight.lock().extend(ids.iter().cloned());
        ClaimedJob {
            tasks,
            slot: Slot {
                in_flight: self.in_flight.clone(),
                ids,
                permit: None,
            },
        }
    }

    /// A free slot, once one is: a job handed out waits here for a running
    /// attempt to end, never for a whole page.
    async fn take_slot(&self) -> OwnedSemaphorePermit {
        self.in_flight
            .slots
            .clone()
            .acquire_owned()
            .await
            .expect("the slots are never closed")
    }

    /// Waits until tasks may have been queued since the signal read `seen`.
    async fn wait(&self, seen: u64) {
        let notified = self.signal.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if self.signal.count() != seen {
            return;
        }
        tokio::select! {
            () = notified => {}
            () = tokio::time::sleep(self.poll) => {}
        }
    }

    /// After a failed claim: waits for the store, then puts back what this
    /// worker shows as running but does not hold.
    async fn recover(&self) {
        if !recovery::wait_for_store(&self.store, &self.worker, &self.stop).await {
            // Shutting down: apalis stops asking for jobs.
            std::future::pending::<()>().await;
        }
        match queue::release_unheld(&self.store.db, &self.worker, &self.in_flight.held()).await {
            Ok(released) if !released.is_empty() => tracing::warn!(
                worker = %self.worker,
                "tasks whose claim went unanswered queued again: {}",
                released.len()
            ),
            Ok(_) => {}
            Err(err) => {
                tracing::warn!(worker = %self.worker, error = %err, "releasing unanswered claims failed")
            }
        }
        self.store.wakeups.jobs_queued();
    }
}

/// The largest page claimed ahead, in pages of the worker's concurrency.
const MAX_AHEAD: u64 = 8;

/// The claim loop's pages.
#[derive(Default)]
struct Pages {
    /// Jobs claimed and held, not yet handed to apalis; each takes a slot
    /// as it is handed out.
    ready: VecDeque<ClaimedJob>,
    /// A page being claimed ahead. A claim takes only as many
    /// tasks as there are free slots, so that no claimed task waits behind
    /// a long one while another worker is idle; but with short tasks that
    /// makes the worker wait for each page's claim after the last page has
    /// run (a claim of 64 was about 1 ms of a 2 ms cycle). So when a page
    /// comes back full with every slot free, the next page, of the worker's
    /// concurrency, is claimed at once, while this one runs. While pages
    /// claimed ahead keep coming back full with every slot free, each next
    /// one is twice as large, up to [`MAX_AHEAD`] times the concurrency:
    /// every claim and every outcome group is a commit, and a drain of
    /// short tasks spent a third of its database time waiting on the
    /// write-ahead log. The tasks of a page claimed ahead wait for slots
    /// only behind the page before, whose tasks were just seen to be
    /// short; at most one page is ever claimed ahead, and as soon as a page
    /// comes back short or with attempts still running, claims go back to
    /// free slots.
    ahead: Option<Ahead>,
}

/// A claim running in the background.
struct Ahead {
    /// The most batch keys it takes.
    limit: u64,
    /// The queued signal's count when the claim started: an empty page
    /// waits for a submission made since then.
    seen: u64,
    claim: JoinHandle<Result<Vec<Model>, DbErr>>,
}

/// The jobs of one claimed page, in its order: the tasks of each batch key.
fn jobs_of(tasks: Vec<Model>) -> Vec<Vec<Model>> {
    let mut jobs: Vec<Vec<Model>> = Vec::new();
    let mut batch_of: HashMap<String, usize> = HashMap::new();
    for task in tasks {
        let key = queue::job_key(&task).to_owned();
        match batch_of.get(&key) {
            Some(&at) => jobs[at].push(task),
            None => {
                batch_of.insert(key, jobs.len());
                jobs.push(vec![task]);
            }
        }
    }
    jobs
}

#[cfg(test)]
mod tests {
    use ferry_entity::TaskKind;
    use ferry_service::tasks::NewTask;

    use super::*;

    fn task(key: &str) -> Model {
        let mut model = NewTask {
            kind: TaskKind::Ping,
            cluster_id: None,
            subject: None,
            payload: serde_json::json!({}),
            max_attempts: None,
            created_by: "test".into(),
            request_id: None,
            project_id: None,
        }
        .into_model();
        model.job_key = Some(key.to_owned());
        model
    }

    /// A page's tasks become a job per batch key, in the order the keys
    /// first appear, each job's tasks in page order.
    #[test]
    fn a_page_is_a_job_per_batch_key() {
        let page = vec![task("a"), task("b"), task("a"), task("c"), task("b")];
        let ids: Vec<String> = page.iter().map(|t| t.id.clone()).collect();
        let jobs: Vec<Vec<String>> = jobs_of(page)
            .into_iter()
            .map(|job| job.into_iter().map(|t| t.id).collect())
            .collect();
        assert_eq!(
            jobs,
            vec![
                vec![ids[0].clone(), ids[2].clone()],
                vec![ids[1].clone(), ids[4].clone()],
                vec![ids[3].clone()],
            ]
        );
    }
}
