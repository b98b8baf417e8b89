//! Protobuf: a schema is the text of one `.proto` file (it may import
//! Google's well-known types); a record's type is the file's first message,
//! as the REST Proxy chooses it. Values are in Protobuf's canonical JSON
//! mapping: produced values are parsed by it, and read ones are printed by
//! it with every field, defaults included (field names in lowerCamelCase).
//!
//! Between the five-byte header and the message, Confluent's wire format
//! holds the message type's path in the file, as zigzag varints: a count,
//! then one index per level (the top-level message, then nested ones); the
//! path `[0]`, the file's first message, is written as one zero byte.

use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor, SerializeOptions};
use protox::file::{ChainFileResolver, File, FileResolver, GoogleFileResolver};
use serde_json::Value;

use super::SchemaError;

/// The name the schema's file is compiled under.
const FILE_NAME: &str = "schema.proto";

pub struct ProtobufSchema {
    pool: DescriptorPool,
    /// The file's first top-level message: what a produced record holds.
    record: MessageDescriptor,
}

/// Resolves the schema's own file from its text.
struct SchemaText(String);

impl FileResolver for SchemaText {
    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        if name == FILE_NAME {
            File::from_source(FILE_NAME, &self.0)
        } else {
            Err(protox::Error::file_not_found(name))
        }
    }
}

impl ProtobufSchema {
    pub fn parse(text: &str) -> Result<Self, SchemaError> {
        let invalid = |reason: String| SchemaError::InvalidSchema {
            kind: "Protobuf",
            reason,
        };
        let mut resolver = ChainFileResolver::new();
        resolver.add(SchemaText(text.to_owned()));
        resolver.add(GoogleFileResolver::new());
        let mut compiler = protox::Compiler::with_file_resolver(resolver);
        compiler.include_imports(true);
        compiler
            .open_file(FILE_NAME)
            .map_err(|e| invalid(e.to_string()))?;
        let pool = compiler.descriptor_pool();
        let record = pool
            .get_file_by_name(FILE_NAME)
            .and_then(|file| file.messages().next())
            .ok_or_else(|| invalid("the schema defines no message".into()))?;
        Ok(Self { pool, record })
    }

    pub fn record_name(&self) -> String {
        self.record.full_name().to_owned()
    }

    pub fn encode(&self, value: &Value, out: &mut Vec<u8>) -> Result<(), SchemaError> {
        let message = DynamicMessage::deserialize(self.record.clone(), value).map_err(|e| {
            SchemaError::InvalidData(format!(
                "the value is not a {} in Protobuf's JSON mapping: {e}",
                self.record.full_name()
            ))
        })?;
        // The path [0]: the file's first message.
        out.push(0);
        message
            .encode(out)
            .expect("a Vec grows to hold any message");
        Ok(())
    }

    pub fn decode(&self, mut data: &[u8]) -> Result<Value, SchemaError> {
        let path = message_indexes(&mut data)?;
        let descriptor = self.message_at(&path)?;
        let message = DynamicMessage::decode(descriptor, data).map_err(|e| {
            SchemaError::InvalidData(format!("the data does not decode with its schema: {e}"))
        })?;
        let options = SerializeOptions::new().skip_default_fields(false);
        message
            .serialize_with_options(serde_json::value::Serializer, &options)
            .map_err(|e| SchemaError::InvalidData(format!("the message has no JSON form: {e}")))
    }

    /// The message type at a path of indexes within the file.
    fn message_at(&self, path: &[usize]) -> Result<MessageDescriptor, SchemaError> {
        let missing = || {
            SchemaError::InvalidData(format!(
                "the data names message {path:?}, which its schema does not have"
            ))
        };
        let file = self
            .pool
            .get_file_by_name(FILE_NAME)
            .expect("the schema's file was compiled");
        let (first, nested) = path.split_first().ok_or_else(missing)?;
        let mut message = file.messages().nth(*first).ok_or_else(missing)?;
        for index in nested {
            let child = message.child_messages().nth(*index);
            message = child.ok_or_else(missing)?;
        }
        Ok(message)
    }
}

/// Reads the message type's path that precedes a message (module doc).
fn message_indexes(data: &mut &[u8]) -> Result<Vec<usize>, SchemaError> {
    let bad = || SchemaError::InvalidData("the message type's path does not decode".into());
    let next = |data: &mut &[u8]| -> Result<i64, SchemaError> {
        let raw = prost::encoding::decode_varint(data).map_err(|_| bad())?;
        Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64))
    };
    let count = next(data)?;
    if count == 0 {
        return Ok(vec![0]);
    }
    // A path deeper than this is not a schema's nesting but noise.
    if !(1..=64).contains(&count) {
        return Err(bad());
    }
    (0..count)
        .map(|_| next(data).and_then(|i| usize::try_from(i).map_err(|_| bad())))
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_seed_schema_encodes_its_first_message() {
        let schema =
            ProtobufSchema::parse(r#"syntax="proto3"; message Foo { string f1 = 1; }"#).unwrap();
        let mut out = Vec::new();
        schema.encode(&json!({"f1": "foo"}), &mut out).unwrap();
        assert_eq!(out, vec![0, 0x0a, 3, b'f', b'o', b'o']);
        assert_eq!(schema.decode(&out).unwrap(), json!({"f1": "foo"}));
        assert_eq!(schema.decode(&[0]).unwrap(), json!({"f1": ""}));
    }

    #[test]
    fn nested_paths_and_well_known_types_resolve() {
        let schema = ProtobufSchema::parse(
            r#"syntax = "proto3"; package p;
               import "google/protobuf/timestamp.proto";
               message A { int64 n = 1; google.protobuf.Timestamp at = 2; }
               message B { message Inner { bool ok = 1; } Inner inner = 1; }"#,
        )
        .unwrap();
        let mut out = Vec::new();
        schema
            .encode(&json!({"n": "5", "at": "2026-01-01T00:00:00Z"}), &mut out)
            .unwrap();
        let read = schema.decode(&out).unwrap();
        assert_eq!(read["n"], json!("5"));
        assert_eq!(read["at"], json!("2026-01-01T00:00:00Z"));
        // Path [1, 0] (B.Inner): count 2, then 1 and 0, zigzag-encoded.
        assert_eq!(
            schema.decode(&[4, 2, 0, 8, 1]).unwrap(),
            json!({"ok": true})
        );
        assert!(schema.decode(&[4, 2, 8]).is_err());
        assert!(schema.decode(&[2, 18]).is_err());
    }

    #[test]
    fn misfits_are_refused() {
        let schema =
            ProtobufSchema::parse("syntax=\"proto3\"; message Foo { int32 n = 1; }").unwrap();
        assert!(schema.encode(&json!({"n": "x"}), &mut Vec::new()).is_err());
        assert!(schema.encode(&json!({"m": 1}), &mut Vec::new()).is_err());
        assert!(ProtobufSchema::parse("message {").is_err());
        assert!(ProtobufSchema::parse("syntax=\"proto3\";").is_err());
        assert!(ProtobufSchema::parse("import \"elsewhere.proto\"; message A {}").is_err());
    }
}
