//! Decoders for the three TiCDC protocols ferry writes, into one event
//! shape the tests compare, plus matching and printing of events.

use std::collections::BTreeMap;

use ferry_tests::kafka::Record;
use serde_json::Value;

/// A row image: column name to value as text (`None` for NULL).
pub type Row = BTreeMap<String, Option<String>>;

pub fn row(cells: &[(&str, Option<&str>)]) -> Row {
    cells
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.map(str::to_owned)))
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    CanalJson,
    Maxwell,
    Open,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Insert,
    Update,
    Delete,
    Ddl,
}

/// One decoded message.
#[derive(Debug, Clone)]
pub struct Event {
    pub partition: i32,
    pub offset: i64,
    pub kind: Kind,
    pub schema: String,
    pub table: String,
    /// The row after the change; for a delete, the deleted row.
    pub data: Row,
    /// An update's previous values, as the protocol carries them.
    pub old: Option<Row>,
    /// A DDL's statement and its protocol-specific type.
    pub sql: String,
    pub ddl_type: String,
    /// What identifies the upstream transaction: canal's `es`, maxwell's
    /// `xid`, the open protocol key's `ts`.
    pub commit: u64,
    /// The commit time in Unix milliseconds, as far as the protocol says.
    pub commit_ms: u64,
    /// The decoded value, for protocol-specific checks.
    pub raw: Value,
}

impl Event {
    pub fn id(&self) -> Option<&str> {
        self.data.get("id").and_then(|v| v.as_deref())
    }
}

pub fn decode_all(protocol: Protocol, records: &[Record]) -> Vec<Event> {
    records.iter().map(|r| decode(protocol, r)).collect()
}

/// Decodes a record; panics, showing it, when it is not a valid message.
pub fn decode(protocol: Protocol, record: &Record) -> Event {
    let shown = || {
        format!(
            "partition {} offset {} key {:?} value {}",
            record.partition,
            record.offset,
            record.key.as_deref().map(String::from_utf8_lossy),
            String::from_utf8_lossy(&record.value)
        )
    };
    let decoded = match protocol {
        Protocol::CanalJson => canal_json(record),
        Protocol::Maxwell => maxwell(record),
        Protocol::Open => open_protocol(record),
    };
    let mut event =
        decoded.unwrap_or_else(|e| panic!("undecodable {protocol:?} message ({e}): {}", shown()));
    event.partition = record.partition;
    event.offset = record.offset;
    event
}

fn blank(kind: Kind, raw: Value) -> Event {
    Event {
        partition: 0,
        offset: 0,
        kind,
        schema: String::new(),
        table: String::new(),
        data: Row::new(),
        old: None,
        sql: String::new(),
        ddl_type: String::new(),
        commit: 0,
        commit_ms: 0,
        raw,
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

fn image(
    v: &Value,
    cell: impl Fn(&Value) -> Result<Option<String>, String>,
) -> Result<Row, String> {
    let map = v.as_object().ok_or("a row image is not an object")?;
    map.iter().map(|(k, v)| Ok((k.clone(), cell(v)?))).collect()
}

fn str_field(v: &Value, key: &str) -> Result<String, String> {
    v[key]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("no string `{key}`"))
}

fn u64_field(v: &Value, key: &str) -> Result<u64, String> {
    v[key].as_u64().ok_or_else(|| format!("no integer `{key}`"))
}

fn canal_json(record: &Record) -> Result<Event, String> {
    if record.key.as_ref().is_some_and(|k| !k.is_empty()) {
        return Err("canal-json messages have no key".into());
    }
    let v: Value = serde_json::from_slice(&record.value).map_err(|e| e.to_string())?;
    let is_ddl = v["isDdl"].as_bool().ok_or("no boolean `isDdl`")?;
    let ty = str_field(&v, "type")?;
    let kind = match (is_ddl, ty.as_str()) {
        (true, _) => Kind::Ddl,
        (false, "INSERT") => Kind::Insert,
        (false, "UPDATE") => Kind::Update,
        (false, "DELETE") => Kind::Delete,
        (false, other) => return Err(format!("row type `{other}`")),
    };
    let mut e = blank(kind, v.clone());
    e.schema = str_field(&v, "database")?;
    e.table = str_field(&v, "table")?;
    e.commit = u64_field(&v, "es")?;
    e.commit_ms = e.commit;
    u64_field(&v, "ts")?;
    // Every value is a string or null.
    let cell = |c: &Value| match c {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        other => Err(format!("canal-json value {other} is not a string")),
    };
    if kind == Kind::Ddl {
        e.sql = str_field(&v, "sql")?;
        e.ddl_type = ty;
        return Ok(e);
    }
    e.data = image(&v["data"][0], cell)?;
    if kind == Kind::Update {
        e.old = Some(image(&v["old"][0], cell)?);
    }
    Ok(e)
}

fn maxwell(record: &Record) -> Result<Event, String> {
    let v: Value = serde_json::from_slice(&record.value).map_err(|e| e.to_string())?;
    let ty = str_field(&v, "type")?;
    let kind = match ty.as_str() {
        "insert" => Kind::Insert,
        "update" => Kind::Update,
        "delete" => Kind::Delete,
        t if t.starts_with("table-") || t.starts_with("database-") => Kind::Ddl,
        other => return Err(format!("type `{other}`")),
    };
    let mut e = blank(kind, v.clone());
    e.schema = str_field(&v, "database")?;
    e.table = v["table"].as_str().unwrap_or_default().to_owned();
    if kind == Kind::Ddl {
        e.sql = str_field(&v, "sql")?;
        e.ddl_type = ty;
        e.commit = u64_field(&v, "ts")?;
        e.commit_ms = e.commit >> 18;
        return Ok(e);
    }
    // Row messages: `ts` in seconds, `xid` the transaction.
    e.commit_ms = u64_field(&v, "ts")? * 1000;
    e.commit = u64_field(&v, "xid")?;
    let cell = |c: &Value| Ok(text(c));
    let has = |key: &str| v[key].as_object().is_some_and(|m| !m.is_empty());
    // A deleted row: TiCDC puts it in `old`, Maxwell itself in `data`.
    let data_key = if kind == Kind::Delete && !has("data") {
        "old"
    } else {
        "data"
    };
    e.data = image(&v[data_key], cell)?;
    if kind == Kind::Update {
        e.old = Some(if has("old") {
            image(&v["old"], cell)?
        } else {
            Row::new()
        });
    }
    Ok(e)
}

/// Splits `[8-byte BE length][bytes]` that must fill `buf` exactly.
fn framed(buf: &[u8]) -> Result<&[u8], String> {
    if buf.len() < 8 {
        return Err("shorter than its length prefix".into());
    }
    let len = u64::from_be_bytes(buf[..8].try_into().unwrap()) as usize;
    if buf.len() != 8 + len {
        return Err(format!(
            "length prefix {len} but {} bytes follow",
            buf.len() - 8
        ));
    }
    Ok(&buf[8..])
}

fn open_protocol(record: &Record) -> Result<Event, String> {
    let key = record.key.as_deref().ok_or("no key")?;
    if key.len() < 8 || u64::from_be_bytes(key[..8].try_into().unwrap()) != 1 {
        return Err("the key does not start with batch version 1".into());
    }
    let k: Value = serde_json::from_slice(framed(&key[8..])?).map_err(|e| format!("key: {e}"))?;
    let v: Value =
        serde_json::from_slice(framed(&record.value)?).map_err(|e| format!("value: {e}"))?;
    let ts = u64_field(&k, "ts")?;
    let row_kind = if v.get("d").is_some() {
        Kind::Delete
    } else if v.get("p").is_some() {
        Kind::Update
    } else {
        Kind::Insert
    };
    let kind = match u64_field(&k, "t")? {
        1 => row_kind,
        2 => Kind::Ddl,
        t => return Err(format!("key type {t}")),
    };
    let mut e = blank(kind, v.clone());
    e.schema = k["scm"].as_str().unwrap_or_default().to_owned();
    e.table = k["tbl"].as_str().unwrap_or_default().to_owned();
    e.commit = ts;
    e.commit_ms = ts >> 18;
    if kind == Kind::Ddl {
        e.sql = str_field(&v, "q")?;
        e.ddl_type = u64_field(&v, "t")?.to_string();
        return Ok(e);
    }
    let cell = |c: &Value| {
        if !c["t"].is_u64() || !c["f"].is_u64() {
            return Err(format!("column without numeric `t` and `f`: {c}"));
        }
        Ok(text(
            c.get("v")
                .ok_or_else(|| format!("column without `v`: {c}"))?,
        ))
    };
    let data_key = match kind {
        Kind::Delete => "d",
        _ => "u",
    };
    e.data = image(&v[data_key], cell)?;
    if kind == Kind::Update {
        e.old = Some(image(&v["p"], cell)?);
    }
    Ok(e)
}

/// Whether `event` is the row change `kind` of `table` with after (or
/// deleted) image `data` and, for an update, previous image `before`: the
/// old values the message carries must be `before`'s, and cover at least
/// every column the update changed.
pub fn is_change(
    event: &Event,
    schema: &str,
    table: &str,
    kind: Kind,
    data: &Row,
    before: Option<&Row>,
) -> bool {
    if event.kind != kind || event.schema != schema || event.table != table || &event.data != data {
        return false;
    }
    match (before, &event.old) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(before), Some(old)) => {
            old.iter().all(|(k, v)| before.get(k) == Some(v))
                && before
                    .iter()
                    .filter(|(k, v)| data.get(*k) != Some(v))
                    .all(|(k, _)| old.contains_key(k))
        }
    }
}

/// The events, one per line, for failure messages (at most `limit`).
pub fn show(events: &[Event], limit: usize) -> String {
    let mut out: Vec<String> = events
        .iter()
        .take(limit)
        .map(|e| {
            format!(
                "p{}@{} {:?} {}.{} data={:?} old={:?} ddl={:?}/{}",
                e.partition, e.offset, e.kind, e.schema, e.table, e.data, e.old, e.ddl_type, e.sql
            )
        })
        .collect();
    if events.len() > limit {
        out.push(format!("... and {} more", events.len() - limit));
    }
    out.join("\n")
}
