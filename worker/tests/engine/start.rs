//! Where replication starts (startTS) and the prechecks.

use std::time::Duration;

use ferry_service::changefeeds::{filter::TableFilter, tso};
use ferry_tests::mariadb::{MariaDb, MariaDbOptions, system_server};
use ferry_worker::replication::{engine::StartFrom, precheck};

use crate::helpers::{self, Feed, endpoint, position, rules, spec, upstream};

/// startTS: a TSO between two batches of writes replays only the second
/// batch; a TSO older than the oldest binlog is refused with the oldest
/// time available.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starts_from_a_past_tso() {
    let up = upstream().await;
    let down = system_server();
    let ddb = down.create_database("ferry_e").await;
    let db = ddb.name().to_owned();
    let ep = endpoint(&up);

    let too_old = tso::from_unix_ms(chrono::Utc::now().timestamp_millis() as u64 - 3_600_000);
    let err = precheck::resolve_start(&ep, too_old)
        .await
        .expect_err("an hour ago is before the server started");
    assert!(err.contains("older than the oldest binlog"), "{err}");
    assert!(err.contains("binlog.000001 starts at"), "{err}");

    let table = "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10))";
    up.exec(&format!("CREATE DATABASE `{db}`; USE `{db}`; {table}; INSERT INTO t VALUES (1, 'before'), (2, 'before')"))
        .await;
    down.exec(&format!("USE `{db}`; {table}")).await;
    // Binlog timestamps are in seconds: keep the batches in other seconds.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let start_tso = tso::from_unix_ms(chrono::Utc::now().timestamp_millis() as u64);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    up.exec(&format!(
        "USE `{db}`; INSERT INTO t VALUES (3, 'after'); UPDATE t SET v = 'changed' WHERE id = 1"
    ))
    .await;

    let resolved = precheck::resolve_start(&ep, start_tso)
        .await
        .expect("resolve_start");
    assert!(resolved.tso < start_tso);
    assert!(resolved.gtid.is_some(), "{resolved:?}");

    // Through the engine's own StartFrom::Tso.
    let mut feed = Feed::start(
        spec(&up, &down, &rules(&db), 2, 100),
        StartFrom::Tso(start_tso),
    );
    feed.wait_for(&position(&up).await).await;
    let rows = down
        .query(&format!(
            "SELECT CAST(id AS CHAR), v FROM `{db}`.t ORDER BY id"
        ))
        .await;
    let rows: Vec<(String, String)> = rows
        .into_iter()
        .map(|r| (r[0].clone().unwrap(), r[1].clone().unwrap()))
        .collect();
    assert_eq!(
        rows,
        vec![("1".into(), "changed".into()), ("3".into(), "after".into())],
        "only the changes after startTS (the update of row 1 brings its full image)"
    );
    let (result, last) = feed.stop().await;
    result.expect("stopping returns Ok");
    assert!(last.checkpoint.tso > start_tso);
}

/// The prechecks say precisely what is wrong.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prechecks_explain_failures() {
    helpers::init_tracing();
    let statement = MariaDb::start_with(MariaDbOptions {
        server_id: 2,
        binlog_format: "STATEMENT".into(),
        ..Default::default()
    })
    .await;
    let err = precheck::check_upstream(&endpoint(&statement))
        .await
        .expect_err("STATEMENT is refused");
    assert_eq!(
        err,
        "the upstream's binlog_format is STATEMENT; ferry needs binlog_format=ROW"
    );

    let minimal = MariaDb::start_with(MariaDbOptions {
        server_id: 3,
        extra_args: vec!["--binlog-row-metadata=MINIMAL".into()],
        ..Default::default()
    })
    .await;
    let err = precheck::check_upstream(&endpoint(&minimal))
        .await
        .expect_err("MINIMAL is refused");
    assert_eq!(
        err,
        "the upstream's binlog_row_metadata is MINIMAL; ferry needs binlog_row_metadata=FULL"
    );

    let up = upstream().await;
    precheck::check_upstream(&endpoint(&up))
        .await
        .expect("a ROW upstream passes");
    let down = system_server();
    precheck::check_downstream(&endpoint(&down))
        .await
        .expect("the downstream is writable");

    let mut closed = endpoint(&up);
    closed.port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let err = precheck::check_upstream(&closed)
        .await
        .expect_err("nothing listens there");
    assert!(
        err.starts_with(&format!(
            "cannot connect to the upstream root@127.0.0.1:{}",
            closed.port
        )),
        "{err}"
    );
    let err = precheck::check_downstream(&closed)
        .await
        .expect_err("nothing listens there");
    assert!(err.contains("cannot connect to the downstream"), "{err}");

    up.exec(
        "CREATE DATABASE app; USE app;
         CREATE TABLE with_pk (id INT PRIMARY KEY);
         CREATE TABLE with_unique (a INT NOT NULL, UNIQUE KEY (a));
         CREATE TABLE nullable_unique (a INT NULL, UNIQUE KEY (a));
         CREATE TABLE no_key (a INT, KEY (a));
         CREATE DATABASE other; CREATE TABLE other.no_key (a INT);",
    )
    .await;
    let filter = TableFilter::parse(&["app.*".to_owned()]).unwrap();
    let missing = precheck::tables_without_key(&endpoint(&up), &filter)
        .await
        .unwrap();
    assert_eq!(missing, vec!["app.no_key", "app.nullable_unique"]);

    let cp = precheck::current_position(&endpoint(&up)).await.unwrap();
    assert_eq!(cp.file, "binlog.000001");
    assert!(cp.position > 4);
    assert!(
        cp.gtid.as_deref().is_some_and(|g| g.starts_with("0-1-")),
        "{cp:?}"
    );
}
