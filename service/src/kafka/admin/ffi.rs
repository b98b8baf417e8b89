//! librdkafka admin calls that the `rdkafka` crate (0.39) does not wrap, made
//! through its raw bindings:
//!
//! - DescribeConfigs with each entry's synonyms and each resource's error (the
//!   crate drops both, and fails the whole call on a config source it does not
//!   know);
//! - in `ffi_groups`: ListConsumerGroupOffsets, ListOffsets (batched per
//!   leader) and the classic ListGroups + DescribeGroups with the
//!   coordinator's broker id.
//!
//! The request helpers are public for the worker's IncrementalAlterConfigs
//! (`ferry-worker`'s `kafka::alter_configs`): changing a cluster is the
//! worker's alone, and the API crate cannot call them (it does not depend on
//! rdkafka).
//!
//! Every function here blocks the calling thread for at most its timeout: the
//! request goes to a private queue that is polled with that timeout. Callers
//! run them on tokio's blocking pool. Everything librdkafka returns is copied
//! into owned Rust values before the native objects are freed, and every
//! native object is freed by a guard, on every path.

use std::{
    ffi::{CStr, CString, c_char, c_int},
    time::Duration,
};

use rdkafka::{bindings as rd, error::RDKafkaErrorCode};

use super::{AdminError, ConfigEntry, ConfigResource, ConfigSynonym};

pub type Rk = *mut rd::rd_kafka_t;

/// Frees a native object when dropped.
pub struct Guard<T> {
    pub ptr: *mut T,
    free: unsafe extern "C" fn(*mut T),
}

impl<T> Guard<T> {
    pub fn new(ptr: *mut T, free: unsafe extern "C" fn(*mut T)) -> Self {
        Self { ptr, free }
    }
}

impl<T> Drop for Guard<T> {
    fn drop(&mut self) {
        if !self.ptr.is_null() {
            // SAFETY: `ptr` came from the librdkafka constructor paired with
            // `free`, and nothing else frees it.
            unsafe { (self.free)(self.ptr) }
        }
    }
}

pub fn millis(timeout: Duration) -> c_int {
    c_int::try_from(timeout.as_millis()).unwrap_or(c_int::MAX)
}

/// An owned, lossily decoded copy of a C string; `None` for NULL.
///
/// # Safety
/// `ptr` is NULL or a valid NUL-terminated string.
pub unsafe fn text(ptr: *const c_char) -> Option<String> {
    if ptr.is_null() {
        None
    } else {
        // SAFETY: guaranteed by the caller.
        Some(
            unsafe { CStr::from_ptr(ptr) }
                .to_string_lossy()
                .into_owned(),
        )
    }
}

pub fn cstring(what: &str, value: &str) -> Result<CString, AdminError> {
    CString::new(value).map_err(|_| AdminError::Invalid(format!("{what} contains a NUL byte")))
}

pub fn kafka_error(code: rd::rd_kafka_resp_err_t, message: Option<String>) -> AdminError {
    let code = RDKafkaErrorCode::from(code);
    let message = message
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| code.to_string());
    AdminError::Kafka { code, message }
}

pub fn is_error(code: rd::rd_kafka_resp_err_t) -> bool {
    code != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR
}

/// Sends one admin request and waits for its result event. `start` receives
/// the options and the reply queue and must enqueue the request.
///
/// # Safety
/// `rk` is a live client handle; `start` must call a librdkafka admin function
/// with the arguments it is given.
pub unsafe fn request(
    rk: Rk,
    op: rd::rd_kafka_admin_op_t,
    timeout: Duration,
    validate_only: bool,
    start: impl FnOnce(*const rd::rd_kafka_AdminOptions_t, *mut rd::rd_kafka_queue_t),
) -> Result<Guard<rd::rd_kafka_event_t>, AdminError> {
    // SAFETY: `rk` is live (caller); the guards free what is created here.
    unsafe {
        let queue = Guard::new(rd::rd_kafka_queue_new(rk), rd::rd_kafka_queue_destroy);
        let options = Guard::new(
            rd::rd_kafka_AdminOptions_new(rk, op),
            rd::rd_kafka_AdminOptions_destroy,
        );
        if queue.ptr.is_null() || options.ptr.is_null() {
            return Err(AdminError::Invalid(
                "librdkafka refused to create an admin request".into(),
            ));
        }
        let mut errstr = [0 as c_char; 256];
        let err = rd::rd_kafka_AdminOptions_set_request_timeout(
            options.ptr,
            millis(timeout),
            errstr.as_mut_ptr(),
            errstr.len(),
        );
        if is_error(err) {
            return Err(kafka_error(err, text(errstr.as_ptr())));
        }
        if validate_only {
            let err = rd::rd_kafka_AdminOptions_set_validate_only(
                options.ptr,
                1,
                errstr.as_mut_ptr(),
                errstr.len(),
            );
            if is_error(err) {
                return Err(kafka_error(err, text(errstr.as_ptr())));
            }
        }
        // librdkafka copies the options and the request's arguments, and keeps
        // its own reference to the queue: dropping ours after a timeout is safe
        // and the late result is discarded.
        start(options.ptr, queue.ptr);
        let event = rd::rd_kafka_queue_poll(queue.ptr, millis(timeout + Duration::from_secs(1)));
        if event.is_null() {
            return Err(AdminError::Timeout(timeout));
        }
        let event = Guard::new(event, rd::rd_kafka_event_destroy);
        let err = rd::rd_kafka_event_error(event.ptr);
        if is_error(err) {
            return Err(kafka_error(
                err,
                text(rd::rd_kafka_event_error_string(event.ptr)),
            ));
        }
        Ok(event)
    }
}

pub fn native_resource(
    resource: &ConfigResource,
) -> Result<(rd::rd_kafka_ResourceType_t, CString), AdminError> {
    Ok(match resource {
        ConfigResource::Topic(name) => (
            rd::rd_kafka_ResourceType_t::RD_KAFKA_RESOURCE_TOPIC,
            cstring("topic name", name)?,
        ),
        ConfigResource::Broker(id) => (
            rd::rd_kafka_ResourceType_t::RD_KAFKA_RESOURCE_BROKER,
            cstring("broker id", &id.to_string())?,
        ),
        // librdkafka refuses a broker resource without a broker id.
        ConfigResource::ClusterDefault => {
            return Err(AdminError::Invalid(
                "librdkafka cannot address the cluster-wide broker configs".into(),
            ));
        }
    })
}

/// Kafka's names for config sources, as Confluent's API spells them.
fn source_name(source: rd::rd_kafka_ConfigSource_t) -> &'static str {
    use rd::rd_kafka_ConfigSource_t::*;
    match source {
        RD_KAFKA_CONFIG_SOURCE_DYNAMIC_TOPIC_CONFIG => "DYNAMIC_TOPIC_CONFIG",
        RD_KAFKA_CONFIG_SOURCE_DYNAMIC_BROKER_CONFIG => "DYNAMIC_BROKER_CONFIG",
        RD_KAFKA_CONFIG_SOURCE_DYNAMIC_DEFAULT_BROKER_CONFIG => "DYNAMIC_DEFAULT_BROKER_CONFIG",
        RD_KAFKA_CONFIG_SOURCE_STATIC_BROKER_CONFIG => "STATIC_BROKER_CONFIG",
        RD_KAFKA_CONFIG_SOURCE_DEFAULT_CONFIG => "DEFAULT_CONFIG",
        RD_KAFKA_CONFIG_SOURCE_GROUP_CONFIG => "GROUP_CONFIG",
        _ => "UNKNOWN",
    }
}

/// The error a resource of a DescribeConfigs or IncrementalAlterConfigs result
/// carries, if any.
///
/// # Safety
/// `resource` points into a live result event.
pub unsafe fn resource_error(resource: *const rd::rd_kafka_ConfigResource_t) -> Option<AdminError> {
    // SAFETY: guaranteed by the caller.
    unsafe {
        let err = rd::rd_kafka_ConfigResource_error(resource);
        is_error(err).then(|| {
            kafka_error(
                err,
                text(rd::rd_kafka_ConfigResource_error_string(resource)),
            )
        })
    }
}

/// DescribeConfigs of one resource, synonyms included. Sensitive values are
/// dropped here already, so that they never reach a caller.
pub(super) fn describe_configs(
    rk: Rk,
    resource: &ConfigResource,
    timeout: Duration,
) -> Result<Vec<ConfigEntry>, AdminError> {
    describe_configs_many(rk, std::slice::from_ref(resource), timeout)?
        .pop()
        .map_or_else(|| Ok(Vec::new()), |(_, described)| described)
}

/// DescribeConfigs of several resources of one type in one request, each
/// with its own outcome, by resource name. Sensitive values are dropped.
pub(super) fn describe_configs_many(
    rk: Rk,
    resources: &[ConfigResource],
    timeout: Duration,
) -> Result<Vec<DescribedResource>, AdminError> {
    let natives = resources
        .iter()
        .map(native_resource)
        .collect::<Result<Vec<_>, _>>()?;
    // SAFETY: `rk` is live for the call (the caller holds the client); every
    // pointer read below belongs to `event`, which outlives the reads.
    unsafe {
        let guards: Vec<_> = natives
            .iter()
            .map(|(restype, name)| {
                Guard::new(
                    rd::rd_kafka_ConfigResource_new(*restype, name.as_ptr()),
                    rd::rd_kafka_ConfigResource_destroy,
                )
            })
            .collect();
        let mut configs: Vec<_> = guards.iter().map(|g| g.ptr).collect();
        let event = request(
            rk,
            rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS,
            timeout,
            false,
            |options, queue| {
                rd::rd_kafka_DescribeConfigs(
                    rk,
                    configs.as_mut_ptr(),
                    configs.len(),
                    options,
                    queue,
                )
            },
        )?;
        let result = rd::rd_kafka_event_DescribeConfigs_result(event.ptr);
        if result.is_null() {
            return Err(AdminError::Invalid(
                "DescribeConfigs returned no result".into(),
            ));
        }
        let mut count = 0;
        let described = rd::rd_kafka_DescribeConfigs_result_resources(result, &mut count);
        if described.is_null() {
            return Ok(Vec::new());
        }
        Ok((0..count)
            .map(|i| {
                let resource = *described.add(i);
                let name = text(rd::rd_kafka_ConfigResource_name(resource)).unwrap_or_default();
                let entries = match resource_error(resource) {
                    Some(err) => Err(err),
                    None => Ok(config_entries(resource)),
                };
                (name, entries)
            })
            .collect())
    }
}

/// One resource of a DescribeConfigs answer: its name and its configs.
pub(super) type DescribedResource = (String, Result<Vec<ConfigEntry>, AdminError>);

/// The configs of one described resource, sensitive values dropped.
///
/// # Safety
/// `resource` points into a live DescribeConfigs result event.
unsafe fn config_entries(resource: *const rd::rd_kafka_ConfigResource_t) -> Vec<ConfigEntry> {
    // SAFETY: guaranteed by the caller; entries and synonyms belong to it.
    unsafe {
        let mut count = 0;
        let entries = rd::rd_kafka_ConfigResource_configs(resource, &mut count);
        let mut out = Vec::with_capacity(count);
        for i in 0..count {
            let entry = *entries.add(i);
            let is_sensitive = rd::rd_kafka_ConfigEntry_is_sensitive(entry) != 0;
            let mut synonym_count = 0;
            let synonyms = rd::rd_kafka_ConfigEntry_synonyms(entry, &mut synonym_count);
            let synonyms = (0..synonym_count)
                .map(|j| {
                    let synonym = *synonyms.add(j);
                    ConfigSynonym {
                        name: text(rd::rd_kafka_ConfigEntry_name(synonym)).unwrap_or_default(),
                        value: (!is_sensitive)
                            .then(|| text(rd::rd_kafka_ConfigEntry_value(synonym)))
                            .flatten(),
                        source: source_name(rd::rd_kafka_ConfigEntry_source(synonym)).to_owned(),
                    }
                })
                .collect();
            out.push(ConfigEntry {
                name: text(rd::rd_kafka_ConfigEntry_name(entry)).unwrap_or_default(),
                value: (!is_sensitive)
                    .then(|| text(rd::rd_kafka_ConfigEntry_value(entry)))
                    .flatten(),
                source: source_name(rd::rd_kafka_ConfigEntry_source(entry)).to_owned(),
                is_default: rd::rd_kafka_ConfigEntry_is_default(entry) != 0,
                is_read_only: rd::rd_kafka_ConfigEntry_is_read_only(entry) != 0,
                is_sensitive,
                synonyms,
            });
        }
        out
    }
}
