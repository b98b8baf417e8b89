//! JSON Schema: a value is checked against its schema and written as its
//! JSON text; reading parses the text.
//!
//! The validator resolves no `$ref` outside the schema itself: fetching a
//! URL a caller's schema names would let any producer make ferry call any
//! address (the crate's HTTP and file resolvers are left out).

use serde_json::Value;

use super::SchemaError;

pub struct JsonSchema {
    validator: jsonschema::Validator,
    title: Option<String>,
}

impl JsonSchema {
    pub fn parse(text: &str) -> Result<Self, SchemaError> {
        let invalid = |reason: String| SchemaError::InvalidSchema {
            kind: "JSON Schema",
            reason,
        };
        let schema: Value = serde_json::from_str(text).map_err(|e| invalid(e.to_string()))?;
        let validator = jsonschema::validator_for(&schema).map_err(|e| invalid(e.to_string()))?;
        let title = schema
            .get("title")
            .and_then(Value::as_str)
            .map(str::to_owned);
        Ok(Self { validator, title })
    }

    pub fn record_name(&self) -> Option<String> {
        self.title.clone()
    }

    pub fn encode(&self, value: &Value, out: &mut Vec<u8>) -> Result<(), SchemaError> {
        self.validator.validate(value).map_err(|e| {
            let at = e.instance_path().to_string();
            let at = if at.is_empty() { "$".to_owned() } else { at };
            SchemaError::InvalidData(format!("{at}: {e}"))
        })?;
        serde_json::to_writer(out, value).expect("a JSON value serialises");
        Ok(())
    }

    pub fn decode(&self, data: &[u8]) -> Result<Value, SchemaError> {
        serde_json::from_slice(data)
            .map_err(|e| SchemaError::InvalidData(format!("the data is not JSON: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn values_are_checked_against_the_schema() {
        let schema =
            JsonSchema::parse(r#"{"type":"object","properties":{"f1":{"type":"string"}}}"#)
                .unwrap();
        let mut out = Vec::new();
        schema.encode(&json!({"f1": "bar"}), &mut out).unwrap();
        assert_eq!(out, br#"{"f1":"bar"}"#);
        assert_eq!(schema.decode(&out).unwrap(), json!({"f1": "bar"}));
        let err = schema
            .encode(&json!({"f1": 1}), &mut Vec::new())
            .unwrap_err();
        assert!(err.to_string().contains("/f1"), "{err}");
        assert!(JsonSchema::parse("{\"type\": 5}").is_err());
        assert!(JsonSchema::parse("not json").is_err());
    }

    #[test]
    fn remote_references_are_not_fetched() {
        let parsed = JsonSchema::parse(r#"{"$ref":"http://127.0.0.1:9/elsewhere.json"}"#);
        assert!(
            parsed.is_err(),
            "a remote $ref must be refused, not fetched"
        );
    }
}
