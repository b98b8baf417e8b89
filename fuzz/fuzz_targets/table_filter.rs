//! The table-filter grammar, and the parsed filter matching a name (`ferry_worker::fuzzing::table_filter`).
#![no_main]

libfuzzer_sys::fuzz_target!(|input: &[u8]| ferry_worker::fuzzing::table_filter(input));
