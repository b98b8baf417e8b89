//! Avro: a JSON value in Avro's JSON encoding to Avro's binary encoding, and
//! back, guided by the schema, as the REST Proxy embeds Avro data.
//!
//! JSON embedding of each Avro type (the Avro specification's JSON
//! encoding):
//!
//! ```text
//! null                    null
//! boolean                 true | false
//! int, long, float, double  a number (an integer for int and long, in range)
//! bytes, fixed            a string whose characters U+0000-U+00FF are the bytes
//! string                  a string
//! enum                    one of its symbols, as a string
//! array, map              an array; an object
//! record                  an object of its fields; a missing field takes its default
//! union                   null, or {"<branch type name>": value}; a bare value is
//!                         taken when exactly one branch accepts it (friendlier than
//!                         the specification, which the REST Proxy follows strictly)
//! logical types           as their underlying type (timestamp-millis: a long, ...)
//! ```
//!
//! Reading writes unions as `{"<branch type name>": value}`, as the REST
//! Proxy does, so what ferry writes reads back the same.

use std::collections::HashMap;

use apache_avro::{
    Schema,
    reader::datum::GenericDatumReader,
    schema::{Name, RecordSchema, ResolvedSchema, UnionSchema, UuidSchema},
    types::Value as Avro,
    writer::datum::GenericDatumWriter,
};
use serde_json::{Map, Number, Value};

use super::SchemaError;

pub struct AvroSchema {
    schema: Schema,
    /// The schema's named types, for its references to them.
    names: HashMap<Name, Schema>,
}

impl AvroSchema {
    pub fn parse(text: &str) -> Result<Self, SchemaError> {
        let invalid = |reason: String| SchemaError::InvalidSchema {
            kind: "Avro",
            reason,
        };
        let schema = Schema::parse_str(text).map_err(|e| invalid(e.to_string()))?;
        let names = ResolvedSchema::new(&schema)
            .map_err(|e| invalid(e.to_string()))?
            .get_names()
            .iter()
            .map(|(name, named)| (name.clone(), (*named).clone()))
            .collect();
        Ok(Self { schema, names })
    }

    pub fn record_name(&self) -> Option<String> {
        match &self.schema {
            Schema::Record(r) => Some(r.name.fullname(None)),
            Schema::Enum(e) => Some(e.name.fullname(None)),
            Schema::Fixed(f) => Some(f.name.fullname(None)),
            _ => None,
        }
    }

    pub fn encode(&self, value: &Value, out: &mut Vec<u8>) -> Result<(), SchemaError> {
        let walk = Walk { names: &self.names };
        let datum = walk.to_avro(&self.schema, value, "$")?;
        let bytes = GenericDatumWriter::builder(&self.schema)
            .build()
            .and_then(|writer| writer.write_value_to_vec(datum))
            .map_err(|e| SchemaError::InvalidData(format!("the value does not fit: {e}")))?;
        out.extend_from_slice(&bytes);
        Ok(())
    }

    pub fn decode(&self, mut data: &[u8]) -> Result<Value, SchemaError> {
        let datum = GenericDatumReader::builder(&self.schema)
            .build()
            .and_then(|reader| reader.read_value(&mut data))
            .map_err(|e| {
                SchemaError::InvalidData(format!("the data does not decode with its schema: {e}"))
            })?;
        let walk = Walk { names: &self.names };
        walk.to_json(&self.schema, datum)
    }
}

struct Walk<'a> {
    names: &'a HashMap<Name, Schema>,
}

fn mismatch(path: &str, expected: &str, got: &Value) -> SchemaError {
    let got = match got {
        Value::Null => "null".to_owned(),
        Value::Bool(_) => "a boolean".to_owned(),
        Value::Number(n) => format!("the number {n}"),
        Value::String(_) => "a string".to_owned(),
        Value::Array(_) => "an array".to_owned(),
        Value::Object(_) => "an object".to_owned(),
    };
    SchemaError::InvalidData(format!("{path}: expected {expected}, got {got}"))
}

/// Bytes from a string of characters U+0000-U+00FF (Avro's JSON encoding).
fn latin1_bytes(path: &str, s: &str) -> Result<Vec<u8>, SchemaError> {
    s.chars()
        .map(|c| u8::try_from(u32::from(c)).ok())
        .collect::<Option<Vec<u8>>>()
        .ok_or_else(|| {
            SchemaError::InvalidData(format!(
                "{path}: bytes are a string of characters U+0000 to U+00FF, one per byte"
            ))
        })
}

fn latin1_string(bytes: &[u8]) -> String {
    bytes.iter().map(|b| char::from(*b)).collect()
}

impl<'a> Walk<'a> {
    fn deref<'s>(&'s self, schema: &'s Schema) -> Result<&'s Schema, SchemaError> {
        match schema {
            Schema::Ref { name } => self.names.get(name).ok_or_else(|| {
                SchemaError::InvalidData(format!("the schema names an unknown type {name}"))
            }),
            other => Ok(other),
        }
    }

    fn to_avro(&self, schema: &Schema, v: &Value, path: &str) -> Result<Avro, SchemaError> {
        let schema = self.deref(schema)?;
        let int = |v: &Value| -> Result<i32, SchemaError> {
            v.as_i64()
                .and_then(|n| i32::try_from(n).ok())
                .ok_or_else(|| mismatch(path, "an int (32-bit integer)", v))
        };
        let long = |v: &Value| {
            v.as_i64()
                .ok_or_else(|| mismatch(path, "a long integer", v))
        };
        let string = |v: &Value| -> Result<String, SchemaError> {
            v.as_str()
                .map(str::to_owned)
                .ok_or_else(|| mismatch(path, "a string", v))
        };
        let bytes = |v: &Value| match v {
            Value::String(s) => latin1_bytes(path, s),
            other => Err(mismatch(path, "bytes (a string)", other)),
        };
        Ok(match schema {
            Schema::Null => match v {
                Value::Null => Avro::Null,
                other => return Err(mismatch(path, "null", other)),
            },
            Schema::Boolean => {
                Avro::Boolean(v.as_bool().ok_or_else(|| mismatch(path, "a boolean", v))?)
            }
            Schema::Int | Schema::Date | Schema::TimeMillis => Avro::Int(int(v)?),
            Schema::Long
            | Schema::TimeMicros
            | Schema::TimestampMillis
            | Schema::TimestampMicros
            | Schema::TimestampNanos
            | Schema::LocalTimestampMillis
            | Schema::LocalTimestampMicros
            | Schema::LocalTimestampNanos => Avro::Long(long(v)?),
            Schema::Float => {
                Avro::Float(v.as_f64().ok_or_else(|| mismatch(path, "a number", v))? as f32)
            }
            Schema::Double => {
                Avro::Double(v.as_f64().ok_or_else(|| mismatch(path, "a number", v))?)
            }
            Schema::Bytes | Schema::BigDecimal | Schema::Uuid(UuidSchema::Bytes) => {
                Avro::Bytes(bytes(v)?)
            }
            Schema::Decimal(d) => match &d.inner {
                apache_avro::schema::InnerDecimalSchema::Bytes => Avro::Bytes(bytes(v)?),
                apache_avro::schema::InnerDecimalSchema::Fixed(f) => {
                    self.fixed(f.size, bytes(v)?, path)?
                }
            },
            Schema::String | Schema::Uuid(UuidSchema::String) => Avro::String(string(v)?),
            Schema::Fixed(f) | Schema::Duration(f) | Schema::Uuid(UuidSchema::Fixed(f)) => {
                self.fixed(f.size, bytes(v)?, path)?
            }
            Schema::Enum(e) => {
                let symbol = string(v)?;
                let index = e.symbols.iter().position(|s| *s == symbol).ok_or_else(|| {
                    SchemaError::InvalidData(format!(
                        "{path}: '{symbol}' is not a symbol of enum {} ({})",
                        e.name,
                        e.symbols.join(", ")
                    ))
                })?;
                Avro::Enum(index as u32, symbol)
            }
            Schema::Array(a) => match v {
                Value::Array(items) => Avro::Array(
                    items
                        .iter()
                        .enumerate()
                        .map(|(i, item)| self.to_avro(&a.items, item, &format!("{path}[{i}]")))
                        .collect::<Result<_, _>>()?,
                ),
                other => return Err(mismatch(path, "an array", other)),
            },
            Schema::Map(m) => match v {
                Value::Object(entries) => Avro::Map(
                    entries
                        .iter()
                        .map(|(k, item)| {
                            Ok((
                                k.clone(),
                                self.to_avro(&m.types, item, &format!("{path}.{k}"))?,
                            ))
                        })
                        .collect::<Result<_, SchemaError>>()?,
                ),
                other => return Err(mismatch(path, "an object (a map)", other)),
            },
            Schema::Record(r) => self.record(r, v, path)?,
            Schema::Union(u) => self.union(u, v, path)?,
            Schema::Ref { .. } => unreachable!("dereferenced above"),
        })
    }

    fn fixed(&self, size: usize, bytes: Vec<u8>, path: &str) -> Result<Avro, SchemaError> {
        if bytes.len() != size {
            return Err(SchemaError::InvalidData(format!(
                "{path}: a fixed of {size} bytes, got {}",
                bytes.len()
            )));
        }
        Ok(Avro::Fixed(size, bytes))
    }

    fn record(&self, r: &RecordSchema, v: &Value, path: &str) -> Result<Avro, SchemaError> {
        let Value::Object(fields) = v else {
            return Err(mismatch(path, &format!("an object (record {})", r.name), v));
        };
        if let Some(unknown) = fields
            .keys()
            .find(|k| !r.fields.iter().any(|f| f.name == **k))
        {
            return Err(SchemaError::InvalidData(format!(
                "{path}: record {} has no field '{unknown}'",
                r.name
            )));
        }
        let mut out = Vec::with_capacity(r.fields.len());
        for field in &r.fields {
            let field_path = format!("{path}.{}", field.name);
            let value = match (fields.get(&field.name), &field.default) {
                (Some(given), _) => self.to_avro(&field.schema, given, &field_path)?,
                // A union's default is a value of its first branch, bare.
                (None, Some(default)) => match self.deref(&field.schema)? {
                    Schema::Union(u) => Avro::Union(
                        0,
                        Box::new(self.to_avro(&u.variants()[0], default, &field_path)?),
                    ),
                    other => self.to_avro(other, default, &field_path)?,
                },
                (None, None) => {
                    return Err(SchemaError::InvalidData(format!(
                        "{field_path}: the field is required (it has no default)"
                    )));
                }
            };
            out.push((field.name.clone(), value));
        }
        Ok(Avro::Record(out))
    }

    fn union(&self, u: &UnionSchema, v: &Value, path: &str) -> Result<Avro, SchemaError> {
        let variants = u.variants();
        if v.is_null() {
            let index = variants
                .iter()
                .position(|s| matches!(s, Schema::Null))
                .ok_or_else(|| mismatch(path, "a value of the union (it has no null)", v))?;
            return Ok(Avro::Union(index as u32, Box::new(Avro::Null)));
        }
        if let Value::Object(wrapped) = v
            && wrapped.len() == 1
        {
            let (branch, inner) = wrapped.iter().next().expect("one entry");
            if let Some(index) = variants
                .iter()
                .position(|s| self.branch_name(s).as_deref() == Some(branch.as_str()))
            {
                let value = self.to_avro(&variants[index], inner, &format!("{path}.{branch}"))?;
                return Ok(Avro::Union(index as u32, Box::new(value)));
            }
        }
        let fitting: Vec<(usize, Avro)> = variants
            .iter()
            .enumerate()
            .filter_map(|(i, s)| self.to_avro(s, v, path).ok().map(|a| (i, a)))
            .collect();
        match <[_; 1]>::try_from(fitting) {
            Ok([(index, value)]) => Ok(Avro::Union(index as u32, Box::new(value))),
            Err(_) => {
                let names: Vec<String> = variants
                    .iter()
                    .filter_map(|s| self.branch_name(s))
                    .collect();
                Err(SchemaError::InvalidData(format!(
                    "{path}: a union value is null or {{\"<type>\": value}} with <type> one of \
                     {}",
                    names.join(", ")
                )))
            }
        }
    }

    /// A union branch's name in the JSON encoding: a named type's full
    /// name, else the (underlying) type's name.
    fn branch_name(&self, schema: &Schema) -> Option<String> {
        Some(
            match schema {
                Schema::Null => "null",
                Schema::Boolean => "boolean",
                Schema::Int | Schema::Date | Schema::TimeMillis => "int",
                Schema::Long
                | Schema::TimeMicros
                | Schema::TimestampMillis
                | Schema::TimestampMicros
                | Schema::TimestampNanos
                | Schema::LocalTimestampMillis
                | Schema::LocalTimestampMicros
                | Schema::LocalTimestampNanos => "long",
                Schema::Float => "float",
                Schema::Double => "double",
                Schema::Bytes | Schema::BigDecimal | Schema::Uuid(UuidSchema::Bytes) => "bytes",
                Schema::String | Schema::Uuid(UuidSchema::String) => "string",
                Schema::Array(_) => "array",
                Schema::Map(_) => "map",
                Schema::Decimal(d) => match &d.inner {
                    apache_avro::schema::InnerDecimalSchema::Bytes => "bytes",
                    apache_avro::schema::InnerDecimalSchema::Fixed(f) => {
                        return Some(f.name.fullname(None));
                    }
                },
                Schema::Record(r) => return Some(r.name.fullname(None)),
                Schema::Enum(e) => return Some(e.name.fullname(None)),
                Schema::Fixed(f) | Schema::Duration(f) | Schema::Uuid(UuidSchema::Fixed(f)) => {
                    return Some(f.name.fullname(None));
                }
                Schema::Ref { name } => return Some(name.fullname(None)),
                Schema::Union(_) => return None,
            }
            .to_owned(),
        )
    }

    fn to_json(&self, schema: &Schema, datum: Avro) -> Result<Value, SchemaError> {
        let schema = self.deref(schema)?;
        let number = |f: f64| Number::from_f64(f).map_or(Value::Null, Value::Number);
        Ok(match datum {
            Avro::Null => Value::Null,
            Avro::Boolean(b) => Value::Bool(b),
            Avro::Int(n) | Avro::Date(n) | Avro::TimeMillis(n) => Value::from(n),
            Avro::Long(n)
            | Avro::TimeMicros(n)
            | Avro::TimestampMillis(n)
            | Avro::TimestampMicros(n)
            | Avro::TimestampNanos(n)
            | Avro::LocalTimestampMillis(n)
            | Avro::LocalTimestampMicros(n)
            | Avro::LocalTimestampNanos(n) => Value::from(n),
            Avro::Float(f) => number(f64::from(f)),
            Avro::Double(f) => number(f),
            Avro::Bytes(b) | Avro::Fixed(_, b) => Value::String(latin1_string(&b)),
            Avro::String(s) | Avro::Enum(_, s) => Value::String(s),
            Avro::Uuid(u) => match schema {
                Schema::Uuid(UuidSchema::String) => Value::String(u.to_string()),
                _ => Value::String(latin1_string(u.as_bytes())),
            },
            Avro::Decimal(d) => {
                let bytes = Vec::<u8>::try_from(&d).map_err(|e| {
                    SchemaError::InvalidData(format!("a decimal does not encode: {e}"))
                })?;
                Value::String(latin1_string(&bytes))
            }
            Avro::BigDecimal(d) => Value::String(d.to_string()),
            Avro::Duration(d) => Value::String(latin1_string(&<[u8; 12]>::from(d))),
            Avro::Array(items) => {
                let Schema::Array(a) = schema else {
                    return Err(unexpected(schema));
                };
                Value::Array(
                    items
                        .into_iter()
                        .map(|item| self.to_json(&a.items, item))
                        .collect::<Result<_, _>>()?,
                )
            }
            Avro::Map(entries) => {
                let Schema::Map(m) = schema else {
                    return Err(unexpected(schema));
                };
                Value::Object(
                    entries
                        .into_iter()
                        .map(|(k, item)| Ok((k, self.to_json(&m.types, item)?)))
                        .collect::<Result<Map<_, _>, SchemaError>>()?,
                )
            }
            Avro::Record(fields) => {
                let Schema::Record(r) = schema else {
                    return Err(unexpected(schema));
                };
                let mut out = Map::new();
                for ((name, item), field) in fields.into_iter().zip(&r.fields) {
                    out.insert(name, self.to_json(&field.schema, item)?);
                }
                Value::Object(out)
            }
            Avro::Union(index, inner) => {
                let Schema::Union(u) = schema else {
                    return Err(unexpected(schema));
                };
                let branch = u
                    .variants()
                    .get(index as usize)
                    .ok_or_else(|| unexpected(schema))?;
                if matches!(*inner, Avro::Null) {
                    Value::Null
                } else {
                    let name = self.branch_name(branch).unwrap_or_default();
                    let mut wrapped = Map::new();
                    wrapped.insert(name, self.to_json(branch, *inner)?);
                    Value::Object(wrapped)
                }
            }
        })
    }
}

fn unexpected(schema: &Schema) -> SchemaError {
    SchemaError::InvalidData(format!(
        "the decoded data does not match its schema's {} type",
        serde_json::to_string(schema).unwrap_or_default()
    ))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const USER: &str = r#"{"type":"record","name":"User","namespace":"com.example","fields":[
        {"name":"id","type":"long"},
        {"name":"name","type":"string"},
        {"name":"email","type":["null","string"],"default":null},
        {"name":"tags","type":{"type":"array","items":"string"},"default":[]},
        {"name":"kind","type":{"type":"enum","name":"Kind","symbols":["A","B"]},"default":"A"},
        {"name":"raw","type":"bytes","default":""},
        {"name":"at","type":{"type":"long","logicalType":"timestamp-millis"},"default":0}]}"#;

    fn round_trip(schema: &str, value: Value) -> Value {
        let schema = AvroSchema::parse(schema).unwrap();
        let mut out = Vec::new();
        schema.encode(&value, &mut out).unwrap();
        schema.decode(&out).unwrap()
    }

    #[test]
    fn records_round_trip_in_the_json_encoding() {
        let full = json!({"id": 7, "name": "Bill", "email": {"string": "b@x"}, "tags": ["a"],
            "kind": "B", "raw": "\u{0}\u{ff}", "at": 1700000000000i64});
        assert_eq!(round_trip(USER, full.clone()), full);
        let defaults = round_trip(USER, json!({"id": 1, "name": "M"}));
        assert_eq!(
            defaults,
            json!({"id": 1, "name": "M", "email": null, "tags": [], "kind": "A", "raw": "",
                "at": 0})
        );
        // A bare value fits the one branch that takes it.
        let bare = round_trip(USER, json!({"id": 1, "name": "M", "email": "m@x"}));
        assert_eq!(bare["email"], json!({"string": "m@x"}));
    }

    #[test]
    fn the_seed_int_schema_encodes_as_avro() {
        let schema = AvroSchema::parse(r#"{"name":"int","type": "int"}"#).unwrap();
        let mut out = Vec::new();
        schema.encode(&json!(12), &mut out).unwrap();
        assert_eq!(out, vec![24]); // zigzag 12
        assert_eq!(schema.decode(&out).unwrap(), json!(12));
    }

    #[test]
    fn misfits_name_their_place() {
        let schema = AvroSchema::parse(USER).unwrap();
        let err = |v: Value| schema.encode(&v, &mut Vec::new()).unwrap_err().to_string();
        assert!(err(json!({"id": "x", "name": "n"})).contains("$.id: expected a long"));
        assert!(err(json!({"name": "n"})).contains("$.id: the field is required"));
        assert!(err(json!({"id": 1, "name": "n", "kind": "C"})).contains("not a symbol"));
        assert!(err(json!({"id": 1, "name": "n", "extra": 1})).contains("no field 'extra'"));
        assert!(err(json!({"id": 1, "name": "n", "email": 5})).contains("union"));
        assert!(AvroSchema::parse("{\"type\":\"nope\"}").is_err());
        let int = AvroSchema::parse("\"int\"").unwrap();
        assert!(int.encode(&json!(1i64 << 40), &mut Vec::new()).is_err());
        assert!(int.decode(&[]).is_err());
    }
}
