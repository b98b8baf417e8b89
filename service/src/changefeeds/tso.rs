//! TiDB timestamps (TSO): `physical_ms << 18 | logical`.

/// The TSO of a wall-clock instant in milliseconds.
pub fn from_unix_ms(ms: u64) -> u64 {
    ms << 18
}

/// The wall-clock milliseconds of a TSO.
pub fn to_unix_ms(tso: u64) -> u64 {
    tso >> 18
}

/// The TSO of an event whose binlog header says `seconds`, with `logical`
/// ordering events that share a second.
pub fn from_binlog(seconds: u32, logical: u64) -> u64 {
    from_unix_ms(u64::from(seconds) * 1000) | (logical & ((1 << 18) - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_milliseconds() {
        let ms = 1_642_402_879_000;
        assert_eq!(to_unix_ms(from_unix_ms(ms)), ms);
        assert_eq!(from_unix_ms(ms), 430_546_060_312_576_000);
    }
}
