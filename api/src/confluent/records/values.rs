//! The JSON values of a records body: read whole (`split_values`) or as
//! they arrive (`read_values`), one value after another with any whitespace
//! between them.

use futures::{Stream, StreamExt};
use poem::Body;
use serde_json::Value;

/// Every JSON value of a body known in full; a value that does not parse
/// ends the list with its error.
pub fn split_values(bytes: &[u8]) -> Vec<Result<Value, String>> {
    let mut values = Vec::new();
    for value in serde_json::Deserializer::from_slice(bytes).into_iter::<Value>() {
        match value {
            Ok(v) => values.push(Ok(v)),
            Err(e) => {
                values.push(Err(format!("the record does not parse: {e}")));
                break;
            }
        }
    }
    values
}

/// The JSON values of a body read as it arrives. A value longer than `max`
/// bytes, or one that does not parse, ends the stream with its error.
pub fn read_values(body: Body, max: usize) -> impl Stream<Item = Result<Value, String>> + Send {
    let chunks = body.into_bytes_stream();
    futures::stream::unfold(
        (chunks, Vec::<u8>::new(), false),
        move |(mut chunks, mut buf, ended)| async move {
            loop {
                if ended && buf.iter().all(u8::is_ascii_whitespace) {
                    return None;
                }
                let mut values = serde_json::Deserializer::from_slice(&buf).into_iter::<Value>();
                match values.next() {
                    Some(Ok(value)) => {
                        let used = values.byte_offset();
                        buf.drain(..used);
                        return Some((Ok(value), (chunks, buf, ended)));
                    }
                    Some(Err(e)) if !e.is_eof() || ended => {
                        let message = format!("the record does not parse: {e}");
                        return Some((Err(message), (chunks, Vec::new(), true)));
                    }
                    _ if buf.len() > max => {
                        let message =
                            format!("a record is larger than the {max} bytes ferry accepts");
                        return Some((Err(message), (chunks, Vec::new(), true)));
                    }
                    _ => {}
                }
                match chunks.next().await {
                    Some(Ok(chunk)) => buf.extend_from_slice(&chunk),
                    Some(Err(e)) => {
                        let message = format!("the request body could not be read: {e}");
                        return Some((Err(message), (chunks, Vec::new(), true)));
                    }
                    None => {
                        return next_after_end(chunks, buf);
                    }
                }
            }
        },
    )
}

type Unfolded<S> = Option<(Result<Value, String>, (S, Vec<u8>, bool))>;

/// The body ended: what is left in the buffer is the last value, if any.
fn next_after_end<S>(chunks: S, buf: Vec<u8>) -> Unfolded<S> {
    if buf.iter().all(u8::is_ascii_whitespace) {
        return None;
    }
    match serde_json::from_slice::<Value>(&buf) {
        Ok(value) => Some((Ok(value), (chunks, Vec::new(), true))),
        Err(e) => Some((
            Err(format!("the record does not parse: {e}")),
            (chunks, Vec::new(), true),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_known_in_full_splits_into_its_values() {
        let values = split_values(b"{\"a\":1}\n{\"a\":2} {\"a\":");
        assert_eq!(values.len(), 3);
        assert_eq!(values[0], Ok(serde_json::json!({ "a": 1 })));
        assert_eq!(values[1], Ok(serde_json::json!({ "a": 2 })));
        assert!(values[2].is_err());
    }

    #[tokio::test]
    async fn values_split_across_chunks_are_read_whole() {
        let chunks = ["{\"a\"", ":1}\n{", "\"a\":2}", "\n  "];
        let body = Body::from_bytes_stream(futures::stream::iter(
            chunks.map(|c| Ok::<_, std::io::Error>(c.to_owned())),
        ));
        let values: Vec<_> = read_values(body, 1024).collect().await;
        assert_eq!(
            values,
            vec![
                Ok(serde_json::json!({ "a": 1 })),
                Ok(serde_json::json!({ "a": 2 }))
            ]
        );
    }

    #[tokio::test]
    async fn a_value_past_the_limit_ends_the_stream() {
        let body = Body::from_string(format!("{{\"a\":\"{}", "x".repeat(100)));
        let values: Vec<_> = read_values(body, 50).collect().await;
        assert_eq!(values.len(), 1);
        assert!(
            values[0].as_ref().is_err_and(|e| e.contains("larger than")),
            "{values:?}"
        );
    }
}
