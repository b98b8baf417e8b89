//! Strings the document constrains with a `pattern`, checked with a regex
//! compiled once. poem-openapi's `validator(pattern = ...)` compiles its
//! regex at every check (`validation::Pattern` in poem-openapi 5.1), which
//! cost a list of 1,000 tasks 1,000 compilations per patterned field: most
//! of a bulk submission's time in `ferry-api` (docs/BENCHMARKS.md, session
//! 14). A field of a list element, or of anything a hot path parses many
//! of, uses a type from `pattern_string!` instead.

/// `pattern_string!(Name, "regex", "what it is")`: a `String` newtype
/// declared in the document as a string with that pattern, parsed only when
/// it matches.
#[macro_export]
macro_rules! pattern_string {
    ($name:ident, $pattern:literal, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name(pub String);

        impl $name {
            fn regex() -> &'static regex::Regex {
                static REGEX: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
                    regex::Regex::new($pattern).expect("the pattern compiles")
                });
                &REGEX
            }
        }

        impl poem_openapi::types::Type for $name {
            const IS_REQUIRED: bool = true;

            type RawValueType = Self;

            type RawElementValueType = Self;

            fn name() -> std::borrow::Cow<'static, str> {
                "string".into()
            }

            fn schema_ref() -> poem_openapi::registry::MetaSchemaRef {
                poem_openapi::registry::MetaSchemaRef::Inline(Box::new(
                    poem_openapi::registry::MetaSchema {
                        pattern: Some($pattern.to_owned()),
                        ..poem_openapi::registry::MetaSchema::new("string")
                    },
                ))
            }

            fn as_raw_value(&self) -> Option<&Self::RawValueType> {
                Some(self)
            }

            fn raw_element_iter<'a>(
                &'a self,
            ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
                Box::new(self.as_raw_value().into_iter())
            }
        }

        impl poem_openapi::types::ParseFromJSON for $name {
            fn parse_from_json(
                value: Option<serde_json::Value>,
            ) -> poem_openapi::types::ParseResult<Self> {
                match value.unwrap_or_default() {
                    serde_json::Value::String(text) if Self::regex().is_match(&text) => {
                        Ok(Self(text))
                    }
                    serde_json::Value::String(_) => Err(poem_openapi::types::ParseError::custom(
                        concat!("verification failed. pattern(\"", $pattern, "\")"),
                    )),
                    other => Err(poem_openapi::types::ParseError::expected_type(other)),
                }
            }
        }

        impl poem_openapi::types::ToJSON for $name {
            fn to_json(&self) -> Option<serde_json::Value> {
                Some(serde_json::Value::String(self.0.clone()))
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use poem_openapi::types::{ParseFromJSON, Type};
    use serde_json::json;

    crate::pattern_string!(Digits, r"^[0-9]+$", "Digits.");

    #[test]
    fn the_pattern_is_declared_and_checked() {
        let schema = Digits::schema_ref();
        let poem_openapi::registry::MetaSchemaRef::Inline(schema) = schema else {
            panic!("an inline schema");
        };
        assert_eq!(schema.pattern.as_deref(), Some(r"^[0-9]+$"));
        assert_eq!(
            Digits::parse_from_json(Some(json!("12"))).ok(),
            Some(Digits("12".into()))
        );
        assert!(Digits::parse_from_json(Some(json!("1a"))).is_err());
        assert!(Digits::parse_from_json(Some(json!(12))).is_err());
    }
}
