//! A binlog stream from a MySQL or MariaDB server, decoded into the events
//! ferry acts on, each with the binlog position it ends at.

use std::{collections::HashMap, sync::Arc, time::Duration};

use futures::StreamExt;
use mysql_async::{
    BinlogStream, BinlogStreamRequest,
    binlog::events::{Event, EventData, RowsEventData, TableMapEvent},
    prelude::Queryable,
};

use super::{
    conn,
    mariadb::{self, Gtid, GtidEvent},
    row::{Charsets, RowChange, TableInfo},
    session::SessionVars,
};
use crate::replication::engine::{MysqlEndpoint, ReplicationError};
use ferry_service::changefeeds::filter::TableFilter;

/// How often MariaDB and MySQL send a heartbeat on an idle stream.
const HEARTBEAT_PERIOD: Duration = Duration::from_secs(1);

/// One decoded event.
#[derive(Debug)]
pub(crate) enum Decoded {
    /// The format description that starts every binlog file.
    FormatDescription,
    /// The stream moved to another file (`Positioned::file`).
    Rotate,
    /// A MariaDB transaction starts.
    Gtid(GtidEvent),
    /// The GTID position at the start of a MariaDB binlog file.
    GtidList(Vec<Gtid>),
    /// A MySQL transaction starts (MySQL's GTID or anonymous GTID event).
    MysqlGtid,
    Query {
        schema: String,
        sql: Vec<u8>,
        /// How the upstream read `sql` (its SQL mode and character sets).
        session: SessionVars,
    },
    /// Row changes of tables the filter keeps (possibly none).
    Rows(Vec<RowChange>),
    /// The commit of a transactional transaction.
    Xid,
    /// MySQL/MariaDB XA PREPARE: the end of an XA transaction's changes.
    XaPrepare,
    /// The upstream is idle.
    Heartbeat,
    /// Nothing ferry needs (table maps, annotations, checkpoints, ...).
    Ignored,
}

/// A decoded event and where it is in the binlog.
#[derive(Debug)]
pub(crate) struct Positioned {
    pub event: Decoded,
    /// The file the event is in (after a rotate: the new file).
    pub file: Arc<str>,
    /// Where the next event starts.
    pub end: u64,
    /// The event header's timestamp (seconds since the epoch).
    pub timestamp: u32,
    /// Made up by the server for this stream (the first rotate, a re-sent
    /// format description): not at a position of the binlog.
    pub artificial: bool,
}

pub(crate) struct ReaderOptions {
    pub server_id: u32,
    pub file: String,
    pub position: u64,
    /// Stop at the current end of the binlog instead of waiting for more.
    pub non_blocking: bool,
    /// Decode rows only for tables this filter keeps; `None`: decode no rows.
    pub filter: Option<Arc<TableFilter>>,
    /// Give up when the stream is silent this long (heartbeats count).
    pub idle_timeout: Option<Duration>,
}

pub(crate) struct BinlogReader {
    stream: BinlogStream,
    file: Arc<str>,
    position: u64,
    checksum: bool,
    seen_format_description: bool,
    charsets: Charsets,
    /// Table id -> its table map and what it says (`None`: the filter drops
    /// the table). Cleared at each binlog file, as table ids are.
    tables: HashMap<u64, (TableMapEvent<'static>, Option<Arc<TableInfo>>)>,
    filter: Option<Arc<TableFilter>>,
    idle_timeout: Option<Duration>,
}

impl BinlogReader {
    /// Connects to `ep` and requests its binlog from `opts.file`:`opts.position`.
    pub async fn open(
        ep: &MysqlEndpoint,
        opts: ReaderOptions,
    ) -> Result<BinlogReader, ReplicationError> {
        let init = vec![
            // Without this MariaDB replaces its GTID events with dummy queries.
            "SET @mariadb_slave_capability = 4".to_owned(),
            format!(
                "SET @master_heartbeat_period = {}",
                HEARTBEAT_PERIOD.as_nanos()
            ),
        ];
        let mut conn = conn::connect(ep, "upstream", init).await?;
        let checksum: Option<String> = conn
            .query_first("SELECT @@global.binlog_checksum")
            .await
            .map_err(|e| conn::classify(&e, "cannot read the upstream's binlog_checksum"))?;
        let checksum = checksum.is_some_and(|c| !c.eq_ignore_ascii_case("NONE"));
        let charsets = read_charsets(&mut conn).await?;
        let mut request = BinlogStreamRequest::new(opts.server_id)
            .with_filename(opts.file.as_bytes())
            .with_pos(opts.position);
        if opts.non_blocking {
            request = request.with_non_blocking();
        }
        let stream = conn
            .get_binlog_stream(request)
            .await
            .map_err(|e| stream_error(&e, &opts.file, opts.position))?;
        Ok(BinlogReader {
            stream,
            file: Arc::from(opts.file.as_str()),
            position: opts.position,
            checksum,
            seen_format_description: false,
            charsets,
            tables: HashMap::new(),
            filter: opts.filter,
            idle_timeout: opts.idle_timeout,
        })
    }

    /// The next event, or `None` at the end of a non-blocking stream.
    pub async fn next(&mut self) -> Result<Option<Positioned>, ReplicationError> {
        let next = match self.idle_timeout {
            Some(limit) => tokio::time::timeout(limit, self.stream.next())
                .await
                .map_err(|_| {
                    ReplicationError::Retryable(format!(
                        "the upstream sent nothing, not even a heartbeat, for {}s",
                        limit.as_secs()
                    ))
                })?,
            None => self.stream.next().await,
        };
        let event = match next {
            None => return Ok(None),
            Some(Ok(event)) => event,
            Some(Err(e)) => return Err(stream_error(&e, &self.file, self.position)),
        };
        self.decode(event).map(Some)
    }

    /// Closes the connection.
    pub async fn close(self) {
        let _ = self.stream.close().await;
    }

    fn decode(&mut self, event: Event) -> Result<Positioned, ReplicationError> {
        let header = event.header();
        let event_type = header.event_type_raw();
        let log_pos = u64::from(header.log_pos());
        let at = format!("{}:{}", self.file, self.position);
        let fatal = move |what: String| ReplicationError::Fatal(format!("{what} at {at}"));
        // Artificial events (the first rotate, a re-sent format description)
        // have no position of their own.
        let end = if log_pos == 0 { self.position } else { log_pos };

        if mariadb::is_compressed(event_type) {
            return Err(fatal(format!(
                "compressed binlog event (type {event_type}): ferry cannot decode them; set \
                 log_bin_compress=OFF on the upstream"
            )));
        }
        let decoded = match event_type {
            mariadb::GTID => Decoded::Gtid(
                mariadb::parse_gtid(event.data(), header.server_id()).map_err(&fatal)?,
            ),
            mariadb::GTID_LIST => {
                Decoded::GtidList(mariadb::parse_gtid_list(event.data()).map_err(&fatal)?)
            }
            mariadb::ANNOTATE_ROWS | mariadb::BINLOG_CHECKPOINT | mariadb::START_ENCRYPTION => {
                Decoded::Ignored
            }
            _ => {
                let data = event
                    .read_data()
                    .map_err(|e| {
                        fatal(format!(
                            "cannot decode a binlog event of type {event_type}: {e}"
                        ))
                    })?
                    .ok_or_else(|| {
                        fatal(format!("unsupported binlog event of type {event_type}"))
                    })?;
                self.decode_data(data, log_pos, &fatal)?
            }
        };

        match &decoded {
            Decoded::Rotate => {}
            // A heartbeat's position is the server's, not one of an event read.
            Decoded::Heartbeat => {}
            // When a stream starts inside a file, the server sends that file's
            // format description first, which lies before the position asked for.
            Decoded::FormatDescription => self.seen_format_description = true,
            _ if log_pos != 0 => self.position = end,
            _ => {}
        }
        let artificial = log_pos == 0 || matches!(decoded, Decoded::Heartbeat);
        Ok(Positioned {
            event: decoded,
            file: self.file.clone(),
            end: if artificial { self.position } else { end },
            timestamp: header.timestamp(),
            artificial,
        })
    }

    fn decode_data(
        &mut self,
        data: EventData<'_>,
        log_pos: u64,
        fatal: &dyn Fn(String) -> ReplicationError,
    ) -> Result<Decoded, ReplicationError> {
        Ok(match data {
            EventData::FormatDescriptionEvent(_) => Decoded::FormatDescription,
            EventData::RotateEvent(rotate) => {
                let name = if log_pos == 0 && !self.seen_format_description {
                    mariadb::fake_rotate_name(rotate.name_raw(), self.checksum)
                } else {
                    rotate.name().into_owned()
                };
                self.file = Arc::from(name.as_str());
                self.position = rotate.position();
                if log_pos != 0 {
                    self.tables.clear();
                }
                Decoded::Rotate
            }
            EventData::QueryEvent(q) => Decoded::Query {
                schema: q.schema().into_owned(),
                sql: q.query_raw().to_vec(),
                session: SessionVars::of(&q),
            },
            EventData::XidEvent(_) => Decoded::Xid,
            EventData::XaPrepareLogEvent(_) => Decoded::XaPrepare,
            EventData::GtidEvent(_) | EventData::AnonymousGtidEvent(_) => Decoded::MysqlGtid,
            EventData::HeartbeatEvent => Decoded::Heartbeat,
            EventData::IncidentEvent(incident) => {
                return Err(fatal(format!(
                    "the upstream logged an incident ({:?}): changes may be missing from its binlog",
                    incident.message()
                )));
            }
            EventData::RowsEvent(rows) => Decoded::Rows(self.decode_rows(&rows).map_err(fatal)?),
            EventData::TransactionPayloadEvent(_)
            | EventData::TableMapEvent(_)
            | EventData::IntvarEvent(_)
            | EventData::RandEvent(_)
            | EventData::UserVarEvent(_)
            | EventData::RowsQueryEvent(_)
            | EventData::PreviousGtidsEvent(_)
            | EventData::TransactionContextEvent(_)
            | EventData::ViewChangeEvent(_)
            | EventData::IgnorableEvent(_)
            | EventData::StopEvent
            | EventData::UnknownEvent => Decoded::Ignored,
            other => {
                return Err(fatal(format!(
                    "unsupported binlog event {:?}",
                    std::mem::discriminant(&other)
                )));
            }
        })
    }

    fn decode_rows(&mut self, rows: &RowsEventData<'_>) -> Result<Vec<RowChange>, String> {
        if matches!(rows, RowsEventData::PartialUpdateRowsEvent(_)) {
            return Err(
                "partial JSON updates are not supported: set the upstream's \
                        binlog_row_value_options to ''"
                    .into(),
            );
        }
        let Some(filter) = &self.filter else {
            return Ok(Vec::new());
        };
        let table_id = rows.table_id();
        let tme = self
            .stream
            .get_tme(table_id)
            .ok_or_else(|| format!("rows event for table id {table_id} without its table map"))?;
        let table = match self.tables.get(&table_id) {
            Some((cached, info)) if cached == tme => info.clone(),
            _ => {
                // Tables the filter drops are not decoded at all.
                let info = if filter.matches(&tme.database_name(), &tme.table_name()) {
                    Some(Arc::new(TableInfo::from_table_map(tme, &self.charsets)?))
                } else {
                    None
                };
                self.tables.insert(table_id, (tme.clone(), info.clone()));
                info
            }
        };
        let Some(table) = table else {
            return Ok(Vec::new());
        };
        let mut changes = Vec::new();
        table.decode_rows(rows, &mut changes)?;
        Ok(changes)
    }
}

/// Collation id -> character set name, from the upstream. MariaDB 10.10+
/// lists some collations' ids (the UCA 14.0 ones) only in
/// COLLATION_CHARACTER_SET_APPLICABILITY, which older servers lack.
async fn read_charsets(conn: &mut mysql_async::Conn) -> Result<Charsets, ReplicationError> {
    let mut charsets = read_collations(conn).await?;
    if let Ok(more) = conn
        .query::<(u16, String), _>(
            "SELECT ID, CHARACTER_SET_NAME FROM information_schema.COLLATION_CHARACTER_SET_APPLICABILITY \
             WHERE ID IS NOT NULL",
        )
        .await
    {
        for (id, charset) in more {
            charsets.entry(id).or_insert_with(|| Arc::from(charset.as_str()));
        }
    }
    Ok(charsets)
}

async fn read_collations(conn: &mut mysql_async::Conn) -> Result<Charsets, ReplicationError> {
    let rows: Vec<(u16, String)> = conn
        .query(
            "SELECT ID, CHARACTER_SET_NAME FROM information_schema.COLLATIONS WHERE ID IS NOT NULL",
        )
        .await
        .map_err(|e| conn::classify(&e, "cannot read the upstream's collations"))?;
    Ok(rows
        .into_iter()
        .map(|(id, charset)| (id, Arc::from(charset.as_str())))
        .collect())
}

/// A stream error: 1236 means the position is gone from the binlog (purged,
/// or a file that never existed), which no retry fixes.
fn stream_error(e: &mysql_async::Error, file: &str, position: u64) -> ReplicationError {
    if conn::server_code(e) == Some(1236) {
        return ReplicationError::Fatal(format!(
            "the upstream cannot send its binlog from {file}:{position} (purged or never \
             written?): {e}"
        ));
    }
    conn::classify(
        e,
        &format!("reading the upstream's binlog at {file}:{position}"),
    )
}
