//! A body that is one value or a list of 1 to `MAX` of them, such as a
//! `POST /api/v1/tasks` of one task or of many. poem-openapi's `Union`
//! declares every union an `object`, which a list is not; this type declares
//! exactly `oneOf: [T, array of T]`, so that the document, the body-schema
//! check (`middleware::body_schema`) and schemathesis agree with what the
//! handler accepts.

use std::borrow::Cow;

use poem_openapi::{
    registry::{MetaSchema, MetaSchemaRef, Registry},
    types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type},
};
use serde_json::Value;

/// One `T`, or a list of 1 to `MAX`.
#[derive(Debug, Clone)]
pub enum OneOrMany<T, const MAX: usize> {
    One(T),
    Many(Vec<T>),
}

impl<T: Type, const MAX: usize> Type for OneOrMany<T, MAX> {
    const IS_REQUIRED: bool = true;

    type RawValueType = Self;

    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        format!("one_or_many_{}", T::name()).into()
    }

    fn schema_ref() -> MetaSchemaRef {
        let list = MetaSchema {
            items: Some(Box::new(T::schema_ref())),
            min_items: Some(1),
            max_items: Some(MAX),
            ..MetaSchema::new("array")
        };
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            one_of: vec![T::schema_ref(), MetaSchemaRef::Inline(Box::new(list))],
            ..MetaSchema::ANY
        }))
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(self)
    }

    fn raw_element_iter<'a>(
        &'a self,
    ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(std::iter::once(self))
    }
}

impl<T: ParseFromJSON, const MAX: usize> ParseFromJSON for OneOrMany<T, MAX> {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value {
            Some(Value::Array(items)) => {
                if items.is_empty() || items.len() > MAX {
                    return Err(ParseError::custom(format!(
                        "a list holds 1 to {MAX} items; this one holds {}",
                        items.len()
                    )));
                }
                let parsed = Vec::<T>::parse_from_json(Some(Value::Array(items)))
                    .map_err(ParseError::propagate)?;
                Ok(OneOrMany::Many(parsed))
            }
            other => Ok(OneOrMany::One(
                T::parse_from_json(other).map_err(ParseError::propagate)?,
            )),
        }
    }
}

impl<T: ToJSON, const MAX: usize> ToJSON for OneOrMany<T, MAX> {
    fn to_json(&self) -> Option<Value> {
        match self {
            OneOrMany::One(one) => one.to_json(),
            OneOrMany::Many(many) => many.to_json(),
        }
    }
}
