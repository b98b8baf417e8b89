//! The request-body schema of every operation of ferry's own OpenAPI
//! document, compiled once at start into JSON Schema validators, so that a
//! body is checked against what the document promises before any handler
//! reads it (`middleware::body_schema`). The document is the one source:
//! a field declared required, a length, a range or a pattern is enforced the
//! moment poem-openapi declares it, and a body the document allows reaches
//! its handler.
//!
//! The document is OpenAPI 3.0, whose schemas are close to JSON Schema but
//! not equal to it; [`to_json_schema`] translates one: `$ref`s into
//! `components` are inlined, `nullable` becomes a `null` type, the integer
//! formats become the ranges poem-openapi's parsers accept, and a `oneOf`
//! with a discriminator becomes one `if`/`then` per mapped value, so that a
//! violation names the field of the branch the caller chose rather than
//! "no branch matched".

use std::collections::HashMap;

use jsonschema::{ValidationError, Validator, error::ValidationErrorKind};
use poem::http::Method;
use serde_json::{Map, Value, json};

use crate::route_labels::label_of;

/// Deepest `$ref` nesting followed; ferry's document has no recursive
/// schema, so a deeper one is a mistake in it, refused at start.
const MAX_DEPTH: usize = 32;

/// The compiled body schemas, by method and route template.
#[derive(Debug, Default)]
pub struct BodySchemas {
    by_route: HashMap<(Method, String), Validator>,
}

/// Why the document's schemas could not be compiled: a fault in ferry's own
/// document, which the process refuses to start with.
#[derive(Debug, thiserror::Error)]
pub enum BodySchemaError {
    #[error("the OpenAPI document is not JSON: {0}")]
    Document(#[from] serde_json::Error),
    #[error("{operation}: `$ref` {reference} names no schema of the document")]
    UnknownRef {
        operation: String,
        reference: String,
    },
    #[error("{operation}: schemas nest deeper than {MAX_DEPTH} references")]
    TooDeep { operation: String },
    #[error("{operation}: the request-body schema does not compile: {message}")]
    Compile { operation: String, message: String },
}

/// How a body breaks its schema, which decides the status some dialects
/// answer with (`Dialect::invalid_body_status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Violation {
    /// Not the shape the document declares: a wrong JSON type, a required
    /// field missing, a field not allowed, no branch of a union.
    Shape,
    /// The right shape breaking a declared rule: a length, a range, a
    /// pattern, an enumeration.
    Rule,
}

/// A body refused by its schema: which rule, and a message naming the field
/// (a JSON pointer) without quoting the value, which may be a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyViolation {
    pub violation: Violation,
    pub message: String,
}

impl BodySchemas {
    /// Compiles the JSON request-body schema of every operation of `document`
    /// (the text of `/openapi.json`).
    pub fn from_document(document: &str) -> Result<BodySchemas, BodySchemaError> {
        let doc: Value = serde_json::from_str(document)?;
        let components = doc["components"]["schemas"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let mut by_route = HashMap::new();
        for (template, item) in doc["paths"].as_object().into_iter().flatten() {
            for (method, operation) in item.as_object().into_iter().flatten() {
                let Some(schema) = json_body_schema(operation) else {
                    continue;
                };
                let Ok(method) = Method::from_bytes(method.to_uppercase().as_bytes()) else {
                    continue;
                };
                let name = format!("{method} {template}");
                let translated = Translator {
                    components: &components,
                    operation: &name,
                }
                .schema(schema, 0)?;
                let validator = jsonschema::draft202012::new(&translated).map_err(|e| {
                    BodySchemaError::Compile {
                        operation: name.clone(),
                        message: e.to_string(),
                    }
                })?;
                by_route.insert((method, label_of(template).to_owned()), validator);
            }
        }
        Ok(BodySchemas { by_route })
    }

    /// Whether the operation at `method` and route `template` (as
    /// `RouteLabels::label` names it) declares a JSON body.
    pub fn validator(&self, method: &Method, template: &str) -> Option<&Validator> {
        self.by_route.get(&(method.clone(), template.to_owned()))
    }

    /// How many operations declare a JSON body.
    pub fn len(&self) -> usize {
        self.by_route.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_route.is_empty()
    }
}

/// The first violation of `body` against `validator`, if any.
pub fn check(validator: &Validator, body: &Value) -> Option<BodyViolation> {
    validator.validate(body).err().map(|error| describe(&error))
}

fn describe(error: &ValidationError<'_>) -> BodyViolation {
    // No branch of an `anyOf` or `oneOf` matched: the branch that got
    // furthest (its error deepest in the body) names the field, unless the
    // value fits none by its type.
    if let ValidationErrorKind::AnyOf { context } | ValidationErrorKind::OneOfNotValid { context } =
        error.kind()
        && let Some(deepest) = context
            .iter()
            .flatten()
            .filter(|e| !matches!(e.kind(), ValidationErrorKind::Type { .. }))
            .max_by_key(|e| e.instance_path().to_string().len())
    {
        return describe(deepest);
    }
    let violation = match error.kind() {
        ValidationErrorKind::Type { .. }
        | ValidationErrorKind::Required { .. }
        | ValidationErrorKind::AdditionalProperties { .. }
        | ValidationErrorKind::UnevaluatedProperties { .. }
        | ValidationErrorKind::FalseSchema
        | ValidationErrorKind::AnyOf { .. }
        | ValidationErrorKind::OneOfNotValid { .. }
        | ValidationErrorKind::OneOfMultipleValid { .. } => Violation::Shape,
        _ => Violation::Rule,
    };
    let pointer = error.instance_path().to_string();
    let place = if pointer.is_empty() {
        "the body".to_owned()
    } else {
        format!("body field `{pointer}`")
    };
    BodyViolation {
        violation,
        message: format!("{place}: {}", error.masked_with("the value")),
    }
}

/// The schema of an operation's JSON request body: `application/json` or a
/// `+json` type (REST Proxy v2's `application/vnd.kafka.binary.v2+json`).
/// Every JSON media type of one operation shares its schema.
fn json_body_schema(operation: &Value) -> Option<&Value> {
    let content = operation.get("requestBody")?.get("content")?.as_object()?;
    content
        .iter()
        .find(|(media, _)| {
            let essence = media.split(';').next().unwrap_or_default().trim();
            essence == "application/json" || essence.ends_with("+json")
        })
        .and_then(|(_, media)| media.get("schema"))
}

/// Translates one operation's OpenAPI 3.0 schema into JSON Schema 2020-12.
struct Translator<'a> {
    components: &'a Map<String, Value>,
    operation: &'a str,
}

impl Translator<'_> {
    fn schema(&self, schema: &Value, depth: usize) -> Result<Value, BodySchemaError> {
        if depth > MAX_DEPTH {
            return Err(BodySchemaError::TooDeep {
                operation: self.operation.to_owned(),
            });
        }
        let Some(object) = schema.as_object() else {
            return Ok(schema.clone());
        };
        let nullable = object.get("nullable") == Some(&Value::Bool(true));
        let translated = if let Some(reference) = object.get("$ref").and_then(Value::as_str) {
            self.schema(self.resolve(reference)?, depth + 1)?
        } else if let Some(only) = lone_all_of(object) {
            // poem-openapi wraps a described or nullable `$ref` in a one-item
            // `allOf`; unwrapped, `null` joins its type and its errors name
            // its fields.
            self.schema(only, depth + 1)?
        } else {
            self.object(object, depth)?
        };
        Ok(if nullable {
            or_null(translated)
        } else {
            translated
        })
    }

    fn resolve(&self, reference: &str) -> Result<&Value, BodySchemaError> {
        reference
            .strip_prefix("#/components/schemas/")
            .and_then(|name| self.components.get(name))
            .ok_or_else(|| BodySchemaError::UnknownRef {
                operation: self.operation.to_owned(),
                reference: reference.to_owned(),
            })
    }

    fn object(&self, object: &Map<String, Value>, depth: usize) -> Result<Value, BodySchemaError> {
        let mut out = Map::new();
        for (key, value) in object {
            let translated = match key.as_str() {
                // OpenAPI's own keywords, or annotations that check nothing.
                "nullable" | "discriminator" | "example" | "xml" | "externalDocs"
                | "deprecated" | "readOnly" | "writeOnly" | "title" | "description" => continue,
                "properties" => Value::Object(
                    value
                        .as_object()
                        .into_iter()
                        .flatten()
                        .map(|(name, s)| Ok((name.clone(), self.schema(s, depth + 1)?)))
                        .collect::<Result<_, BodySchemaError>>()?,
                ),
                "items" | "not" => self.schema(value, depth + 1)?,
                "additionalProperties" if value.is_object() => self.schema(value, depth + 1)?,
                "allOf" | "anyOf" => Value::Array(
                    value
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|s| self.schema(s, depth + 1))
                        .collect::<Result<_, _>>()?,
                ),
                "oneOf" => match object.get("discriminator") {
                    Some(discriminator) => {
                        self.discriminated(value, discriminator, depth, &mut out)?;
                        continue;
                    }
                    None => Value::Array(
                        value
                            .as_array()
                            .into_iter()
                            .flatten()
                            .map(|s| self.schema(s, depth + 1))
                            .collect::<Result<_, _>>()?,
                    ),
                },
                _ => value.clone(),
            };
            out.insert(key.clone(), translated);
        }
        if let Some((min, max)) = object
            .get("format")
            .and_then(Value::as_str)
            .and_then(integer_range)
        {
            out.entry("minimum").or_insert(min);
            out.entry("maximum").or_insert(max);
        }
        Ok(Value::Object(out))
    }

    /// A `oneOf` whose branch the `discriminator` property names: the
    /// property must hold one of the mapped values, and the branch of that
    /// value applies (`allOf` of `if`/`then`), so that errors come from the
    /// chosen branch only.
    fn discriminated(
        &self,
        branches: &Value,
        discriminator: &Value,
        depth: usize,
        out: &mut Map<String, Value>,
    ) -> Result<(), BodySchemaError> {
        let property = discriminator["propertyName"].as_str().unwrap_or_default();
        let mut values = Vec::new();
        let mut rules = Vec::new();
        for (value, reference) in discriminator["mapping"].as_object().into_iter().flatten() {
            let branch = match reference.as_str() {
                Some(reference) => self.schema(self.resolve(reference)?, depth + 1)?,
                None => continue,
            };
            values.push(Value::String(value.clone()));
            rules.push(json!({
                "if": { "properties": { property: { "const": value } }, "required": [property] },
                "then": branch,
            }));
        }
        if values.is_empty() {
            // No mapping: a plain `oneOf` of the branches.
            let plain: Vec<Value> = branches
                .as_array()
                .into_iter()
                .flatten()
                .map(|s| self.schema(s, depth + 1))
                .collect::<Result<_, _>>()?;
            out.insert("oneOf".into(), Value::Array(plain));
            return Ok(());
        }
        out.insert("type".into(), json!("object"));
        out.insert("required".into(), json!([property]));
        out.insert(
            "properties".into(),
            json!({ property: { "type": "string", "enum": values } }),
        );
        out.insert("allOf".into(), Value::Array(rules));
        Ok(())
    }
}

/// The one schema of an `allOf` that is all `object` says besides
/// annotations.
fn lone_all_of(object: &Map<String, Value>) -> Option<&Value> {
    let [only] = object.get("allOf")?.as_array()?.as_slice() else {
        return None;
    };
    let annotations_only = object.keys().all(|k| {
        matches!(
            k.as_str(),
            "allOf" | "nullable" | "description" | "title" | "example" | "readOnly" | "writeOnly"
        )
    });
    annotations_only.then_some(only)
}

/// `schema` or `null`: a `type` gains `"null"` (an `enum` gains `null`), any
/// other schema is wrapped in an `anyOf` with `null`.
fn or_null(schema: Value) -> Value {
    let Value::Object(mut object) = schema else {
        return schema;
    };
    let simple = object.keys().all(|k| {
        !matches!(
            k.as_str(),
            "allOf" | "anyOf" | "oneOf" | "not" | "if" | "then" | "else" | "const"
        )
    });
    match object.get("type").cloned() {
        Some(Value::String(ty)) if simple => {
            object.insert("type".into(), json!([ty, "null"]));
            if let Some(Value::Array(options)) = object.get_mut("enum")
                && !options.contains(&Value::Null)
            {
                options.push(Value::Null);
            }
            Value::Object(object)
        }
        _ => json!({ "anyOf": [Value::Object(object), { "type": "null" }] }),
    }
}

/// The values poem-openapi's parser accepts for an integer `format`.
fn integer_range(format: &str) -> Option<(Value, Value)> {
    Some(match format {
        "int8" => (json!(i8::MIN), json!(i8::MAX)),
        "int16" => (json!(i16::MIN), json!(i16::MAX)),
        "int32" => (json!(i32::MIN), json!(i32::MAX)),
        "int64" => (json!(i64::MIN), json!(i64::MAX)),
        "uint8" => (json!(0), json!(u8::MAX)),
        "uint16" => (json!(0), json!(u16::MAX)),
        "uint32" => (json!(0), json!(u32::MAX)),
        "uint64" => (json!(0), json!(u64::MAX)),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schemas(doc: Value) -> BodySchemas {
        BodySchemas::from_document(&doc.to_string()).expect("the schemas compile")
    }

    #[test]
    fn nullable_refs_and_formats_become_json_schema() {
        let doc = json!({
            "paths": { "/x/{id}": { "post": { "requestBody": { "content": {
                "application/json; charset=utf-8": { "schema": { "$ref": "#/components/schemas/X" } }
            } } } } },
            "components": { "schemas": {
                "X": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {
                        "name": { "type": "string", "maxLength": 3 },
                        "port": { "type": "integer", "format": "uint16", "nullable": true },
                        "inner": { "allOf": [{ "$ref": "#/components/schemas/Y" }], "nullable": true }
                    }
                },
                "Y": { "type": "object", "required": ["a"], "properties": { "a": { "type": "boolean" } } }
            } }
        });
        let schemas = schemas(doc);
        let validator = schemas.validator(&Method::POST, "/x/{id}").expect("a body");
        assert!(
            check(
                validator,
                &json!({ "name": "abc", "port": null, "inner": null })
            )
            .is_none()
        );
        assert!(check(validator, &json!({ "name": "abc", "inner": { "a": true } })).is_none());
        let missing = check(validator, &json!({})).expect("name is required");
        assert_eq!(missing.violation, Violation::Shape);
        assert!(missing.message.contains("name"), "{}", missing.message);
        let long = check(validator, &json!({ "name": "abcd" })).expect("too long");
        assert_eq!(long.violation, Violation::Rule);
        assert!(long.message.contains("/name"), "{}", long.message);
        let port = check(validator, &json!({ "name": "a", "port": 70000 })).expect("range");
        assert!(port.message.contains("/port"), "{}", port.message);
        let typed = check(validator, &json!({ "name": 1 })).expect("a string");
        assert_eq!(typed.violation, Violation::Shape);
        assert!(check(validator, &json!({ "name": "a", "inner": {} })).is_some());
        let nested = check(validator, &json!({ "name": "a", "inner": { "a": 1 } }))
            .expect("inner.a is a boolean");
        assert!(nested.message.contains("/inner/a"), "{}", nested.message);
    }

    #[test]
    fn a_discriminated_union_checks_the_chosen_branch() {
        let doc = json!({
            "paths": { "/c": { "post": { "requestBody": { "content": {
                "application/json": { "schema": { "$ref": "#/components/schemas/U" } }
            } } } } },
            "components": { "schemas": {
                "U": {
                    "type": "object",
                    "oneOf": [{ "$ref": "#/components/schemas/U_A" }, { "$ref": "#/components/schemas/U_B" }],
                    "discriminator": { "propertyName": "kind", "mapping": {
                        "a": "#/components/schemas/U_A", "b": "#/components/schemas/U_B"
                    } }
                },
                "U_A": { "allOf": [
                    { "type": "object", "required": ["kind"], "properties": { "kind": { "type": "string", "enum": ["a"] } } },
                    { "type": "object", "required": ["servers"], "properties": { "servers": { "type": "string" } } }
                ] },
                "U_B": { "allOf": [
                    { "type": "object", "required": ["kind"], "properties": { "kind": { "type": "string", "enum": ["b"] } } },
                    { "type": "object", "required": ["host"], "properties": { "host": { "type": "string" } } }
                ] }
            } }
        });
        let schemas = schemas(doc);
        let validator = schemas.validator(&Method::POST, "/c").expect("a body");
        assert!(check(validator, &json!({ "kind": "a", "servers": "x:1" })).is_none());
        assert!(check(validator, &json!({ "kind": "b", "host": "x" })).is_none());
        let wrong = check(validator, &json!({ "kind": "b", "servers": "x:1" })).expect("host");
        assert!(wrong.message.contains("host"), "{}", wrong.message);
        let kind = check(validator, &json!({ "kind": "c" })).expect("no such kind");
        assert!(kind.message.contains("/kind"), "{}", kind.message);
    }

    #[test]
    fn ferrys_own_document_compiles() {
        let schemas = BodySchemas::from_document(&crate::app::openapi().spec())
            .expect("every request body of the document compiles");
        assert!(schemas.len() >= 20, "{} bodies", schemas.len());
        assert!(
            schemas
                .validator(&Method::POST, "/api/v1/clusters")
                .is_some()
        );
    }
}
