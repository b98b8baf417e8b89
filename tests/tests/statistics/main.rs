//! Statistics over time: the workers sample a real tansu broker every 5 s
//! while the test produces and consumes at a known rate, and the native
//! `/api/v1/clusters/{id}/statistics` route answers the series.
//!
//! tansu 0.6.0 does not answer DescribeLogDirs, so these tests see no
//! LOG_SIZE_PER_PARTITION series, and it counts a multi-record batch as one
//! offset, so records are produced one per batch.

mod access;
mod helpers;
mod rates;
mod takeover;
