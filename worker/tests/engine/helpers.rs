//! Running the replication engine in-process against scratch servers, and
//! comparing upstream and downstream tables.

use std::time::{Duration, Instant};

use ferry_tests::mariadb::{MariaDb, MariaDbOptions, MysqlServer};
use ferry_worker::replication::{
    engine::{
        self, Checkpoint, Downstream, MysqlEndpoint, Progress, ReplicationError, ReplicationSpec,
        StartFrom,
    },
    precheck,
};
use tokio::{sync::mpsc, task::JoinHandle};
use tokio_util::sync::CancellationToken;

/// How long replication of a test's writes may take.
pub const CATCH_UP: Duration = Duration::from_secs(60);

/// Logs to the test's output (shown for failing tests), once per process.
pub fn init_tracing() {
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(|| {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_env("FERRY_TEST_LOG")
                    .unwrap_or_else(|_| "ferry_worker=info".into()),
            )
            .with_test_writer()
            .try_init();
    });
}

pub fn endpoint(server: &MysqlServer) -> MysqlEndpoint {
    MysqlEndpoint {
        host: server.host.clone(),
        port: server.port,
        user: server.user.clone(),
        password: None,
        tls: None,
    }
}

/// A scratch upstream with its binlog in ROW format.
pub async fn upstream() -> MariaDb {
    init_tracing();
    MariaDb::start_with(MariaDbOptions {
        server_id: 1,
        ..Default::default()
    })
    .await
}

pub fn spec(
    up: &MysqlServer,
    down: &MysqlServer,
    rules: &[String],
    workers: usize,
    max_rows: usize,
) -> ReplicationSpec {
    ReplicationSpec {
        changefeed_id: "test".into(),
        upstream: endpoint(up),
        downstream: Downstream::Mysql(endpoint(down)),
        rules: rules.to_vec(),
        worker_count: workers,
        max_txn_rows: max_rows,
        server_id: 100 + rand_id(),
    }
}

fn rand_id() -> u32 {
    (uuid::Uuid::new_v4().as_u128() % 10_000) as u32
}

/// The upstream's end of binlog.
pub async fn position(up: &MysqlServer) -> Checkpoint {
    precheck::current_position(&endpoint(up))
        .await
        .expect("current_position")
}

/// Whether checkpoint `cp` is at or past `target` in the binlog.
pub fn reached(cp: &Checkpoint, target: &Checkpoint) -> bool {
    let seq = |file: &str| -> u64 {
        file.rsplit('.')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    (seq(&cp.file), cp.position) >= (seq(&target.file), target.position)
}

/// A running engine.
pub struct Feed {
    stop: CancellationToken,
    handle: Option<JoinHandle<Result<(), ReplicationError>>>,
    rx: mpsc::Receiver<Progress>,
    /// The latest progress received.
    pub last: Option<Progress>,
    /// How many progress reports arrived.
    pub reports: usize,
}

impl Feed {
    pub fn start(spec: ReplicationSpec, start: StartFrom) -> Feed {
        // A lease that outlasts any test: most tests are not about fencing.
        let fence = engine::Fence::new(tokio::time::Instant::now(), Duration::from_secs(86_400));
        Feed::start_fenced(spec, start, fence)
    }

    /// An engine whose writes stop when `fence` passes.
    pub fn start_fenced(spec: ReplicationSpec, start: StartFrom, fence: engine::Fence) -> Feed {
        let (tx, rx) = mpsc::channel(16);
        let stop = CancellationToken::new();
        let handle = tokio::spawn(engine::run(spec, start, tx, stop.clone(), fence));
        Feed {
            stop,
            handle: Some(handle),
            rx,
            last: None,
            reports: 0,
        }
    }

    /// Waits until the reported checkpoint reaches `target`; panics if the
    /// engine fails or `CATCH_UP` passes first.
    pub async fn wait_for(&mut self, target: &Checkpoint) -> Progress {
        let deadline = Instant::now() + CATCH_UP;
        loop {
            if let Some(p) = &self.last
                && reached(&p.checkpoint, target)
            {
                return p.clone();
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(remaining, self.rx.recv()).await {
                Ok(Some(p)) => {
                    self.reports += 1;
                    self.last = Some(p);
                }
                Ok(None) => {
                    let result = self
                        .handle
                        .take()
                        .expect("running")
                        .await
                        .expect("engine task");
                    panic!("the engine ended before reaching {target:?}: {result:?}");
                }
                Err(_) => panic!(
                    "the engine did not reach {target:?} within {CATCH_UP:?}; last progress {:?}",
                    self.last
                ),
            }
        }
    }

    /// Waits for the first progress report, which the engine sends once it
    /// knows where it starts.
    pub async fn wait_started(&mut self) -> Progress {
        let p = tokio::time::timeout(CATCH_UP, self.rx.recv())
            .await
            .expect("the engine reports its start")
            .expect("the engine reports its start");
        self.reports += 1;
        self.last = Some(p.clone());
        p
    }

    /// Waits until at least `rows` rows were applied.
    pub async fn wait_rows(&mut self, rows: u64) -> Progress {
        let deadline = Instant::now() + CATCH_UP;
        loop {
            if let Some(p) = &self.last
                && p.rows_applied >= rows
            {
                return p.clone();
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            let p = tokio::time::timeout(remaining, self.rx.recv())
                .await
                .expect("rows are applied in time")
                .expect("the engine is running");
            self.reports += 1;
            self.last = Some(p);
        }
    }

    /// Kills the engine without letting it stop cleanly, as a crash would;
    /// returns the last progress it reported.
    pub async fn crash(mut self) -> Progress {
        let handle = self.handle.take().expect("running");
        handle.abort();
        let _ = handle.await;
        while let Ok(p) = self.rx.try_recv() {
            self.last = Some(p);
        }
        self.last.clone().expect("at least one progress report")
    }

    /// Stops the engine; returns its result and the final progress.
    pub async fn stop(mut self) -> (Result<(), ReplicationError>, Progress) {
        self.stop.cancel();
        let result = tokio::time::timeout(
            Duration::from_secs(30),
            self.handle.take().expect("running"),
        )
        .await
        .expect("the engine stops within 30s")
        .expect("engine task");
        while let Ok(p) = self.rx.try_recv() {
            self.reports += 1;
            self.last = Some(p);
        }
        (
            result,
            self.last.clone().expect("at least one progress report"),
        )
    }

    /// Waits for the engine to end by itself; returns its result and the
    /// last progress it reported.
    pub async fn ended(mut self) -> (Result<(), ReplicationError>, Option<Progress>) {
        let handle = self.handle.take().expect("running");
        let result = tokio::time::timeout(CATCH_UP, handle)
            .await
            .expect("the engine ends within the time limit")
            .expect("engine task");
        while let Ok(p) = self.rx.try_recv() {
            self.last = Some(p);
        }
        (result, self.last.clone())
    }

    /// Waits for the engine to fail by itself.
    pub async fn error(mut self) -> ReplicationError {
        let result = tokio::time::timeout(CATCH_UP, self.handle.take().expect("running"))
            .await
            .expect("the engine fails within the time limit")
            .expect("engine task");
        result.expect_err("the engine should have failed")
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Asserts that `db`.`table` holds the same rows, byte for byte, upstream
/// and downstream, and the same CHECKSUM TABLE.
pub async fn assert_same_table(
    up: &MysqlServer,
    down: &MysqlServer,
    db: &str,
    table: &str,
    order_by: &str,
) -> usize {
    let expected = up.table_rows(db, table, order_by).await;
    let actual = down.table_rows(db, table, order_by).await;
    assert_eq!(
        expected.len(),
        actual.len(),
        "row count of `{db}`.`{table}`"
    );
    for (i, (e, a)) in expected.iter().zip(&actual).enumerate() {
        assert_eq!(e, a, "row {i} of `{db}`.`{table}` differs (values are hex)");
    }
    assert_eq!(
        up.checksum(db, table).await,
        down.checksum(db, table).await,
        "CHECKSUM TABLE `{db}`.`{table}`"
    );
    expected.len()
}

/// Rules that replicate every table of `db`.
pub fn rules(db: &str) -> Vec<String> {
    vec![format!("{db}.*")]
}
