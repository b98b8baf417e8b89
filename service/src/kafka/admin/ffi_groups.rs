//! Consumer groups and offsets through librdkafka's raw bindings, with the
//! plumbing of `ffi`: the committed offsets of a group, the earliest or latest
//! offsets of many partitions at once, the classic group listing with each
//! group's coordinator, the controller's id and the brokers' racks. Each call
//! blocks for at most its timeout; everything is copied out before native
//! objects are freed.

use std::{ffi::c_int, ptr, time::Duration};

use rdkafka::bindings as rd;

use super::{
    AdminError, GroupInfo, GroupMember, OffsetSpec, PartitionOffset,
    ffi::{Guard, Rk, cstring, is_error, kafka_error, millis, request, text},
};

/// The committed offsets of a group, for every partition it committed.
pub(super) fn committed_offsets(
    rk: Rk,
    group: &str,
    timeout: Duration,
) -> Result<Vec<PartitionOffset>, AdminError> {
    let group_c = cstring("consumer group id", group)?;
    // SAFETY: as in `describe_configs`.
    unsafe {
        let request_obj = Guard::new(
            rd::rd_kafka_ListConsumerGroupOffsets_new(group_c.as_ptr(), ptr::null()),
            rd::rd_kafka_ListConsumerGroupOffsets_destroy,
        );
        let mut requests = [request_obj.ptr];
        let event = request(
            rk,
            rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS,
            timeout,
            false,
            |options, queue| {
                rd::rd_kafka_ListConsumerGroupOffsets(rk, requests.as_mut_ptr(), 1, options, queue)
            },
        )?;
        let result = rd::rd_kafka_event_ListConsumerGroupOffsets_result(event.ptr);
        if result.is_null() {
            return Err(AdminError::Invalid(
                "ListConsumerGroupOffsets returned no result".into(),
            ));
        }
        let mut count = 0;
        let groups = rd::rd_kafka_ListConsumerGroupOffsets_result_groups(result, &mut count);
        if count == 0 || groups.is_null() {
            return Ok(Vec::new());
        }
        let group = *groups;
        let error = rd::rd_kafka_group_result_error(group);
        if !error.is_null() {
            return Err(kafka_error(
                rd::rd_kafka_error_code(error),
                text(rd::rd_kafka_error_string(error)),
            ));
        }
        Ok(partitions_of(rd::rd_kafka_group_result_partitions(group)))
    }
}

/// Copies a partition list.
///
/// # Safety
/// `list` is NULL or a valid list.
unsafe fn partitions_of(list: *const rd::rd_kafka_topic_partition_list_t) -> Vec<PartitionOffset> {
    if list.is_null() {
        return Vec::new();
    }
    // SAFETY: guaranteed by the caller.
    unsafe {
        let list = &*list;
        (0..usize::try_from(list.cnt).unwrap_or(0))
            .map(|i| {
                let p = &*list.elems.add(i);
                PartitionOffset {
                    topic: text(p.topic).unwrap_or_default(),
                    partition: p.partition,
                    offset: (p.offset >= 0).then_some(p.offset),
                    error: is_error(p.err).then(|| kafka_error(p.err, None).to_string()),
                }
            })
            .collect()
    }
}

/// The earliest or latest offset of each partition, asked of each leader once.
pub(super) fn list_offsets(
    rk: Rk,
    partitions: &[(String, i32)],
    spec: OffsetSpec,
    timeout: Duration,
) -> Result<Vec<PartitionOffset>, AdminError> {
    if partitions.is_empty() {
        return Ok(Vec::new());
    }
    let spec_value = match spec {
        OffsetSpec::Earliest => -2,
        OffsetSpec::Latest => -1,
    };
    let topics = partitions
        .iter()
        .map(|(t, _)| cstring("topic name", t))
        .collect::<Result<Vec<_>, _>>()?;
    // SAFETY: as in `describe_configs`.
    unsafe {
        let list = Guard::new(
            rd::rd_kafka_topic_partition_list_new(c_int::try_from(partitions.len()).unwrap_or(0)),
            rd::rd_kafka_topic_partition_list_destroy,
        );
        for (topic, (_, partition)) in topics.iter().zip(partitions) {
            let p = rd::rd_kafka_topic_partition_list_add(list.ptr, topic.as_ptr(), *partition);
            if !p.is_null() {
                (*p).offset = spec_value;
            }
        }
        let event = request(
            rk,
            rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_LISTOFFSETS,
            timeout,
            false,
            |options, queue| rd::rd_kafka_ListOffsets(rk, list.ptr, options, queue),
        )?;
        let result = rd::rd_kafka_event_ListOffsets_result(event.ptr);
        if result.is_null() {
            return Err(AdminError::Invalid("ListOffsets returned no result".into()));
        }
        let mut count = 0;
        let infos = rd::rd_kafka_ListOffsets_result_infos(result, &mut count);
        let mut out = Vec::with_capacity(count);
        for i in 0..count {
            let p = rd::rd_kafka_ListOffsetsResultInfo_topic_partition(*infos.add(i));
            if p.is_null() {
                continue;
            }
            let p = &*p;
            out.push(PartitionOffset {
                topic: text(p.topic).unwrap_or_default(),
                partition: p.partition,
                offset: (p.offset >= 0).then_some(p.offset),
                error: is_error(p.err).then(|| kafka_error(p.err, None).to_string()),
            });
        }
        Ok(out)
    }
}

unsafe extern "C" fn free_group_list(list: *mut rd::rd_kafka_group_list) {
    // SAFETY: `list` came from `rd_kafka_list_groups`.
    unsafe { rd::rd_kafka_group_list_destroy(list) }
}

/// Classic consumer groups (ListGroups, then DescribeGroups at each
/// coordinator), all of them or the one named. Member assignments are left
/// as Kafka encodes them.
pub(super) fn list_groups(
    rk: Rk,
    group: Option<&str>,
    timeout: Duration,
) -> Result<Vec<GroupInfo>, AdminError> {
    let group_c = group.map(|g| cstring("consumer group id", g)).transpose()?;
    // SAFETY: `rk` is live; the list is read before the guard frees it.
    unsafe {
        let mut list: *const rd::rd_kafka_group_list = ptr::null();
        let err = rd::rd_kafka_list_groups(
            rk,
            group_c.as_ref().map_or(ptr::null(), |g| g.as_ptr()),
            &mut list,
            millis(timeout),
        );
        // A partial answer (`__PARTIAL`: some brokers did not answer in
        // time) comes with a list too; the guard frees it on every path.
        let list = Guard::new(list.cast_mut(), free_group_list);
        if is_error(err) {
            return Err(kafka_error(err, None));
        }
        if list.ptr.is_null() {
            return Ok(Vec::new());
        }
        let list = &*list.ptr;
        let mut out = Vec::new();
        for i in 0..usize::try_from(list.group_cnt).unwrap_or(0) {
            let g = &*list.groups.add(i);
            let members = (0..usize::try_from(g.member_cnt).unwrap_or(0))
                .map(|j| {
                    let m = &*g.members.add(j);
                    let assignment = if m.member_assignment.is_null() {
                        Vec::new()
                    } else {
                        std::slice::from_raw_parts(
                            m.member_assignment.cast::<u8>(),
                            usize::try_from(m.member_assignment_size).unwrap_or(0),
                        )
                        .to_vec()
                    };
                    GroupMember {
                        member_id: text(m.member_id).unwrap_or_default(),
                        client_id: text(m.client_id).unwrap_or_default(),
                        client_host: text(m.client_host).unwrap_or_default(),
                        assignment,
                    }
                })
                .collect();
            out.push(GroupInfo {
                group_id: text(g.group).unwrap_or_default(),
                state: text(g.state).unwrap_or_default(),
                protocol_type: text(g.protocol_type).unwrap_or_default(),
                protocol: text(g.protocol).unwrap_or_default(),
                coordinator: (g.broker.id >= 0).then_some(g.broker.id),
                error: is_error(g.err).then(|| kafka_error(g.err, None).to_string()),
                members,
            });
        }
        Ok(out)
    }
}

/// The controller's broker id, or `None` when it is not known in time.
pub(super) fn controller_id(rk: Rk, timeout: Duration) -> Option<i32> {
    // SAFETY: `rk` is a live client handle.
    let id = unsafe { rd::rd_kafka_controllerid(rk, millis(timeout)) };
    (id >= 0).then_some(id)
}

/// Every broker's id and rack, from DescribeCluster (the Metadata answer
/// carries racks too, but librdkafka's public metadata struct leaves them
/// out).
pub(super) fn broker_racks(
    rk: Rk,
    timeout: Duration,
) -> Result<Vec<(i32, Option<String>)>, AdminError> {
    // SAFETY: as in `describe_configs`; the nodes belong to the event, which
    // outlives this block.
    unsafe {
        let event = request(
            rk,
            rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DESCRIBECLUSTER,
            timeout,
            false,
            |options, queue| rd::rd_kafka_DescribeCluster(rk, options, queue),
        )?;
        let result = rd::rd_kafka_event_DescribeCluster_result(event.ptr);
        if result.is_null() {
            return Err(AdminError::Invalid(
                "DescribeCluster returned no result".into(),
            ));
        }
        let mut count = 0;
        let nodes = rd::rd_kafka_DescribeCluster_result_nodes(result, &mut count);
        if nodes.is_null() {
            return Ok(Vec::new());
        }
        Ok((0..count)
            .map(|i| {
                let node = *nodes.add(i);
                (
                    rd::rd_kafka_Node_id(node),
                    text(rd::rd_kafka_Node_rack(node)),
                )
            })
            .collect())
    }
}
