//! The variable-length part of a sample and the layouts it is stored in.
//!
//! Log sizes dominate a row: a topic of 10 partitions with three replicas
//! each reports 30 of them per sample. A follower almost always holds what
//! its leader holds, give or take the last batch, so `LeaderFirst` stores
//! each partition's leader in full and each follower as the difference from
//! its leader: a zigzag varint of a byte or two where a full size takes
//! five. `Flat`, the layout of migration 9, stored every replica in full;
//! rows written so keep `Flat` in their `detail_format` and decode as they
//! always did (invariant I19).

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// How a row's `detail` blob is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "i16", db_type = "SmallInteger")]
pub enum DetailFormat {
    /// Every replica's partition, broker and size in full (migration 9).
    #[sea_orm(num_value = 0)]
    Flat,
    /// Each partition's leader in full, its followers as deltas from it.
    #[sea_orm(num_value = 1)]
    LeaderFirst,
}

impl DetailFormat {
    /// The layout new rows are written in.
    pub const CURRENT: DetailFormat = DetailFormat::LeaderFirst;
}

/// The variable-length part of a sample.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SampleDetail {
    /// Consumer groups that committed offsets on the topic.
    pub groups: Vec<GroupSample>,
    /// Each partition replica's log size, when the brokers answer
    /// DescribeLogDirs; empty otherwise. A partition's replicas are listed
    /// together, its leader first: the sampler orders them so, and only in
    /// that order are the followers stored as small deltas.
    pub log_sizes: Vec<LogSize>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupSample {
    /// The group's `stat_name` id.
    pub group_id: i64,
    /// The sum of the group's committed offsets on the topic: a counter
    /// whose deltas are the consume rate.
    pub committed: i64,
    /// The sum over the partitions it committed on of end offset minus
    /// committed offset.
    pub lag: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogSize {
    pub partition: i32,
    pub broker: i32,
    pub bytes: i64,
}

/// A stored `detail` that does not decode.
#[derive(Debug, thiserror::Error)]
pub enum DetailError {
    #[error("a stored statistics sample does not decode: {0}")]
    Encoding(#[from] postcard::Error),
    #[error("a stored statistics sample has a follower replica without a leader")]
    FollowerWithoutLeader,
}

/// `DetailFormat::Flat`. Its fields are the stored layout and must not
/// change: rows of it are read for as long as they are kept.
#[derive(Serialize, Deserialize)]
struct Flat {
    groups: Vec<GroupSample>,
    log_sizes: Vec<LogSize>,
}

/// `DetailFormat::LeaderFirst`.
#[derive(Serialize, Deserialize)]
struct LeaderFirst {
    groups: Vec<GroupSample>,
    /// The first replica listed of each partition, in full.
    leaders: Vec<LogSize>,
    /// The other replicas, in the order they were listed.
    followers: Vec<Follower>,
}

#[derive(Serialize, Deserialize)]
struct Follower {
    /// How many leaders on from the previous follower's leader (from the
    /// first leader, for the first follower) this one's is: 0 or 1 in a
    /// topic whose partitions all have followers, so one byte.
    step: u32,
    broker: i32,
    /// Its size minus its leader's, which postcard stores as a zigzag
    /// varint: one byte while the two differ by less than 64 bytes.
    delta: i64,
}

impl SampleDetail {
    /// Encodes in [`DetailFormat::CURRENT`].
    pub fn encode(&self) -> Vec<u8> {
        let mut leaders: Vec<LogSize> = Vec::new();
        let mut followers = Vec::new();
        let mut previous = 0;
        for size in &self.log_sizes {
            match leaders.last() {
                Some(leader) if leader.partition == size.partition => {
                    let at = leaders.len() - 1;
                    followers.push(Follower {
                        step: (at - previous) as u32,
                        broker: size.broker,
                        delta: size.bytes.wrapping_sub(leader.bytes),
                    });
                    previous = at;
                }
                _ => leaders.push(size.clone()),
            }
        }
        let stored = LeaderFirst {
            groups: self.groups.clone(),
            leaders,
            followers,
        };
        // Encoding into a Vec fails only when serde does, which plain
        // structs of integers never do.
        postcard::to_allocvec(&stored).unwrap_or_default()
    }

    /// Decodes a row's `detail` written in `format`.
    pub fn decode(format: DetailFormat, bytes: &[u8]) -> Result<Self, DetailError> {
        match format {
            DetailFormat::Flat => {
                let flat: Flat = postcard::from_bytes(bytes)?;
                Ok(Self {
                    groups: flat.groups,
                    log_sizes: flat.log_sizes,
                })
            }
            DetailFormat::LeaderFirst => {
                let stored: LeaderFirst = postcard::from_bytes(bytes)?;
                Ok(Self {
                    groups: stored.groups,
                    log_sizes: replicas(stored.leaders, stored.followers)?,
                })
            }
        }
    }
}

/// Every replica, each partition's leader followed by its followers.
fn replicas(leaders: Vec<LogSize>, followers: Vec<Follower>) -> Result<Vec<LogSize>, DetailError> {
    let mut out = Vec::with_capacity(leaders.len() + followers.len());
    let mut followers = followers.into_iter().peekable();
    let mut next = followers.peek().map_or(0, |f| f.step as usize);
    for (at, leader) in leaders.iter().enumerate() {
        out.push(leader.clone());
        while next == at {
            let Some(f) = followers.next() else { break };
            out.push(LogSize {
                partition: leader.partition,
                broker: f.broker,
                bytes: leader.bytes.wrapping_add(f.delta),
            });
            next = match followers.peek() {
                Some(f) => at.saturating_add(f.step as usize),
                None => usize::MAX,
            };
        }
    }
    if followers.next().is_some() {
        return Err(DetailError::FollowerWithoutLeader);
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
