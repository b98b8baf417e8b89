//! Connections to MySQL-protocol servers and the classification of their
//! errors into retryable and fatal ones.

use std::time::Duration;

use mysql_async::{Conn, Error as MyError, OptsBuilder, SslOpts};
use secrecy::ExposeSecret;

use crate::replication::engine::{MysqlEndpoint, ReplicationError};

/// The largest packet the client accepts. Binlog events of rows with big
/// BLOBs are bigger than the server's default `max_allowed_packet`, and a
/// packet over the client's limit ends the stream, so take the protocol's
/// maximum.
const MAX_PACKET: usize = 1 << 30;

/// How long a connection attempt may take before it counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Server error codes that mean the same request can pass later.
const RETRYABLE_CODES: &[u16] = &[
    1040, // too many connections
    1053, // server shutdown in progress
    1152, // aborted connection
    1159, // net read timeout
    1161, // net write timeout
    1205, // lock wait timeout
    1213, // deadlock
    1317, // query interrupted
    2006, // server has gone away
    2013, // lost connection during query
    8027, // TiDB: information schema changed, retry the transaction
    9007, // TiDB: write conflict
];

/// Connection options for `ep`. `init` statements run on every new
/// connection.
pub(crate) fn opts(ep: &MysqlEndpoint, init: Vec<String>) -> OptsBuilder {
    let mut builder = OptsBuilder::default()
        .ip_or_hostname(ep.host.clone())
        .tcp_port(ep.port)
        .user(Some(ep.user.clone()))
        .pass(ep.password.as_ref().map(|p| p.expose_secret().to_owned()))
        .prefer_socket(false)
        .max_allowed_packet(Some(MAX_PACKET))
        .tcp_keepalive(Some(Duration::from_secs(30)))
        .stmt_cache_size(Some(16))
        .init(init);
    if let Some(tls) = &ep.tls {
        let mut ssl = SslOpts::default()
            .with_danger_accept_invalid_certs(tls.insecure_skip_verify)
            .with_danger_skip_domain_validation(tls.insecure_skip_verify);
        if let Some(ca) = &tls.ca_pem {
            ssl = ssl.with_root_certs(vec![ca.clone().into_bytes().into()]);
        }
        builder = builder.ssl_opts(Some(ssl));
    }
    builder
}

/// Connects to `ep` within [`CONNECT_TIMEOUT`]. `role` ("upstream" or
/// "downstream") goes into error messages, which never contain the password.
pub(crate) async fn connect(
    ep: &MysqlEndpoint,
    role: &str,
    init: Vec<String>,
) -> Result<Conn, ReplicationError> {
    match tokio::time::timeout(CONNECT_TIMEOUT, Conn::new(opts(ep, init))).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(classify(
            &e,
            &format!("cannot connect to the {role} {}", describe(ep)),
        )),
        Err(_) => Err(ReplicationError::Retryable(format!(
            "cannot connect to the {role} {}: no answer within {}s",
            describe(ep),
            CONNECT_TIMEOUT.as_secs()
        ))),
    }
}

/// `user@host:port`, for messages.
pub(crate) fn describe(ep: &MysqlEndpoint) -> String {
    format!("{}@{}:{}", ep.user, ep.host, ep.port)
}

/// The server error code of `e`, if the server answered with an error.
pub(crate) fn server_code(e: &MyError) -> Option<u16> {
    match e {
        MyError::Server(se) => Some(se.code),
        _ => None,
    }
}

/// Whether `e` can pass when the same work is tried again later: lost
/// connections, I/O errors, deadlocks, lock wait timeouts, an overloaded
/// server.
pub(crate) fn is_retryable(e: &MyError) -> bool {
    match e {
        MyError::Io(_) => true,
        MyError::Driver(_) => true,
        MyError::Server(se) => RETRYABLE_CODES.contains(&se.code),
        MyError::Other(_) | MyError::Url(_) => false,
    }
}

/// Server errors whose messages hold names (of tables, columns, keys,
/// databases, users) and fixed text, but never a value from a row or a
/// statement: these are shown as the server wrote them.
const NAMES_ONLY_CODES: &[u16] = &[
    1007, 1008, 1040, 1044, 1045, 1046, 1049, 1050, 1051, 1053, 1054, 1060, 1061, 1091, 1115, 1142,
    1143, 1146, 1152, 1159, 1161, 1205, 1213, 1236, 1273, 1317, 1826, 2006, 2013,
];

/// 1062 and 1586: a duplicate entry for a unique key (the message quotes
/// the entry, a row's value).
pub(crate) const DUPLICATE_KEY_CODES: [u16; 2] = [1062, 1586];

/// `e` for an error message or a log line, without any value it may quote.
/// A server error outside [`NAMES_ONLY_CODES`] is shown by its code and
/// SQLSTATE only: messages such as "Duplicate entry 'x' for key 'k'" or
/// "Incorrect integer value: 'x'" quote the row being written, which must
/// stay out of stored errors and logs.
pub(crate) fn describe_error(e: &MyError) -> String {
    match e {
        MyError::Server(se) if NAMES_ONLY_CODES.contains(&se.code) => {
            format!("{} (error {})", se.message, se.code)
        }
        MyError::Server(se) if DUPLICATE_KEY_CODES.contains(&se.code) => match duplicate_key(e) {
            Some(key) => format!("duplicate key, key {key} (error {})", se.code),
            None => format!("duplicate key (error {})", se.code),
        },
        MyError::Server(se) => format!(
            "the server refused it with error {} (SQLSTATE {})",
            se.code, se.state
        ),
        other => other.to_string(),
    }
}

/// The key a duplicate-entry error names. The server writes "Duplicate entry
/// '<value>' for key '<key>'" and reports the key nowhere else, so it is read
/// from the message's end: the last " for key '" is the key's, whatever the
/// value holds, since the value comes first.
pub(crate) fn duplicate_key(e: &MyError) -> Option<String> {
    match e {
        MyError::Server(se) if DUPLICATE_KEY_CODES.contains(&se.code) => {
            let (_, key) = se.message.rsplit_once(" for key '")?;
            Some(key.strip_suffix('\'').unwrap_or(key).to_owned())
        }
        _ => None,
    }
}

/// `context: error` as a retryable or fatal [`ReplicationError`], the error
/// shown by [`describe_error`].
pub(crate) fn classify(e: &MyError, context: &str) -> ReplicationError {
    let message = format!("{context}: {}", describe_error(e));
    if is_retryable(e) {
        ReplicationError::Retryable(message)
    } else {
        ReplicationError::Fatal(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mysql_async::ServerError;

    fn server(code: u16) -> MyError {
        MyError::Server(ServerError {
            code,
            message: "m".into(),
            state: "HY000".into(),
        })
    }

    #[test]
    fn values_quoted_by_the_server_are_not_shown() {
        let duplicate = MyError::Server(ServerError {
            code: 1062,
            message: "Duplicate entry 'secret-42' for key 'PRIMARY'".into(),
            state: "23000".into(),
        });
        let shown = classify(&duplicate, "write failed").to_string();
        assert_eq!(
            shown,
            "write failed: duplicate key, key PRIMARY (error 1062)"
        );
        let incorrect = MyError::Server(ServerError {
            code: 1366,
            message: "Incorrect integer value: 'secret-43' for column `a`".into(),
            state: "22007".into(),
        });
        assert!(!describe_error(&incorrect).contains("secret-43"));
    }

    #[test]
    fn deadlocks_and_timeouts_are_retryable() {
        assert!(is_retryable(&server(1213)));
        assert!(is_retryable(&server(1205)));
        assert!(!is_retryable(&server(1146)));
        assert!(!is_retryable(&server(1236)));
        assert!(matches!(
            classify(&server(1054), "x"),
            ReplicationError::Fatal(_)
        ));
    }
}
