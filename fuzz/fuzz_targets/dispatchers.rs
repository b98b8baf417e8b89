//! A changefeed's Kafka downstream as JSON, dispatcher rules included (`ferry_worker::fuzzing::dispatchers`).
#![no_main]

libfuzzer_sys::fuzz_target!(|input: &[u8]| ferry_worker::fuzzing::dispatchers(input));
