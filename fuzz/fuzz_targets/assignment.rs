//! The consumer-assignment decoder (`ferry_worker::fuzzing::assignment`).
#![no_main]

libfuzzer_sys::fuzz_target!(|input: &[u8]| ferry_worker::fuzzing::assignment(input));
