//! The EasyQueue and DigitalOcean dialects against a real tansu broker:
//! every route with the seeds' examples, the ranges' edges on both sides,
//! wrong roles and other projects' tokens, and DigitalOcean's own Python
//! client (`pydo`).
//!
//! tansu 0.6.0 lacks CreatePartitions: raising a partition count is shown
//! to reach the broker and its refusal to reach the caller, in the
//! dialect's envelope, with the task failed.

mod digitalocean;
mod easyqueue;
mod easyqueue_edges;
mod easyqueue_statistics;
mod helpers;
