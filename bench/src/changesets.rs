//! `ferry-bench changesets`: a changeset's plan of 1,000 topics against a
//! cluster that holds them (every topic unchanged), beside the reads a
//! direct client makes for the same comparison (one Metadata request of
//! every topic, and DescribeConfigs of the 1,000 topics in one call) on the
//! same tansu broker in the same run, and beside the 1 s budget.
//!
//! ferry's plan does those reads too, then compares, and records the
//! changeset (document and plan) in its database: the ratio is what the
//! comparison, the HTTP round trip and the row cost over the reads.

use std::{path::PathBuf, sync::Arc, time::Duration};

use anyhow::bail;
use ferry_tests::kafka::TestKafka;
use rdkafka::{
    admin::{AdminClient, AdminOptions, ResourceSpecifier},
    client::DefaultClientContext,
};
use serde_json::{Value, json};

use crate::{
    admin::{create_topics, time},
    stats::{self, Latencies},
};

/// The budget for a plan of 1,000 topics.
const BUDGET: Duration = Duration::from_secs(1);

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Topics on the cluster and in the document.
    #[arg(long, default_value_t = 1000)]
    pub topics: usize,
    /// Timed plans (after two warm-up plans).
    #[arg(long, default_value_t = 20)]
    pub calls: usize,
    /// Where ferry-api is (default: beside this binary).
    #[arg(long)]
    pub bin_dir: Option<PathBuf>,
    /// RUST_LOG for ferry's process.
    #[arg(long, default_value = "warn")]
    pub ferry_log: String,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.topics > 0 && args.calls > 0,
        "--topics and --calls must be positive"
    );
    let launch = crate::ferry::default_launch(args.bin_dir.as_deref(), &args.ferry_log, None)?;
    let broker = TestKafka::start().await;
    // A plan applies nothing: no worker is needed.
    let app = crate::ferry::scratch_app("changesets", launch, false).await?;
    let http = reqwest::Client::builder().no_proxy().build()?;
    let (base, token) = (app.address.clone(), app.admin_token.clone());

    println!("ferry-bench changesets");
    println!(
        "  broker:   tansu 0.6.0 (memory storage) at {}",
        broker.bootstrap()
    );
    let names: Vec<String> = (0..args.topics).map(|i| format!("bench-{i:05}")).collect();
    let admin = Arc::new(broker.client::<AdminClient<DefaultClientContext>>()?);
    create_topics(&admin, &names).await?;
    let cluster = crate::ferry::register_broker(&http, &base, &token, &broker).await?;
    let cluster: i64 = cluster.parse()?;
    let topics: Vec<Value> = names
        .iter()
        .map(|n| json!({ "name": n, "partitions": 1 }))
        .collect();
    let document = json!({ "cluster": cluster, "name": "bench", "topics": topics });
    let url = format!("{base}/api/v1/changesets?mode=plan");
    println!(
        "  document: {} topics, {} KiB of JSON",
        names.len(),
        document.to_string().len() / 1024
    );

    let first = plan(&http, &token, &url, &document).await?;
    let unchanged = first["plan"]["summary"]["unchanged"].as_u64().unwrap_or(0);
    if unchanged != names.len() as u64 {
        bail!(
            "the plan shows {unchanged} topics unchanged, expected {}: {}",
            names.len(),
            first["plan"]["summary"]
        );
    }
    println!("  checked:  the plan shows all {unchanged} topics unchanged");

    let ferry = time(2, args.calls, || {
        let (http, token, url, document) =
            (http.clone(), token.clone(), url.clone(), document.clone());
        async move { plan(&http, &token, &url, &document).await.map(drop) }
    })
    .await?;
    let direct = time(2, args.calls, || {
        let (admin, names) = (admin.clone(), names.clone());
        async move { direct_reads(&admin, &names).await }
    })
    .await?;
    report(&ferry, &direct);
    Ok(())
}

async fn plan(
    http: &reqwest::Client,
    token: &str,
    url: &str,
    document: &Value,
) -> anyhow::Result<Value> {
    let resp = http
        .post(url)
        .bearer_auth(token)
        .json(document)
        .send()
        .await?;
    let status = resp.status();
    let body: Value = resp.json().await?;
    if status.as_u16() != 201 {
        bail!("POST {url} -> {status}: {body}");
    }
    Ok(body)
}

/// What a direct client reads to compare: every topic's metadata, and the
/// configs of the named topics in one DescribeConfigs call.
async fn direct_reads(
    admin: &Arc<AdminClient<DefaultClientContext>>,
    names: &[String],
) -> anyhow::Result<()> {
    let metadata_admin = admin.clone();
    tokio::task::spawn_blocking(move || {
        metadata_admin
            .inner()
            .fetch_metadata(None, Duration::from_secs(10))
            .map(drop)
    })
    .await??;
    let resources: Vec<ResourceSpecifier<'_>> =
        names.iter().map(|n| ResourceSpecifier::Topic(n)).collect();
    let opts = AdminOptions::new().request_timeout(Some(Duration::from_secs(10)));
    let described = admin.describe_configs(&resources, &opts).await?;
    anyhow::ensure!(
        described.iter().all(Result::is_ok) && described.len() == names.len(),
        "DescribeConfigs answered {} of {} topics",
        described.iter().filter(|r| r.is_ok()).count(),
        names.len()
    );
    Ok(())
}

fn report(ferry: &Latencies, direct: &Latencies) {
    let p50 = |l: &Latencies| l.percentile(50.0);
    println!("  plan of the document:");
    println!("    ferry (HTTP, plan recorded):       {}", ferry.summary());
    println!(
        "    direct (Metadata + DescribeConfigs): {}",
        direct.summary()
    );
    println!(
        "    ferry / direct:  {:.2} at p50 ({} more per plan)",
        p50(ferry).as_secs_f64() / p50(direct).as_secs_f64().max(1e-9),
        stats::ms(p50(ferry).saturating_sub(p50(direct)))
    );
    let verdict = if p50(ferry) < BUDGET && ferry.percentile(99.0) < BUDGET {
        "met"
    } else {
        "NOT met"
    };
    println!(
        "    budget:          p50 {} and p99 {} against {} ({verdict})",
        stats::ms(p50(ferry)),
        stats::ms(ferry.percentile(99.0)),
        stats::ms(BUDGET)
    );
}
