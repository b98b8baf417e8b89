//! ferry's own Kafka connection talking to a broker whose answers are the
//! input: framing, correlation, version negotiation, the SASL exchange
//! (`ferry_worker::fuzzing::kafka_wire`).
#![no_main]

libfuzzer_sys::fuzz_target!(|input: &[u8]| {
    let _ = ferry_worker::fuzzing::kafka_wire(input);
});
