//! One sample of one topic, at one tier of resolution. The figures every
//! metric needs are columns; what varies in length (each consumer group's
//! committed offsets and lag, each partition replica's log size) is the
//! `detail` blob, a [`SampleDetail`] in postcard's compact varint encoding
//! (a partition's log size takes 5 bytes rather than a JSON number's 10),
//! laid out as its `detail_format` says (`detail.rs`).

mod detail;

use sea_orm::entity::prelude::*;

pub use detail::{DetailError, DetailFormat, GroupSample, LogSize, SampleDetail};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "stat_samples")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub cluster_id: i64,
    /// The topic's `stat_name` id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub topic_id: i64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub tier: Tier,
    /// When the sample was taken, epoch seconds.
    #[sea_orm(primary_key, auto_increment = false)]
    pub ts: i64,
    /// Messages held: the sum over partitions of end minus start offset.
    pub messages: i64,
    /// The sum of the partitions' end offsets: messages ever produced, a
    /// counter whose deltas are the produce rate.
    pub produced: i64,
    /// Mean bytes of one record, when known (see `ferry_service::stats`).
    pub record_bytes: Option<f64>,
    pub detail: Vec<u8>,
    /// How `detail` is laid out: rows written before migration 10 are
    /// `Flat`, and stay readable.
    pub detail_format: DetailFormat,
}

impl Model {
    /// The decoded `detail`, in whichever format the row was written.
    pub fn detail(&self) -> Result<SampleDetail, DetailError> {
        SampleDetail::decode(self.detail_format, &self.detail)
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// A resolution of the statistics: raw samples, and the coarser steps they
/// are rolled up into as they age.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "i16", db_type = "SmallInteger")]
pub enum Tier {
    /// Every sample, at the sampler's interval; kept a day.
    #[sea_orm(num_value = 0)]
    Raw,
    /// The last sample of each 10 minutes; kept 7 days.
    #[sea_orm(num_value = 1)]
    TenMinutes,
    /// The last sample of each hour; kept 90 days.
    #[sea_orm(num_value = 2)]
    Hour,
}

impl Tier {
    /// The rolled-up tiers, finest first.
    pub const COARSE: [Tier; 2] = [Tier::TenMinutes, Tier::Hour];

    /// Seconds between two rows; `None` for raw rows, whose step is the
    /// sampler's interval.
    pub fn step_seconds(self) -> Option<i64> {
        match self {
            Tier::Raw => None,
            Tier::TenMinutes => Some(600),
            Tier::Hour => Some(3600),
        }
    }

    /// How long rows of this tier are kept, in seconds.
    pub fn retention_seconds(self) -> i64 {
        const DAY: i64 = 86_400;
        match self {
            Tier::Raw => DAY,
            Tier::TenMinutes => 7 * DAY,
            Tier::Hour => 90 * DAY,
        }
    }
}
