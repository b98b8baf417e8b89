//! MariaDB's own binlog events, which mysql_common does not decode: GTID
//! (162) and GTID_LIST (163), and the compressed events (165-171) that ferry
//! refuses. Also the GTID position (`domain-server-seq,...`) they build up.

use std::{collections::BTreeMap, fmt};

/// MariaDB event type codes.
pub(crate) const ANNOTATE_ROWS: u8 = 160;
pub(crate) const BINLOG_CHECKPOINT: u8 = 161;
pub(crate) const GTID: u8 = 162;
pub(crate) const GTID_LIST: u8 = 163;
pub(crate) const START_ENCRYPTION: u8 = 164;

/// Whether `event_type` is one of MariaDB's compressed events
/// (`log_bin_compress=ON`): QUERY_COMPRESSED and the six compressed rows
/// events. ferry cannot decode them, and skipping one would lose changes.
pub(crate) fn is_compressed(event_type: u8) -> bool {
    (165..=171).contains(&event_type)
}

/// A GTID event's flag: the transaction is a single statement with no
/// terminating COMMIT or XID event (DDL, non-transactional writes).
const FL_STANDALONE: u8 = 1;
/// A GTID event's flag: an 8-byte commit id follows the flags.
const FL_GROUP_COMMIT_ID: u8 = 2;

/// One MariaDB GTID: `domain-server-seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Gtid {
    pub domain: u32,
    pub server: u32,
    pub seq: u64,
}

/// The start of a MariaDB transaction (event type 162).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct GtidEvent {
    pub gtid: Gtid,
    /// No COMMIT/XID follows: the next statement is the whole transaction.
    pub standalone: bool,
}

/// Decodes a GTID event's body; `server` comes from the event header.
pub(crate) fn parse_gtid(data: &[u8], server: u32) -> Result<GtidEvent, String> {
    if data.len() < 13 {
        return Err(format!("GTID event of {} bytes is too short", data.len()));
    }
    let seq = u64::from_le_bytes(data[0..8].try_into().expect("8 bytes"));
    let domain = u32::from_le_bytes(data[8..12].try_into().expect("4 bytes"));
    let flags = data[12];
    if flags & FL_GROUP_COMMIT_ID != 0 && data.len() < 21 {
        return Err("GTID event announces a commit id but is too short".into());
    }
    Ok(GtidEvent {
        gtid: Gtid {
            domain,
            server,
            seq,
        },
        standalone: flags & FL_STANDALONE != 0,
    })
}

/// Decodes a GTID_LIST event's body: the binlog state at the start of a file.
pub(crate) fn parse_gtid_list(data: &[u8]) -> Result<Vec<Gtid>, String> {
    if data.len() < 4 {
        return Err("GTID_LIST event is too short".into());
    }
    // The top four bits of the count are flags.
    let count =
        (u32::from_le_bytes(data[0..4].try_into().expect("4 bytes")) & 0x0fff_ffff) as usize;
    let body = &data[4..];
    if body.len() < count * 16 {
        return Err(format!(
            "GTID_LIST event announces {count} GTIDs but holds {} bytes",
            body.len()
        ));
    }
    Ok(body
        .chunks_exact(16)
        .take(count)
        .map(|c| Gtid {
            domain: u32::from_le_bytes(c[0..4].try_into().expect("4 bytes")),
            server: u32::from_le_bytes(c[4..8].try_into().expect("4 bytes")),
            seq: u64::from_le_bytes(c[8..16].try_into().expect("8 bytes")),
        })
        .collect())
}

/// The name in the first (fake) ROTATE event. The server sends it before
/// the format description, so the reader does not yet know that events end
/// with a 4-byte CRC32 and leaves it on the name.
pub(crate) fn fake_rotate_name(raw: &[u8], checksum: bool) -> String {
    let name = if checksum && raw.len() > 4 {
        &raw[..raw.len() - 4]
    } else {
        raw
    };
    String::from_utf8_lossy(name).into_owned()
}

/// A MariaDB GTID position: the last GTID of each replication domain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct GtidState(BTreeMap<u32, (u32, u64)>);

impl GtidState {
    /// Parses `0-1-100,1-2-7`; an empty string is the empty position.
    pub fn parse(s: &str) -> Result<GtidState, String> {
        let mut state = BTreeMap::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let fields: Vec<&str> = part.split('-').collect();
            let parsed = match fields.as_slice() {
                [d, s, n] => d
                    .parse::<u32>()
                    .ok()
                    .zip(s.parse::<u32>().ok())
                    .zip(n.parse::<u64>().ok()),
                _ => None,
            };
            let ((domain, server), seq) = parsed
                .ok_or_else(|| format!("`{part}` is not a MariaDB GTID (domain-server-seq)"))?;
            state.insert(domain, (server, seq));
        }
        Ok(GtidState(state))
    }

    pub fn apply(&mut self, gtid: Gtid) {
        self.0.insert(gtid.domain, (gtid.server, gtid.seq));
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for GtidState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (domain, (server, seq))) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{domain}-{server}-{seq}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_gtid_events() {
        let mut data = Vec::new();
        data.extend_from_slice(&42u64.to_le_bytes());
        data.extend_from_slice(&3u32.to_le_bytes());
        data.push(FL_STANDALONE);
        data.extend_from_slice(&[0; 6]);
        let ev = parse_gtid(&data, 9).unwrap();
        assert_eq!(
            ev.gtid,
            Gtid {
                domain: 3,
                server: 9,
                seq: 42
            }
        );
        assert!(ev.standalone);
        assert!(parse_gtid(&data[..5], 9).is_err());
    }

    #[test]
    fn parses_gtid_lists() {
        let mut data = 2u32.to_le_bytes().to_vec();
        for (d, s, n) in [(0u32, 1u32, 10u64), (1, 2, 5)] {
            data.extend_from_slice(&d.to_le_bytes());
            data.extend_from_slice(&s.to_le_bytes());
            data.extend_from_slice(&n.to_le_bytes());
        }
        let list = parse_gtid_list(&data).unwrap();
        assert_eq!(list.len(), 2);
        let mut state = GtidState::default();
        list.into_iter().for_each(|g| state.apply(g));
        assert_eq!(state.to_string(), "0-1-10,1-2-5");
        assert!(parse_gtid_list(&data[..20]).is_err());
    }

    #[test]
    fn gtid_positions_round_trip() {
        let state = GtidState::parse("1-2-7, 0-1-100").unwrap();
        assert_eq!(state.to_string(), "0-1-100,1-2-7");
        assert!(GtidState::parse("").unwrap().is_empty());
        assert!(GtidState::parse("0-1").is_err());
    }

    #[test]
    fn strips_the_crc_from_the_fake_rotate() {
        assert_eq!(
            fake_rotate_name(b"binlog.000001\x01\x02\x03\x04", true),
            "binlog.000001"
        );
        assert_eq!(fake_rotate_name(b"binlog.000001", false), "binlog.000001");
    }

    #[test]
    fn recognises_compressed_events() {
        assert!(is_compressed(165));
        assert!(is_compressed(171));
        assert!(!is_compressed(GTID));
    }
}
