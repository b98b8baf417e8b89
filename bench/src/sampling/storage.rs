//! The bytes 90 days of samples take on SQLite: the `stat_*` tables' pages
//! (SQLite's `dbstat`, b-tree free space included) over the stored rows,
//! extrapolated to `--topics` topics at the default 60 s interval.
//!
//! tansu reports no log sizes, so every stored row is then grown by the
//! bytes ten partitions' log sizes would add to it (`LOG_SIZES`), step by
//! step from the smallest, and the pages are measured after each step.

use anyhow::Context;
use ferry_tests::TestApp;

/// The storage budget of issue #18.
const STORAGE_BUDGET: f64 = 1024.0 * 1024.0 * 1024.0;
/// Rows per topic kept at the default 60 s interval: 1,440 raw (a day),
/// 1,008 at 10 minutes (7 days), 2,160 at 1 hour (90 days).
const RAW_ROWS_PER_DAY: f64 = 1440.0;
const ROWS_PER_90_DAYS: f64 = 1440.0 + 1008.0 + 2160.0;

/// What ten partitions' log sizes add to a row, in postcard's varints with
/// partition ids of one byte, broker ids of two and sizes around 1 GiB
/// (five bytes). ferry's layout stores each partition's leader in full
/// (partition, broker, size: 8 bytes) and each follower as a step to its
/// leader (1), its broker (2) and its difference from the leader's size (1
/// while the two differ by less than 64 bytes): 80 bytes for one replica,
/// 160 for three. The flat layout before it stored every replica in full:
/// 80 and 240. `ferry_entity::stat_sample`'s test
/// `followers_cost_a_few_bytes` checks these figures against the encoder.
/// Sorted by size: the rows grow from one to the next.
const LOG_SIZES: [(&str, usize); 4] = [
    ("log sizes, 1 replica", 80),
    ("old flat format, 1 replica", 80),
    ("log sizes, 3 replicas", 160),
    ("old flat format, 3 replicas", 240),
];

/// Measures and prints the storage figures. ferry must not write meanwhile.
pub async fn report(app: &TestApp, topics: usize) -> anyhow::Result<()> {
    let rows = one(app, "SELECT CAST(COUNT(*) AS TEXT) FROM stat_samples").await?;
    anyhow::ensure!(rows > 0.0, "no samples stored");
    let mut figures = vec![("no log sizes (as sampled)", pages(app).await?)];
    let mut grown = 0;
    for (label, bytes) in LOG_SIZES {
        if bytes > grown {
            app.db
                .query_strings(&format!(
                    "UPDATE stat_samples SET detail = detail || randomblob({}) RETURNING NULL",
                    bytes - grown
                ))
                .await;
            grown = bytes;
        }
        figures.push((label, pages(app).await?));
    }
    println!("  storage (SQLite, stat_* tables; {topics} topics at 60 s, 90 days with roll-ups):");
    for (label, bytes) in &figures {
        let per_row = bytes / rows;
        let day = per_row * RAW_ROWS_PER_DAY * topics as f64;
        let kept = per_row * ROWS_PER_90_DAYS * topics as f64;
        println!(
            "    {label:<28} {per_row:>4.0} B per topic sample; a day {:>4.0} MiB; 90 days {:>5.0} MiB = {:>3.0}% of the 1 GiB budget",
            day / 1048576.0,
            kept / 1048576.0,
            100.0 * kept / STORAGE_BUDGET
        );
    }
    println!(
        "    measured on {} stored rows ({:.1} MiB of pages as sampled)",
        rows as u64,
        figures[0].1 / 1048576.0
    );
    Ok(())
}

/// Bytes of the statistics tables' pages.
async fn pages(app: &TestApp) -> anyhow::Result<f64> {
    one(
        app,
        "SELECT CAST(SUM(pgsize) AS TEXT) FROM dbstat WHERE name LIKE 'stat_%' OR name LIKE 'sqlite_autoindex_stat_%'",
    )
    .await
}

async fn one(app: &TestApp, sql: &str) -> anyhow::Result<f64> {
    app.db
        .query_strings(sql)
        .await
        .into_iter()
        .next()
        .flatten()
        .context("no answer")?
        .parse::<f64>()
        .context("not a number")
}
