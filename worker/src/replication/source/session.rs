//! The session state a QUERY event records (its status variables) that
//! decides how the server read the statement: the SQL mode and the character
//! sets. A DDL is lexed by ferry and replayed downstream under the same
//! state, so that both see the statement the upstream ran and nothing else.

use crate::replication::engine::ReplicationError;
use mysql_async::binlog::{
    StatusVarKey,
    events::{QueryEvent, StatusVarVal},
};

/// SQL mode bits as the binlog stores them (MySQL's and MariaDB's
/// `MODE_*` constants, which agree on every bit listed here).
const SQL_MODES: [(u64, &str); 31] = [
    (1, "REAL_AS_FLOAT"),
    (1 << 1, "PIPES_AS_CONCAT"),
    (1 << 2, "ANSI_QUOTES"),
    (1 << 3, "IGNORE_SPACE"),
    (1 << 4, "IGNORE_BAD_TABLE_OPTIONS"),
    (1 << 5, "ONLY_FULL_GROUP_BY"),
    (1 << 6, "NO_UNSIGNED_SUBTRACTION"),
    (1 << 7, "NO_DIR_IN_CREATE"),
    (1 << 8, "POSTGRESQL"),
    (1 << 9, "ORACLE"),
    (1 << 10, "MSSQL"),
    (1 << 11, "DB2"),
    (1 << 12, "MAXDB"),
    (1 << 13, "NO_KEY_OPTIONS"),
    (1 << 14, "NO_TABLE_OPTIONS"),
    (1 << 15, "NO_FIELD_OPTIONS"),
    (1 << 16, "MYSQL323"),
    (1 << 17, "MYSQL40"),
    (1 << 18, "ANSI"),
    (1 << 19, "NO_AUTO_VALUE_ON_ZERO"),
    (1 << 20, "NO_BACKSLASH_ESCAPES"),
    (1 << 21, "STRICT_TRANS_TABLES"),
    (1 << 22, "STRICT_ALL_TABLES"),
    (1 << 23, "NO_ZERO_IN_DATE"),
    (1 << 24, "NO_ZERO_DATE"),
    (1 << 25, "INVALID_DATES"),
    (1 << 26, "ERROR_FOR_DIVISION_BY_ZERO"),
    (1 << 27, "TRADITIONAL"),
    (1 << 29, "HIGH_NOT_PRECEDENCE"),
    (1 << 30, "NO_ENGINE_SUBSTITUTION"),
    (1 << 31, "PAD_CHAR_TO_FULL_LENGTH"),
];

/// `NO_AUTO_CREATE_USER`: only about GRANT, which ferry never replays, and
/// refused by MySQL 8, so it is left out of the mode set downstream.
const NO_AUTO_CREATE_USER: u64 = 1 << 28;

const ANSI_QUOTES: u64 = 1 << 2;
const NO_BACKSLASH_ESCAPES: u64 = 1 << 20;

/// Collations of the client character sets in which the second byte of a
/// multi-byte character can be `\` (0x5C): big5, sjis, gbk, cp932 and
/// gb18030 (with MariaDB's NOPAD variants). Under them the server and a
/// lexer reading UTF-8 disagree about where a string ends.
const UNSAFE_CLIENT_COLLATIONS: [u16; 19] = [
    1, 84, 1025, 1108, // big5
    13, 88, 1037, 1112, // sjis
    28, 87, 1052, 1111, // gbk
    95, 96, 1119, 1120, // cp932
    248, 249, 250, // gb18030
];

/// The character set ids of a QUERY event: the client's (how the statement's
/// bytes are read), the connection's collation and the server's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Charsets {
    pub client: u16,
    pub connection: u16,
    pub server: u16,
}

/// The statement-reading state of one QUERY event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct SessionVars {
    /// The raw `sql_mode` bits; `None` when the event did not record them
    /// (then the server's default applied, which has neither mode below).
    pub sql_mode: Option<u64>,
    pub charsets: Option<Charsets>,
}

impl SessionVars {
    /// Reads the status variables of `event`; ones that do not parse are
    /// treated as absent.
    pub fn of(event: &QueryEvent<'_>) -> SessionVars {
        let vars = event.status_vars();
        let sql_mode =
            vars.get_status_var(StatusVarKey::SqlMode)
                .and_then(|v| match v.get_value() {
                    Ok(StatusVarVal::SqlMode(flags)) => Some(flags.0),
                    _ => None,
                });
        let charsets =
            vars.get_status_var(StatusVarKey::Charset)
                .and_then(|v| match v.get_value() {
                    Ok(StatusVarVal::Charset {
                        charset_client,
                        collation_connection,
                        collation_server,
                    }) => Some(Charsets {
                        client: charset_client,
                        connection: collation_connection,
                        server: collation_server,
                    }),
                    _ => None,
                });
        SessionVars { sql_mode, charsets }
    }

    /// With `ANSI_QUOTES`, `"` quotes identifiers, not strings.
    pub fn ansi_quotes(&self) -> bool {
        self.sql_mode.is_some_and(|m| m & ANSI_QUOTES != 0)
    }

    /// With `NO_BACKSLASH_ESCAPES`, `\` is an ordinary character in strings.
    pub fn no_backslash_escapes(&self) -> bool {
        self.sql_mode.is_some_and(|m| m & NO_BACKSLASH_ESCAPES != 0)
    }

    /// The SQL mode as the names `SET sql_mode` takes. Bits without a name
    /// here change neither quoting nor escapes, so leaving them out cannot
    /// make the downstream read a statement differently as to where it ends.
    pub fn sql_mode_names(&self) -> Option<String> {
        let mode = self.sql_mode? & !NO_AUTO_CREATE_USER;
        let names: Vec<&str> = SQL_MODES
            .iter()
            .filter(|(bit, _)| mode & bit != 0)
            .map(|(_, name)| *name)
            .collect();
        Some(names.join(","))
    }

    /// Whether the client character set lets `\` hide inside a multi-byte
    /// character, which would make ferry's lexer misread the statement.
    pub fn unsafe_client_charset(&self) -> bool {
        self.charsets
            .is_some_and(|c| UNSAFE_CLIENT_COLLATIONS.contains(&c.client))
    }

    /// Refuses a DDL written in such a character set: ferry's lexer could not
    /// know where the server ends a string, nor which table the statement
    /// touches, so the changefeed stops rather than guess.
    pub fn check_lexable(&self) -> Result<(), ReplicationError> {
        match self.charsets {
            Some(c) if self.unsafe_client_charset() => Err(ReplicationError::Fatal(format!(
                "a DDL was written in a client character set (collation id {}) in which \
                 ferry cannot lex statements safely; apply it downstream by hand",
                c.client
            ))),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_are_named_and_read() {
        let vars = SessionVars {
            sql_mode: Some(NO_BACKSLASH_ESCAPES | ANSI_QUOTES | NO_AUTO_CREATE_USER | (1 << 21)),
            charsets: None,
        };
        assert!(vars.ansi_quotes() && vars.no_backslash_escapes());
        assert_eq!(
            vars.sql_mode_names().as_deref(),
            Some("ANSI_QUOTES,NO_BACKSLASH_ESCAPES,STRICT_TRANS_TABLES")
        );
        assert_eq!(SessionVars::default().sql_mode_names(), None);
        assert!(!SessionVars::default().no_backslash_escapes());
        let gbk = SessionVars {
            sql_mode: None,
            charsets: Some(Charsets {
                client: 28,
                connection: 28,
                server: 8,
            }),
        };
        assert!(gbk.unsafe_client_charset());
    }
}
