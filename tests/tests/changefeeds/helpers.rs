//! Shared steps of the changefeed tests: an upstream scratch MariaDB with its
//! binlog on, the system MariaDB as the downstream, and ferry between them.

use std::time::Duration;

use ferry_tests::{
    AppOptions, Backend, TestApp, eventually,
    mariadb::{MariaDb, MysqlServer, system_server},
};
use serde_json::{Value, json};

pub const SYNC_TIMEOUT: Duration = Duration::from_secs(90);
/// How long the two sides may differ after [`Rig::sync`] has seen its marker.
const EQUAL_TIMEOUT: Duration = Duration::from_secs(30);

/// An upstream, a downstream and ferry, with the upstream registered.
pub struct Rig {
    pub app: TestApp,
    pub upstream: MariaDb,
    pub downstream: MysqlServer,
    pub cluster_id: String,
    /// The database every test writes in, dropped from the downstream at the end.
    pub db: String,
}

impl Drop for Rig {
    fn drop(&mut self) {
        let url = self.downstream.url();
        let sql = format!("DROP DATABASE IF EXISTS `{}`", self.db);
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(rt) = rt {
                rt.block_on(async {
                    use sqlx::Connection;
                    if let Ok(mut conn) = sqlx::MySqlConnection::connect(&url).await {
                        let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                            .execute(&mut conn)
                            .await;
                    }
                });
            }
        })
        .join();
    }
}

impl Rig {
    pub async fn start(options: AppOptions) -> Rig {
        Self::start_on(options, MariaDb::start().await, json!({})).await
    }

    /// As [`Rig::start`] with this upstream, registered with `extra`
    /// cluster fields (`tls`, say).
    pub async fn start_on(options: AppOptions, upstream: MariaDb, extra: Value) -> Rig {
        let app = TestApp::spawn_with(options).await;
        let mut registration = json!({ "name": "upstream", "kind": "mysql", "host": "127.0.0.1", "port": upstream.port(), "user": "root" });
        if let (Value::Object(r), Value::Object(e)) = (&mut registration, extra) {
            r.extend(e);
        }
        let cluster = app
            .post("/api/v1/clusters", &registration)
            .await
            .expect(201);
        let db = format!("cf_{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
        Rig {
            app,
            upstream,
            downstream: system_server(),
            cluster_id: cluster["id"].as_str().unwrap().to_owned(),
            db,
        }
    }

    pub async fn with_worker() -> Rig {
        Self::start(AppOptions::new(Backend::Sqlite)).await
    }

    pub fn downstream_object(&self) -> Value {
        json!({ "ip": self.downstream.host, "port": self.downstream.port, "username": self.downstream.user, "password": "" })
    }

    /// Creates a changefeed of everything in the test database; returns its id.
    pub async fn create(&self, extra: Value) -> String {
        let mut body = json!({
            "clusterId": self.cluster_id,
            "name": "test-feed",
            "downstreamType": "mysql",
            "downstream": self.downstream_object(),
            "rules": [format!("{}.*", self.db)],
        });
        if let (Value::Object(b), Value::Object(e)) = (&mut body, extra) {
            b.extend(e);
        }
        let reply = self
            .app
            .post("/api/v1/changefeeds/", &body)
            .await
            .expect(200);
        assert_eq!(reply["code"], 0, "{reply}");
        reply["data"]["id"].as_str().expect("id").to_owned()
    }

    pub async fn detail(&self, id: &str) -> Value {
        self.app.changefeed(id).await
    }

    pub async fn wait_status(&self, id: &str, status: &str) -> Value {
        self.app.wait_changefeed(id, status, SYNC_TIMEOUT).await
    }

    /// Runs DDL on both sides: the schema a changefeed starts with must exist
    /// downstream already, since replication carries changes, not snapshots.
    pub async fn both_exec(&self, sql: &str) {
        self.upstream.server().exec(sql).await;
        self.downstream.exec(sql).await;
    }

    pub async fn up(&self, sql: &str) {
        self.upstream.server().exec(sql).await;
    }

    /// Writes a marker row upstream and waits for it downstream: everything
    /// written before the marker has then been replicated.
    pub async fn sync(&self) {
        let marker = uuid::Uuid::new_v4().simple().to_string();
        self.up(&format!(
            "CREATE TABLE IF NOT EXISTS `{}`.`_marker` (id VARCHAR(40) PRIMARY KEY)",
            self.db
        ))
        .await;
        self.up(&format!(
            "INSERT INTO `{}`.`_marker` VALUES ('{marker}')",
            self.db
        ))
        .await;
        let sql = format!(
            "SELECT COUNT(*) FROM `{}`.`_marker` WHERE id = '{marker}'",
            self.db
        );
        eventually("the marker row downstream", SYNC_TIMEOUT, || async {
            let seen = self.downstream_try_query_one(&sql).await;
            if seen.as_deref() == Some("1") {
                Ok(())
            } else {
                Err(seen)
            }
        })
        .await;
    }

    async fn downstream_try_query_one(&self, sql: &str) -> Option<String> {
        use sqlx::{Connection, Row};
        let mut conn = sqlx::MySqlConnection::connect(&self.downstream.url())
            .await
            .ok()?;
        let row = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_optional(&mut conn)
            .await
            .ok()??;
        row.try_get::<i64, _>(0).ok().map(|v| v.to_string())
    }

    /// Both sides' rows of a table, ordered by `order_by`.
    pub async fn both(
        &self,
        table: &str,
        order_by: &str,
    ) -> (Vec<Vec<Option<String>>>, Vec<Vec<Option<String>>>) {
        (
            self.upstream
                .server()
                .table_rows(&self.db, table, order_by)
                .await,
            self.downstream.table_rows(&self.db, table, order_by).await,
        )
    }

    /// Waits until the table is the same on both sides. The marker of
    /// [`Rig::sync`] is not a barrier: a round is split among parallel
    /// appliers, so the marker's part can commit before another part of the
    /// same round. The checkpoint is the barrier, and it follows shortly.
    pub async fn assert_equal(&self, table: &str, order_by: &str) {
        eventually(
            &format!("table {table} to be the same upstream and downstream"),
            EQUAL_TIMEOUT,
            || async {
                let (up, down) = self.both(table, order_by).await;
                if up == down { Ok(()) } else { Err((up, down)) }
            },
        )
        .await;
    }

    pub async fn operate(&self, id: &str, op: &str) -> Value {
        self.app
            .send(
                reqwest::Method::POST,
                &format!("/api/v1/changefeeds/{id}/{op}"),
                Some(&self.app.admin_token),
                None,
            )
            .await
            .expect(200)
    }
}
