//! Scratch MariaDB servers and throw-away databases for replication tests.
//!
//! [`MariaDb::start`] runs a private `mariadbd` with its binlog in ROW format
//! (FULL row image and metadata) from a fresh data directory on a free port,
//! with `root` and an empty password; it is killed and its directory removed
//! when the value is dropped, and killed by the kernel if the test process
//! dies first. [`MysqlServer`] talks SQL to any server (a scratch one or the
//! system instance, see [`system_server`]), and [`TestDatabase`] is a
//! database that is dropped again with the value.
//!
//! Initialising a data directory takes seconds, so the first start
//! initialises a template once (under the system temporary directory, keyed
//! by the server's version) and every server starts from a copy of it.
//!
//! Settings read from the environment:
//! - `FERRY_TEST_MARIADBD`, `FERRY_TEST_MARIADB_INSTALL_DB`: the server and
//!   installer binaries (default `mariadbd` and `mariadb-install-db` on the
//!   `PATH`, then `/usr/sbin/mariadbd`).
//! - `FERRY_TEST_MYSQL_HOST`, `FERRY_TEST_MYSQL_PORT`: the system instance
//!   for [`system_server`] (default 127.0.0.1:3306, user root, no password).

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use sqlx::{AssertSqlSafe, Connection, MySqlConnection, Row};
use tempfile::TempDir;

use crate::process::FerryProcess;

/// How long a starting server may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// How a scratch server is configured.
#[derive(Debug, Clone)]
pub struct MariaDbOptions {
    /// The server's `server_id`; every server and binlog reader of one
    /// replication topology needs its own.
    pub server_id: u32,
    /// `binlog_format`: ROW unless a test wants to see STATEMENT refused.
    pub binlog_format: String,
    /// More `mariadbd` options, e.g. `--binlog-row-metadata=MINIMAL`.
    pub extra_args: Vec<String>,
}

impl Default for MariaDbOptions {
    fn default() -> Self {
        Self {
            server_id: 1,
            binlog_format: "ROW".into(),
            extra_args: Vec::new(),
        }
    }
}

/// A MySQL-protocol server reachable over TCP as a user with no password.
#[derive(Debug, Clone)]
pub struct MysqlServer {
    pub host: String,
    pub port: u16,
    pub user: String,
}

/// A running scratch `mariadbd`.
pub struct MariaDb {
    // Declared before `dir` so that the process is killed before its data
    // directory is removed.
    process: FerryProcess,
    server: MysqlServer,
    dir: TempDir,
    options: MariaDbOptions,
}

/// The system instance (`FERRY_TEST_MYSQL_HOST`/`_PORT`, default
/// 127.0.0.1:3306 as root), e.g. as a downstream.
pub fn system_server() -> MysqlServer {
    MysqlServer {
        host: std::env::var("FERRY_TEST_MYSQL_HOST").unwrap_or_else(|_| "127.0.0.1".into()),
        port: std::env::var("FERRY_TEST_MYSQL_PORT")
            .ok()
            .and_then(|p| p.parse().ok())
            .unwrap_or(3306),
        user: "root".into(),
    }
}

impl MariaDb {
    /// Starts a server with the default options.
    pub async fn start() -> MariaDb {
        Self::start_with(MariaDbOptions::default()).await
    }

    /// Starts a server and waits until it accepts connections.
    pub async fn start_with(options: MariaDbOptions) -> MariaDb {
        let template = template_dir();
        // A free port can be taken between probing and binding; try again.
        let mut last_output = String::new();
        for _ in 0..3 {
            let dir = tempfile::Builder::new()
                .prefix("ferry-mariadb-")
                .tempdir()
                .expect("cannot create a temporary directory");
            copy_dir(&template, dir.path());
            let port = free_port();
            let process = spawn_server(dir.path(), port, &options);
            let server = MysqlServer {
                host: "127.0.0.1".into(),
                port,
                user: "root".into(),
            };
            let mut db = MariaDb {
                process,
                server,
                dir,
                options: options.clone(),
            };
            match db.wait_ready().await {
                Ok(()) => return db,
                Err(output) => last_output = output,
            }
        }
        panic!("mariadbd did not start:\n{last_output}");
    }

    async fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(mut conn) = MySqlConnection::connect(&self.server.url()).await {
                // Another test's server may have bound the port first (both
                // probed it free); only a server on our data directory is
                // ours.
                let datadir: Option<String> = sqlx::query_scalar("SELECT @@datadir")
                    .fetch_one(&mut conn)
                    .await
                    .ok();
                let _ = conn.close().await;
                let dir = std::fs::canonicalize(self.dir.path())
                    .unwrap_or_else(|_| self.dir.path().to_owned());
                let ours = dir.to_string_lossy().trim_end_matches('/').to_owned();
                if datadir.as_deref().map(|d| d.trim_end_matches('/')) == Some(ours.as_str()) {
                    return Ok(());
                }
                self.process.kill();
                return Err(format!(
                    "port {} answered for another server ({datadir:?})\n{}",
                    self.server.port,
                    self.process.tail()
                ));
            }
            if self.process.exit_status().is_some() || Instant::now() > deadline {
                self.process.kill();
                return Err(self.process.tail());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn server(&self) -> &MysqlServer {
        &self.server
    }

    pub fn port(&self) -> u16 {
        self.server.port
    }

    pub fn server_id(&self) -> u32 {
        self.options.server_id
    }

    /// The data directory (binlogs are `binlog.NNNNNN` in it).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The server's output so far, for failure messages.
    pub fn output(&self) -> String {
        self.process.output()
    }
}

impl std::ops::Deref for MariaDb {
    type Target = MysqlServer;

    fn deref(&self) -> &MysqlServer {
        &self.server
    }
}

impl MysqlServer {
    /// `mysql://root@127.0.0.1:port`, optionally with a database.
    pub fn url(&self) -> String {
        format!("mysql://{}@{}:{}", self.user, self.host, self.port)
    }

    /// A new connection; its session uses UTC so that TIMESTAMPs compare.
    pub async fn connect(&self) -> MySqlConnection {
        let mut conn = MySqlConnection::connect(&self.url())
            .await
            .unwrap_or_else(|e| panic!("cannot connect to {}: {e}", self.url()));
        sqlx::raw_sql("SET time_zone = '+00:00'")
            .execute(&mut conn)
            .await
            .expect("set the session time zone");
        conn
    }

    /// Inserts `batches` INSERTs of `rows` rows `(id, 'v<i>')` into `table`
    /// in the background, pausing `pause` after each: a steady upstream load
    /// while a test stops or kills something.
    pub fn spawn_inserts(
        &self,
        table: &str,
        batches: usize,
        rows: usize,
        pause: Duration,
    ) -> tokio::task::JoinHandle<()> {
        let server = self.clone();
        let table = table.to_owned();
        tokio::spawn(async move {
            for batch in 0..batches {
                let values: Vec<String> = (0..rows)
                    .map(|i| format!("({}, 'v{}')", batch * rows + i, i))
                    .collect();
                server
                    .exec(&format!("INSERT INTO {table} VALUES {}", values.join(",")))
                    .await;
                tokio::time::sleep(pause).await;
            }
        })
    }

    /// Runs one or more statements (separated by `;`).
    pub async fn exec(&self, sql: &str) {
        let mut conn = self.connect().await;
        sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("`{sql}` failed on {}: {e}", self.url()));
        let _ = conn.close().await;
    }

    /// Like [`exec`](Self::exec) but returns the error instead of panicking.
    pub async fn try_exec(&self, sql: &str) -> Result<(), String> {
        let mut conn = self.connect().await;
        let result = sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
            .execute(&mut conn)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string());
        let _ = conn.close().await;
        result
    }

    /// Runs a query whose columns are all text (cast others, e.g. with
    /// `CAST(x AS CHAR)` or `HEX(x)`); NULL is `None`.
    pub async fn query(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        let mut conn = self.connect().await;
        let rows = sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
            .fetch_all(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("`{sql}` failed on {}: {e}", self.url()));
        let _ = conn.close().await;
        rows.iter()
            .map(|row| {
                (0..row.len())
                    .map(|i| {
                        row.try_get::<Option<String>, _>(i)
                            .unwrap_or_else(|e| panic!("`{sql}` column {i} is not text: {e}"))
                    })
                    .collect()
            })
            .collect()
    }

    /// The first column of the first row.
    pub async fn query_one(&self, sql: &str) -> Option<String> {
        self.query(sql)
            .await
            .into_iter()
            .next()
            .and_then(|row| row.into_iter().next())
            .flatten()
    }

    /// Every row of `db`.`table`, ordered by `order_by`, each value as the
    /// hex of its bytes (so that binary data, trailing spaces and float
    /// digits compare exactly); NULL is `None`.
    pub async fn table_rows(
        &self,
        db: &str,
        table: &str,
        order_by: &str,
    ) -> Vec<Vec<Option<String>>> {
        let columns = self
            .query(&format!(
                "SELECT COLUMN_NAME FROM information_schema.COLUMNS \
                 WHERE TABLE_SCHEMA = '{db}' AND TABLE_NAME = '{table}' ORDER BY ORDINAL_POSITION"
            ))
            .await;
        assert!(
            !columns.is_empty(),
            "`{db}`.`{table}` does not exist on {}",
            self.url()
        );
        let exprs: Vec<String> = columns
            .iter()
            .map(|c| {
                let name = c[0].as_deref().expect("column names are not NULL");
                format!("HEX(CAST(`{name}` AS BINARY))")
            })
            .collect();
        self.query(&format!(
            "SELECT {} FROM `{db}`.`{table}` ORDER BY {order_by}",
            exprs.join(", ")
        ))
        .await
    }

    /// `CHECKSUM TABLE` of `db`.`table` (`None` when the server has none).
    pub async fn checksum(&self, db: &str, table: &str) -> Option<u64> {
        let mut conn = self.connect().await;
        let row = sqlx::raw_sql(AssertSqlSafe(format!("CHECKSUM TABLE `{db}`.`{table}`")))
            .fetch_one(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("CHECKSUM TABLE `{db}`.`{table}` failed: {e}"));
        let _ = conn.close().await;
        row.try_get::<Option<u64>, _>(1)
            .or_else(|_| {
                row.try_get::<Option<i64>, _>(1)
                    .map(|v| v.map(|v| v as u64))
            })
            .expect("CHECKSUM TABLE returns a number")
    }

    /// The tables of `db`, sorted.
    pub async fn tables(&self, db: &str) -> Vec<String> {
        self.query(&format!(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{db}' \
             ORDER BY TABLE_NAME"
        ))
        .await
        .into_iter()
        .filter_map(|r| r.into_iter().next().flatten())
        .collect()
    }

    /// Creates a database named `<prefix>_<random>`, dropped with the value.
    pub async fn create_database(&self, prefix: &str) -> TestDatabase {
        let name = format!(
            "{prefix}_{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        self.exec(&format!("CREATE DATABASE `{name}`")).await;
        TestDatabase {
            server: self.clone(),
            name,
        }
    }
}

/// A database that is dropped when this value is.
pub struct TestDatabase {
    server: MysqlServer,
    name: String,
}

impl TestDatabase {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn server(&self) -> &MysqlServer {
        &self.server
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // As in `TestDb`: a thread with its own runtime, since Drop may run
        // inside the test's runtime. A server that is already gone (a
        // scratch one killed first) leaves nothing to clean.
        let url = self.server.url();
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a current-thread runtime");
            runtime.block_on(async {
                let connect =
                    tokio::time::timeout(Duration::from_secs(5), MySqlConnection::connect(&url));
                if let Ok(Ok(mut conn)) = connect.await {
                    if let Err(e) =
                        sqlx::raw_sql(AssertSqlSafe(format!("DROP DATABASE IF EXISTS `{name}`")))
                            .execute(&mut conn)
                            .await
                    {
                        eprintln!("ferry-tests: cannot drop database {name}: {e}");
                    }
                    let _ = conn.close().await;
                }
            });
        })
        .join();
    }
}

fn env_or(var: &str, default: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| default.to_owned())
}

fn mariadbd() -> String {
    std::env::var("FERRY_TEST_MARIADBD").unwrap_or_else(|_| {
        if Path::new("/usr/sbin/mariadbd").exists() {
            "/usr/sbin/mariadbd".into()
        } else {
            "mariadbd".into()
        }
    })
}

/// Running as root, mariadbd refuses to start without `--user=root`.
fn user_args() -> Vec<String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        vec!["--user=root".into()]
    } else {
        vec![]
    }
}

/// The initialised data directory every server copies, made once per
/// server version (by whichever test gets there first).
fn template_dir() -> PathBuf {
    static TEMPLATE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    TEMPLATE
        .get_or_init(|| {
            let version = Command::new(mariadbd())
                .arg("--version")
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_else(|e| panic!("cannot run {} --version: {e}", mariadbd()));
            let tag: String = version
                .split_whitespace()
                .find(|w| w.chars().next().is_some_and(|c| c.is_ascii_digit()))
                .unwrap_or("unknown")
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '.' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            let path = std::env::temp_dir().join(format!("ferry-tests-mariadb-template-{tag}"));
            if path.join("mysql").is_dir() {
                return path;
            }
            let staging = tempfile::Builder::new()
                .prefix("ferry-mariadb-template-")
                .tempdir()
                .expect("cannot create a temporary directory");
            let data = staging.path().join("data");
            let installer = env_or("FERRY_TEST_MARIADB_INSTALL_DB", "mariadb-install-db");
            let mut cmd = Command::new(&installer);
            cmd.arg("--no-defaults")
                .arg(format!("--datadir={}", data.display()))
                .arg("--auth-root-authentication-method=normal")
                .arg("--skip-test-db")
                .arg("--innodb-log-file-size=8M")
                .arg("--innodb-buffer-pool-size=16M")
                .args(user_args());
            let out = cmd
                .output()
                .unwrap_or_else(|e| panic!("cannot run {installer}: {e}"));
            assert!(
                out.status.success(),
                "{installer} failed:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            // Another test process may have finished first; either copy is
            // a complete template.
            if std::fs::rename(&data, &path).is_err() {
                assert!(
                    path.join("mysql").is_dir(),
                    "cannot create {}",
                    path.display()
                );
            }
            path
        })
        .clone()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create a directory");
    for entry in std::fs::read_dir(from).expect("read the template") {
        let entry = entry.expect("read the template");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target)
                .unwrap_or_else(|e| panic!("copy {}: {e}", entry.path().display()));
        }
    }
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("a local address").port()
}

fn spawn_server(dir: &Path, port: u16, options: &MariaDbOptions) -> FerryProcess {
    let d = dir.display();
    let mut args = vec![
        "--no-defaults".to_owned(),
        format!("--datadir={d}"),
        format!("--port={port}"),
        format!("--socket={d}/sock"),
        format!("--pid-file={d}/pid"),
        "--bind-address=127.0.0.1".into(),
        "--skip-name-resolve".into(),
        format!("--server-id={}", options.server_id),
        format!("--log-bin={d}/binlog"),
        format!("--binlog-format={}", options.binlog_format),
        "--binlog-row-image=FULL".into(),
        "--binlog-row-metadata=FULL".into(),
        // Small and fast: a test server holds little data and needs no
        // durability.
        "--innodb-buffer-pool-size=32M".into(),
        "--innodb-log-file-size=8M".into(),
        "--innodb-flush-log-at-trx-commit=2".into(),
        "--sync-binlog=0".into(),
        "--performance-schema=OFF".into(),
        "--max-connections=200".into(),
        // Like a packaged server (the built-in default is latin1).
        "--character-set-server=utf8mb4".into(),
        "--collation-server=utf8mb4_general_ci".into(),
    ];
    args.extend(user_args());
    args.extend(options.extra_args.iter().cloned());
    let arg_refs: Vec<&str> = args.iter().map(String::as_str).collect();
    FerryProcess::spawn(
        &format!("mariadbd:{port}"),
        Path::new(&mariadbd()),
        &arg_refs,
        &[],
        dir,
    )
}
