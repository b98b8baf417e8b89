//! Decoding a member's assignment as DescribeGroups returns it: the bytes of
//! Kafka's ConsumerProtocol `Assignment`, big-endian:
//!
//! ```text
//! version: int16
//! assigned_partitions: int32 count, then per topic:
//!     topic: int16 length + UTF-8 bytes
//!     partitions: int32 count, then int32 each
//! user_data: int32 length (-1 for null) + bytes   (ignored)
//! ```
//!
//! The layout of these fields is the same in every version so far (0-3), so
//! any version is read the same way.

/// The `(topic, partition)` pairs of an assignment, sorted. Empty bytes mean
/// no assignment (a member between rebalances).
pub fn decode_assignment(bytes: &[u8]) -> Result<Vec<(String, i32)>, String> {
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    let mut r = Reader { bytes, pos: 0 };
    let version = r.i16()?;
    if version < 0 {
        return Err(format!("negative assignment version {version}"));
    }
    let topics = r.count()?;
    let mut out = Vec::new();
    for _ in 0..topics {
        let len = r.i16()?;
        let len = usize::try_from(len).map_err(|_| "negative topic name length".to_owned())?;
        let name = String::from_utf8_lossy(r.take(len)?).into_owned();
        let partitions = r.count()?;
        for _ in 0..partitions {
            out.push((name.clone(), r.i32()?));
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|end| *end <= self.bytes.len())
            .ok_or_else(|| format!("assignment truncated at byte {}", self.pos))?;
        let slice = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(slice)
    }

    fn i16(&mut self) -> Result<i16, String> {
        let b = self.take(2)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }

    fn i32(&mut self) -> Result<i32, String> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// An array length; -1 (null) counts as empty. A count larger than the
    /// bytes left could hold is refused before anything is allocated.
    fn count(&mut self) -> Result<usize, String> {
        let n = self.i32()?;
        if n < 0 {
            return Ok(0);
        }
        let n = n as usize;
        if n > self.bytes.len() - self.pos {
            return Err(format!("array of {n} items cannot fit in the assignment"));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(topics: &[(&str, &[i32])]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend(1i16.to_be_bytes());
        b.extend((topics.len() as i32).to_be_bytes());
        for (name, parts) in topics {
            b.extend((name.len() as i16).to_be_bytes());
            b.extend(name.as_bytes());
            b.extend((parts.len() as i32).to_be_bytes());
            for p in *parts {
                b.extend(p.to_be_bytes());
            }
        }
        b.extend((-1i32).to_be_bytes());
        b
    }

    #[test]
    fn decodes_topics_and_partitions() {
        let bytes = encode(&[("orders", &[2, 0]), ("audit", &[1])]);
        assert_eq!(
            decode_assignment(&bytes).unwrap(),
            vec![
                ("audit".to_owned(), 1),
                ("orders".to_owned(), 0),
                ("orders".to_owned(), 2)
            ]
        );
        assert!(decode_assignment(&[]).unwrap().is_empty());
    }

    #[test]
    fn refuses_truncated_or_absurd_input() {
        let bytes = encode(&[("orders", &[0, 1])]);
        assert!(decode_assignment(&bytes[..bytes.len() - 9]).is_err());
        let mut huge = vec![0, 0];
        huge.extend(i32::MAX.to_be_bytes());
        assert!(decode_assignment(&huge).is_err());
        assert!(decode_assignment(&[0]).is_err());
    }
}
