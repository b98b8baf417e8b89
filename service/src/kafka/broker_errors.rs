//! The last error a cluster's broker connections reported, so that "cluster
//! unreachable" can say why.
//!
//! librdkafka answers a request that found no usable broker with a generic
//! code (`BrokerTransportFailure`, a timeout). The cause, such as a refused
//! TLS certificate, a failed SASL login or a refused connection, is posted
//! only as an error event on the client's main queue, as text naming the
//! broker. rdkafka's admin client never serves that queue (it polls a queue
//! of its own for admin results), so its error and log events would also pile
//! up for the client's whole life. [`BrokerErrors::drain`] serves it: errors
//! are kept, logs go to `tracing`. The text holds addresses and librdkafka's
//! own words, never a configured secret.

use std::{
    ffi::CStr,
    sync::Mutex,
    time::{Duration, Instant},
};

use rdkafka::{bindings as rd, client::Client};

/// How long a broker error explains later failures. Longer than every
/// inspection timeout, so the error of the attempt that just failed counts.
const RECENT: Duration = Duration::from_secs(60);

#[derive(Default)]
pub struct BrokerErrors {
    last: Mutex<Option<(Instant, String)>>,
}

impl BrokerErrors {
    /// Takes every event waiting on the client's main queue, without waiting.
    pub fn drain<C: rdkafka::ClientContext>(&self, client: &Client<C>) {
        let rk = client.native_ptr();
        // SAFETY: `rk` is a live client for the duration of this call; the
        // queue handle and every event are destroyed below, on every path,
        // and the strings read from an event are copied before it is freed.
        unsafe {
            let queue = rd::rd_kafka_queue_get_main(rk);
            if queue.is_null() {
                return;
            }
            loop {
                let event = rd::rd_kafka_queue_poll(queue, 0);
                if event.is_null() {
                    break;
                }
                match rd::rd_kafka_event_type(event) {
                    rd::RD_KAFKA_EVENT_ERROR => {
                        let reason = text(rd::rd_kafka_event_error_string(event));
                        tracing::warn!(reason, "kafka broker error");
                        self.record(reason);
                    }
                    rd::RD_KAFKA_EVENT_LOG => {
                        let mut facility = std::ptr::null();
                        let mut message = std::ptr::null();
                        let mut level = 0;
                        if rd::rd_kafka_event_log(event, &mut facility, &mut message, &mut level)
                            == 0
                        {
                            tracing::warn!(
                                facility = text(facility),
                                level,
                                message = text(message),
                                "librdkafka"
                            );
                        }
                    }
                    _ => {}
                }
                rd::rd_kafka_event_destroy(event);
            }
            rd::rd_kafka_queue_destroy(queue);
        }
    }

    fn record(&self, reason: String) {
        *self.lock() = Some((Instant::now(), reason));
    }

    /// The last broker error, if one was reported within the last minute.
    pub fn recent(&self) -> Option<String> {
        self.lock()
            .as_ref()
            .filter(|(at, _)| at.elapsed() < RECENT)
            .map(|(_, reason)| reason.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(Instant, String)>> {
        self.last
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// An owned copy of a C string; empty for NULL.
///
/// # Safety
/// `ptr` is NULL or a valid NUL-terminated string.
unsafe fn text(ptr: *const std::ffi::c_char) -> String {
    if ptr.is_null() {
        return String::new();
    }
    // SAFETY: guaranteed by the caller.
    unsafe { CStr::from_ptr(ptr) }
        .to_string_lossy()
        .trim()
        .to_owned()
}
