//! TiEM's request and response bodies for changefeeds.

use ferry_entity::changefeed::Model;
use ferry_service::changefeeds::{self, tso};
use poem_openapi::Object;
use serde_json::Value;

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct CreateChangeFeedTaskReq {
    /// The upstream: a registered cluster of kind mysql.
    #[oai(nullable)]
    pub cluster_id: Option<Value>,
    /// TiDBDownstream or MysqlDownstream: `ip`, `port`, `username`,
    /// `password`, `tls`, `targetClusterId`, `workerCount`, `maxTxnRow`.
    #[oai(nullable)]
    pub downstream: Option<Value>,
    /// tidb, mysql or kafka.
    #[oai(nullable)]
    pub downstream_type: Option<String>,
    #[oai(nullable)]
    pub name: Option<String>,
    /// TiDB table-filter rules; default `["*.*"]`.
    #[oai(nullable)]
    pub rules: Option<Vec<String>>,
    /// Start at the first upstream change at or after this TSO.
    #[oai(nullable, rename = "startTS")]
    pub start_ts: Option<String>,
    /// ferry: create the changefeed Stopped.
    #[oai(nullable)]
    pub start_paused: Option<bool>,
    /// ferry: replicate tables without a primary or not-null unique key too.
    #[oai(nullable)]
    pub force: Option<bool>,
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct UpdateChangeFeedTaskReq {
    #[oai(nullable)]
    pub downstream: Option<Value>,
    #[oai(nullable)]
    pub downstream_type: Option<String>,
    #[oai(nullable)]
    pub name: Option<String>,
    #[oai(nullable)]
    pub rules: Option<Vec<String>>,
}

#[derive(Debug, Object)]
pub struct CreateChangeFeedTaskResp {
    pub id: String,
}

#[derive(Debug, Object)]
pub struct StatusResp {
    pub status: String,
}

#[derive(Debug, Object)]
pub struct DeleteChangeFeedTaskResp {
    pub id: String,
    pub status: String,
}

/// TiEM's `QueryChangeFeedTaskResp` / `DetailChangeFeedTaskResp`, plus the
/// error fields TiCDC shows for a changefeed in Error or Failed.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct ChangeFeedTaskResp {
    pub cluster_id: String,
    pub create_time: String,
    pub downstream: Value,
    pub downstream_fetch_ts: String,
    pub downstream_fetch_unix: i64,
    pub downstream_sync_ts: String,
    pub downstream_sync_unix: i64,
    pub downstream_type: String,
    pub id: String,
    pub name: String,
    pub rules: Vec<String>,
    #[oai(rename = "startTS")]
    pub start_ts: String,
    pub start_unix: i64,
    pub status: String,
    pub unsteady: bool,
    pub update_time: String,
    pub upstream_update_ts: String,
    pub upstream_update_unix: i64,
    #[oai(nullable)]
    pub error_message: Option<String>,
    #[oai(nullable)]
    pub error_time: Option<String>,
}

impl ChangeFeedTaskResp {
    pub fn new(model: &Model, unsteady: bool) -> Self {
        let ms = |ts: i64| tso::to_unix_ms(ts.max(0) as u64) as i64;
        Self {
            cluster_id: model.cluster_id.to_string(),
            create_time: model.created_at.to_rfc3339(),
            downstream: changefeeds::downstream_view(model),
            downstream_fetch_ts: model.fetched_ts.to_string(),
            downstream_fetch_unix: ms(model.fetched_ts),
            downstream_sync_ts: model.checkpoint_ts.to_string(),
            downstream_sync_unix: ms(model.checkpoint_ts),
            downstream_type: model.downstream_type.as_str().to_owned(),
            id: model.id.clone(),
            name: model.name.clone(),
            rules: serde_json::from_value(model.rules.clone()).unwrap_or_default(),
            start_ts: model.start_ts.to_string(),
            start_unix: ms(model.start_ts),
            status: model.state.as_str().to_owned(),
            unsteady,
            update_time: model.updated_at.to_rfc3339(),
            upstream_update_ts: model.upstream_ts.to_string(),
            upstream_update_unix: ms(model.upstream_ts),
            error_message: model.error_message.clone(),
            error_time: model.error_at.map(|t| t.to_rfc3339()),
        }
    }
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct Page {
    pub page: u64,
    pub page_size: u64,
    pub total: u64,
}

#[derive(Debug, Object)]
pub struct ListResult {
    pub code: i32,
    pub data: Vec<ChangeFeedTaskResp>,
    pub message: String,
    pub page: Page,
}

#[derive(Debug, Object)]
pub struct DetailResult {
    pub code: i32,
    pub data: ChangeFeedTaskResp,
    pub message: String,
}

#[derive(Debug, Object)]
pub struct CreateResult {
    pub code: i32,
    pub data: CreateChangeFeedTaskResp,
    pub message: String,
}

#[derive(Debug, Object)]
pub struct StatusResult {
    pub code: i32,
    pub data: StatusResp,
    pub message: String,
}

#[derive(Debug, Object)]
pub struct DeleteResult {
    pub code: i32,
    pub data: DeleteChangeFeedTaskResp,
    pub message: String,
}
