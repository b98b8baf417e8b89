//! One connection to one broker: TCP or TLS, the ApiVersions exchange, an
//! optional SASL login, then requests framed as Kafka frames them (a 4-byte
//! big-endian length, the header, the body), one at a time.

use std::io;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::{
    error::ParseResponseErrorCode,
    messages::{
        ApiKey, ApiVersionsRequest, ApiVersionsResponse, RequestHeader, ResponseHeader,
        SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest,
        SaslHandshakeResponse, api_versions_response::ApiVersion,
    },
    protocol::{Decodable, Encodable, HeaderVersion, StrBytes},
};
use rsasl::prelude::{Mechname, SASLClient, SASLConfig};
use secrecy::ExposeSecret;
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt},
    net::TcpStream,
};
use tokio_rustls::{TlsConnector, rustls::pki_types::ServerName};

use super::{SaslLogin, WireError, WireTarget, tls};

/// Bigger answers are refused: no answer to ferry's requests comes close.
const MAX_RESPONSE: usize = 64 * 1024 * 1024;
/// SaslHandshake v1 announces that SaslAuthenticate requests follow.
const HANDSHAKE_VERSION: i16 = 1;
const AUTHENTICATE_VERSIONS: (i16, i16) = (0, 2);

pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

pub struct Connection {
    address: String,
    stream: Box<dyn Stream>,
    correlation_id: i32,
    versions: Vec<ApiVersion>,
}

impl Connection {
    /// Connects to the first bootstrap broker that answers, and logs in.
    pub async fn open(target: &WireTarget) -> Result<Self, WireError> {
        let tls = target.tls.as_ref().map(tls::connector).transpose()?;
        let mut last = WireError::Config("the cluster has no bootstrap servers".into());
        for address in &target.bootstrap {
            match Self::open_one(address, tls.as_ref(), target.sasl.as_ref()).await {
                Ok(conn) => return Ok(conn),
                // Another broker may be up; a refused login or a broker too
                // old will not be different on the next one.
                Err(err @ WireError::Connect { .. }) => last = err,
                Err(err) => return Err(err),
            }
        }
        Err(last)
    }

    async fn open_one(
        address: &str,
        tls: Option<&TlsConnector>,
        sasl: Option<&SaslLogin>,
    ) -> Result<Self, WireError> {
        let unreachable = |reason: String| WireError::Connect {
            address: address.to_owned(),
            reason,
        };
        let tcp = TcpStream::connect(address)
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        let _ = tcp.set_nodelay(true);
        let stream: Box<dyn Stream> = match tls {
            None => Box::new(tcp),
            Some(connector) => {
                let host = address.rsplit_once(':').map_or(address, |(h, _)| h);
                let host = host.trim_start_matches('[').trim_end_matches(']');
                let name = ServerName::try_from(host.to_owned())
                    .map_err(|e| WireError::Config(format!("broker address {address}: {e}")))?;
                let tls = connector
                    .connect(name, tcp)
                    .await
                    .map_err(|e| unreachable(format!("TLS handshake failed: {e}")))?;
                Box::new(tls)
            }
        };
        Self::over(address, stream, sasl).await
    }

    /// Speaks Kafka over `stream`, connected to the broker at `address`:
    /// the ApiVersions exchange and the login. Everything ferry reads from
    /// a broker passes through here and [`Connection::call`], which is what
    /// the `kafka_wire` fuzz target drives with a made-up broker.
    pub async fn over(
        address: &str,
        stream: Box<dyn Stream>,
        sasl: Option<&SaslLogin>,
    ) -> Result<Self, WireError> {
        let mut conn = Connection {
            address: address.to_owned(),
            stream,
            correlation_id: 0,
            versions: Vec::new(),
        };
        // Version 0: every broker since Kafka 0.10 answers it, in a form
        // every later broker still understands.
        let versions: ApiVersionsResponse = conn
            .call(ApiKey::ApiVersions, 0, &ApiVersionsRequest::default())
            .await?;
        if let Some(error) = versions.error_code.err() {
            return Err(conn.protocol_error(&format!("ApiVersions: {error}")));
        }
        conn.versions = versions.api_keys;
        if let Some(login) = sasl {
            conn.login(login).await?;
        }
        Ok(conn)
    }

    /// The highest version of `key` both sides speak.
    pub fn negotiate(&self, key: ApiKey, ours: (i16, i16)) -> Result<i16, WireError> {
        let theirs = self
            .versions
            .iter()
            .find(|v| v.api_key == key as i16)
            .ok_or_else(|| self.unsupported(key))?;
        let version = ours.1.min(theirs.max_version);
        if version < ours.0.max(theirs.min_version) {
            return Err(self.unsupported(key));
        }
        Ok(version)
    }

    fn unsupported(&self, key: ApiKey) -> WireError {
        WireError::Unsupported {
            address: self.address.clone(),
            what: format!("{key:?}"),
        }
    }

    pub fn protocol_error(&self, reason: &str) -> WireError {
        WireError::Protocol {
            address: self.address.clone(),
            reason: reason.to_owned(),
        }
    }

    /// Sends one request and reads its answer.
    pub async fn call<Req, Resp>(
        &mut self,
        key: ApiKey,
        version: i16,
        request: &Req,
    ) -> Result<Resp, WireError>
    where
        Req: Encodable + HeaderVersion,
        Resp: Decodable + HeaderVersion,
    {
        self.correlation_id += 1;
        let header = RequestHeader::default()
            .with_request_api_key(key as i16)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation_id)
            .with_client_id(Some(StrBytes::from_static_str("ferry")));
        let mut frame = BytesMut::new();
        frame.put_i32(0);
        header
            .encode(&mut frame, Req::header_version(version))
            .and_then(|()| request.encode(&mut frame, version))
            .map_err(|e| WireError::Config(format!("cannot encode {key:?}: {e}")))?;
        let length = i32::try_from(frame.len() - 4)
            .map_err(|_| WireError::Config(format!("{key:?} request too large")))?;
        frame[..4].copy_from_slice(&length.to_be_bytes());

        let address = self.address.clone();
        let lost = |e: io::Error| WireError::Connect {
            address: address.clone(),
            reason: e.to_string(),
        };
        self.stream.write_all(&frame).await.map_err(lost)?;
        self.stream.flush().await.map_err(lost)?;
        let length = self.stream.read_i32().await.map_err(lost)?;
        let length = usize::try_from(length)
            .ok()
            .filter(|&l| l <= MAX_RESPONSE)
            .ok_or_else(|| self.protocol_error(&format!("frame length {length}")))?;
        // Read what arrives rather than allocating the announced length up
        // front: four bytes from a broker must not cost ferry 64 MiB.
        let mut body = Vec::new();
        (&mut self.stream)
            .take(length as u64)
            .read_to_end(&mut body)
            .await
            .map_err(lost)?;
        if body.len() < length {
            return Err(lost(io::ErrorKind::UnexpectedEof.into()));
        }

        let mut body = Bytes::from(body);
        let answer =
            ResponseHeader::decode(&mut body, Resp::header_version(version)).and_then(|h| {
                check_array_length(key, version, &body)?;
                Ok((h, Resp::decode(&mut body, version)?))
            });
        let (header, response) =
            answer.map_err(|e| self.protocol_error(&format!("cannot decode {key:?}: {e}")))?;
        if header.correlation_id != self.correlation_id {
            return Err(self.protocol_error("the answer is to another request"));
        }
        Ok(response)
    }

    /// SaslHandshake, then SaslAuthenticate rounds until the mechanism is
    /// done (one for PLAIN, two for SCRAM).
    async fn login(&mut self, login: &SaslLogin) -> Result<(), WireError> {
        let address = self.address.clone();
        let failed = |reason: String| WireError::Login {
            address: address.clone(),
            reason,
        };
        let handshake: SaslHandshakeResponse = self
            .call(
                ApiKey::SaslHandshake,
                HANDSHAKE_VERSION,
                &SaslHandshakeRequest::default()
                    .with_mechanism(StrBytes::from_string(login.mechanism.clone())),
            )
            .await?;
        if let Some(error) = handshake.error_code.err() {
            let offered: Vec<&str> = handshake.mechanisms.iter().map(|m| m.as_str()).collect();
            return Err(failed(format!(
                "{error}; the broker offers {}",
                offered.join(", ")
            )));
        }
        let version = self.negotiate(ApiKey::SaslAuthenticate, AUTHENTICATE_VERSIONS)?;
        let config = SASLConfig::with_credentials(
            None,
            login.username.clone(),
            login.password.expose_secret().to_owned(),
        )
        .map_err(|e| failed(e.to_string()))?;
        let mechanism =
            Mechname::parse(login.mechanism.as_bytes()).map_err(|e| failed(e.to_string()))?;
        let scram = mechanism.as_str().starts_with("SCRAM-");
        let mut session = SASLClient::new(config)
            .start_suggested(&[mechanism])
            .map_err(|e| failed(e.to_string()))?;
        let mut input: Option<Bytes> = None;
        loop {
            let mut output = Vec::new();
            let state = session
                .step(input.as_deref(), &mut output)
                .map_err(|e| failed(e.to_string()))?;
            if state.has_sent_message() {
                let answer: SaslAuthenticateResponse = self
                    .call(
                        ApiKey::SaslAuthenticate,
                        version,
                        &SaslAuthenticateRequest::default().with_auth_bytes(output.into()),
                    )
                    .await?;
                if let Some(error) = answer.error_code.err() {
                    let message = answer.error_message.as_ref().map(|m| m.to_string());
                    return Err(failed(match message {
                        Some(m) if !m.is_empty() => format!("{error}: {m}"),
                        _ => error.to_string(),
                    }));
                }
                if scram {
                    check_scram_message(&answer.auth_bytes).map_err(failed)?;
                }
                input = Some(answer.auth_bytes);
            } else if !state.is_finished() {
                // Without a message sent no answer comes, and stepping again
                // on the same input would loop for ever.
                return Err(failed("the SASL exchange stalled".into()));
            }
            if state.is_finished() {
                return Ok(());
            }
        }
    }
}

/// Refuses an answer whose array claims more elements than its bytes could
/// hold, before kafka-protocol reads it: kafka-protocol 0.18 reserves room
/// for an array's declared length before reading any element, so ten bytes
/// claiming two billion ApiVersions entries made it ask for 64 GiB, and the
/// allocation failure aborted the worker (found by the `kafka_wire` fuzz
/// target; upstream kafka-protocol-rs PRs 152, 161 and 200 are open). Only
/// the answers ferry reads are checked, at their one top-level array (none
/// of them nests one); each element's smallest encoding bounds the count.
fn check_array_length(key: ApiKey, version: i16, body: &[u8]) -> Result<(), anyhow::Error> {
    // (bytes before the array, whether it is a compact array, smallest element)
    let (offset, compact, smallest) = match key {
        ApiKey::ApiVersions => (2, version >= 3, 6),
        ApiKey::SaslHandshake => (2, false, 2),
        ApiKey::IncrementalAlterConfigs => (4, version >= 1, 6),
        // An error code, an error message (null: two bytes, or one in a
        // compact string) and, when flexible, an empty tag buffer.
        ApiKey::CreateAcls => (4, version >= 2, 4),
        _ => return Ok(()),
    };
    let Some(rest) = body.get(offset..) else {
        // Too short to hold the array: kafka-protocol says so itself.
        return Ok(());
    };
    let (length, rest) = if compact {
        match unsigned_varint(rest) {
            // A compact array stores its length plus one; 0 is null.
            Some((n, rest)) => (u64::from(n.saturating_sub(1)), rest),
            None => return Ok(()),
        }
    } else {
        match rest {
            [a, b, c, d, rest @ ..] => (
                u64::try_from(i32::from_be_bytes([*a, *b, *c, *d])).unwrap_or(0),
                rest,
            ),
            _ => return Ok(()),
        }
    };
    if length.saturating_mul(smallest) > rest.len() as u64 {
        anyhow::bail!("an array of {length} elements in {} bytes", rest.len());
    }
    Ok(())
}

/// Kafka's unsigned varint at the start of `bytes`, read as kafka-protocol
/// reads it (at most five bytes, the fifth taken whole even with its
/// continuation bit set: the `kafka_wire` fuzz target found a length that
/// stricter reading let through), and what follows it.
fn unsigned_varint(bytes: &[u8]) -> Option<(u32, &[u8])> {
    let mut value = 0u32;
    for (i, byte) in bytes.iter().take(5).enumerate() {
        value |= u32::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 || i == 4 {
            return Some((value, &bytes[i + 1..]));
        }
    }
    None
}

/// The most PBKDF2 iterations a broker may ask for: Kafka's own maximum
/// (`ScramMechanism`'s 16384). A broker asking for billions would keep the
/// worker hashing for hours.
const MAX_SCRAM_ITERATIONS: u32 = 16_384;

/// Checks a SCRAM server message before rsasl reads it. RFC 5802 makes
/// every attribute a letter, `=` and a value; rsasl 2.3 slices the first two
/// bytes of each attribute it reads without checking that there are two
/// (an empty server-final message, or `r=..,s`, panics it), so a message
/// of another shape is refused here. An iteration count (`i=`) above
/// [`MAX_SCRAM_ITERATIONS`] is refused too.
pub(super) fn check_scram_message(message: &[u8]) -> Result<(), String> {
    for attribute in message.split(|b| *b == b',') {
        let [name, b'=', value @ ..] = attribute else {
            return Err("malformed SCRAM message from the broker".into());
        };
        if !name.is_ascii_alphabetic() {
            return Err("malformed SCRAM message from the broker".into());
        }
        if *name == b'i' {
            let iterations = std::str::from_utf8(value)
                .ok()
                .and_then(|v| v.parse::<u32>().ok());
            if iterations.is_none_or(|i| i == 0 || i > MAX_SCRAM_ITERATIONS) {
                return Err(format!(
                    "the broker asks for a SCRAM iteration count other than 1 to \
                     {MAX_SCRAM_ITERATIONS}"
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn scram_messages_are_checked_before_rsasl_reads_them() {
        assert!(check_scram_message(b"r=abc,s=c2FsdA==,i=4096").is_ok());
        assert!(check_scram_message(b"v=c2lnbmF0dXJl").is_ok());
        for bad in [
            &b""[..],
            b"r=abc,s",
            b"v",
            b"r=abc,,i=1",
            b"1=x",
            b"r=abc,s=c2FsdA==,i=4294967295",
            b"r=abc,s=c2FsdA==,i=16385",
            b"r=abc,s=c2FsdA==,i=0",
        ] {
            assert!(check_scram_message(bad).is_err(), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn any_scram_message_is_checked_without_panicking(message in prop::collection::vec(any::<u8>(), 0..64)) {
            let _ = check_scram_message(&message);
        }
    }
}
