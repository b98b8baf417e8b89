//! The Confluent REST Proxy dialect against a real tansu broker: v3's
//! clusters, topics, partitions, configs, ACLs, brokers, consumer groups and
//! records, and v2's topics, partitions, brokers, produce and consumer
//! instances, and the schema formats through a schema registry, checked
//! through the API and with Kafka clients.
//!
//! tansu 0.6.0 gaps these tests meet (the broker's, not ferry's):
//! - a broker-level DescribeConfigs answers no configs at all, so broker and
//!   cluster config lists are empty and changes are refused for naming a
//!   config the broker does not report (tested as such);
//! - topic DescribeConfigs lists only the configs that were set, each as
//!   `DEFAULT_CONFIG`;
//! - DescribeGroups answers members without client id, host or assignment,
//!   so assignments and the lag's consumer are empty there;
//! - the Metadata replica list may be empty;
//! - a multi-record batch counts as one offset, so offsets are checked after
//!   producing one record per batch;
//! - it keeps no ACL (CreateAcls is taken, forgotten and answered without
//!   its results) and has neither DeleteAcls nor CreatePartitions, so ACL
//!   changes and partition increases are proven only as far as the broker's
//!   answer (`acls.rs`).

mod acls;
mod configs;
mod groups;
mod helpers;
mod reassignments;
mod records;
mod refusals;
mod schema_formats;
mod topics;
mod v2;
mod v2_consumers;
