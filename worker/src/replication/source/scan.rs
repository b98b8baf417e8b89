//! Finding where in the binlog a TSO (startTS) is: the file whose first
//! event is the last one at or before that time, then the first transaction
//! in it (or later files) that committed at or after it.

use mysql_async::prelude::Queryable;

use super::{
    SourceEvent, Transactions, conn,
    mariadb::GtidState,
    reader::{BinlogReader, Decoded, ReaderOptions},
};
use crate::replication::engine::{Checkpoint, MysqlEndpoint, ReplicationError};
use ferry_service::changefeeds::tso;

/// The binlog files the upstream still has, oldest first.
pub(crate) async fn binlog_files(ep: &MysqlEndpoint) -> Result<Vec<String>, ReplicationError> {
    let mut conn = conn::connect(ep, "upstream", vec![]).await?;
    let rows: Vec<mysql_async::Row> = conn.query("SHOW BINARY LOGS").await.map_err(|e| {
        conn::classify(
            &e,
            "cannot list the upstream's binary logs (SHOW BINARY LOGS)",
        )
    })?;
    let _ = conn.disconnect().await;
    let files: Vec<String> = rows
        .into_iter()
        .filter_map(|row| row.get_opt::<String, _>(0).and_then(Result::ok))
        .collect();
    if files.is_empty() {
        return Err(ReplicationError::Fatal(
            "the upstream has no binary logs: log_bin must be ON".into(),
        ));
    }
    Ok(files)
}

/// A server id for a short-lived scan. Each binlog connection needs its own
/// (the server drops an older connection with the same id), and the
/// changefeeds' ids are small numbers, so take a random one from the top half.
fn scan_server_id() -> u32 {
    rand::random::<u32>() | 0x8000_0000
}

async fn open(ep: &MysqlEndpoint, file: &str) -> Result<BinlogReader, ReplicationError> {
    BinlogReader::open(
        ep,
        ReaderOptions {
            server_id: scan_server_id(),
            file: file.to_owned(),
            position: 4,
            non_blocking: true,
            filter: None,
            idle_timeout: Some(std::time::Duration::from_secs(30)),
        },
    )
    .await
}

/// The timestamp (seconds) of `file`'s format description, its first event.
async fn first_event_time(ep: &MysqlEndpoint, file: &str) -> Result<u32, ReplicationError> {
    let mut reader = open(ep, file).await?;
    while let Some(event) = reader.next().await? {
        if matches!(event.event, Decoded::FormatDescription) && !event.artificial {
            reader.close().await;
            return Ok(event.timestamp);
        }
    }
    Err(ReplicationError::Fatal(format!(
        "the upstream's binlog file {file} has no format description event"
    )))
}

fn describe_time(seconds: u64) -> String {
    chrono::DateTime::from_timestamp(seconds as i64, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| seconds.to_string())
}

/// The checkpoint from which replication sees every transaction that
/// committed at or after `start_tso` (to the second, the binlog's
/// resolution: transactions in the same second are replayed, which the
/// idempotent sink absorbs). Refuses a TSO older than the oldest binlog.
pub(crate) async fn find_start(
    ep: &MysqlEndpoint,
    start_tso: u64,
) -> Result<Checkpoint, ReplicationError> {
    let target = tso::to_unix_ms(start_tso) / 1000;
    let files = binlog_files(ep).await?;
    let oldest = u64::from(first_event_time(ep, &files[0]).await?);
    if oldest > target {
        return Err(ReplicationError::Fatal(format!(
            "startTS {start_tso} ({}) is older than the oldest binlog the upstream still has: \
             {} starts at {}; choose a startTS at or after {}",
            describe_time(target),
            files[0],
            describe_time(oldest),
            tso::from_unix_ms(oldest * 1000),
        )));
    }
    // The last file whose first event is at or before the target.
    let (mut lo, mut hi) = (0usize, files.len() - 1);
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if u64::from(first_event_time(ep, &files[mid]).await?) <= target {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    let file = &files[lo];
    let mut reader = open(ep, file).await?;
    let mut txns = Transactions::new(GtidState::default(), 0);
    let mut before = Checkpoint {
        file: file.clone(),
        position: 4,
        gtid: None,
        tso: start_tso.saturating_sub(1),
    };
    let mut committed_any = false;
    while let Some(event) = reader.next().await? {
        let timestamp = u64::from(event.timestamp);
        for out in txns.feed(event) {
            let checkpoint = match out {
                SourceEvent::Commit(cp) | SourceEvent::Rollback(cp) => cp,
                SourceEvent::Statement {
                    checkpoint: Some(checkpoint),
                    ..
                } => checkpoint,
                _ => continue,
            };
            if timestamp >= target {
                reader.close().await;
                return Ok(before);
            }
            committed_any = true;
            before = Checkpoint {
                tso: start_tso.saturating_sub(1),
                ..checkpoint
            };
        }
        if !committed_any {
            // The GTID_LIST at the start of the file is the position there.
            before.gtid = txns.gtid();
        }
    }
    Ok(before)
}
