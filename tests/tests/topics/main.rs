//! Topic tasks through the TubeMQ dialect against a real tansu broker:
//! `/v1/cluster`, `/v1/task?method=addTopicTask`, `/v1/topic?method=queryCanWrite`.

mod helpers;
mod lifecycle;
mod routes;
mod tls;
mod validation;
