//! Kafka ACLs as callers ask for them: the request's strings parsed into a
//! typed ACL or filter (`ferry_entity::acl`; an error names the field and
//! the values it may take), who may read, create and delete which ACLs
//! (`reach.rs`), and the `acl.create` and `acl.delete` tasks that change
//! them.
//!
//! A delete must name its resource type, pattern type, operation and
//! permission, as Confluent's API requires; `ANY` is allowed, but only
//! given explicitly, so that no request deletes every ACL of a cluster by
//! leaving its filters out.

use ferry_entity::{
    ClusterId, TaskKind,
    acl::{
        AclBinding, AclFilter, AclOperation, AclPatternFilter, AclPatternType, AclPermission,
        AclResourceType,
    },
    payload::{AclCreatePayload, AclDeletePayload},
};

use crate::{
    error::ServiceError,
    store::Store,
    tasks::{NewTask, Requester, Task, submit},
};

mod reach;

pub use reach::{may_create, may_delete, sees};

/// The longest resource name, principal or host ferry accepts.
pub const MAX_TEXT: usize = 1024;

/// The longest task subject the `tasks` table holds.
const MAX_SUBJECT: usize = 255;

/// An ACL's fields as a request gives them.
#[derive(Debug, Clone, Default)]
pub struct AclFields {
    pub resource_type: String,
    pub resource_name: String,
    pub pattern_type: String,
    pub principal: String,
    pub host: String,
    pub operation: String,
    pub permission: String,
}

/// A filter's fields as a request gives them; `None` for one not given.
#[derive(Debug, Clone, Default)]
pub struct FilterFields {
    pub resource_type: Option<String>,
    pub resource_name: Option<String>,
    pub pattern_type: Option<String>,
    pub principal: Option<String>,
    pub host: Option<String>,
    pub operation: Option<String>,
    pub permission: Option<String>,
}

/// `values` as a list for a message: `A, B or C` (`and` for `all`).
fn listed(values: &[&str], all: bool) -> String {
    let conjunction = if all { "and" } else { "or" };
    match values.split_last() {
        Some((last, [])) => (*last).to_owned(),
        Some((last, rest)) => format!("{} {conjunction} {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// Parses one of an enum's names, or says which it may be.
fn one_of<T: Copy>(
    field: &str,
    raw: &str,
    all: &[T],
    as_str: fn(T) -> &'static str,
    any: bool,
) -> Result<Option<T>, ServiceError> {
    if any && raw == "ANY" {
        return Ok(None);
    }
    if let Some(v) = all.iter().copied().find(|v| as_str(*v) == raw) {
        return Ok(Some(v));
    }
    let mut names: Vec<&str> = all.iter().map(|v| as_str(*v)).collect();
    if any {
        names.insert(0, "ANY");
    }
    Err(ServiceError::invalid(format!(
        "{field}: `{raw}` is not one of {}",
        listed(&names, false)
    )))
}

fn required<T: Copy>(
    field: &str,
    raw: &str,
    all: &[T],
    as_str: fn(T) -> &'static str,
) -> Result<T, ServiceError> {
    one_of(field, raw, all, as_str, false)?
        .ok_or_else(|| ServiceError::invalid(format!("{field} is required")))
}

/// A name, principal or host: not empty, no NUL (librdkafka passes C
/// strings), at most [`MAX_TEXT`] characters.
fn text(field: &str, raw: &str) -> Result<String, ServiceError> {
    if raw.is_empty() {
        return Err(ServiceError::invalid(format!("{field} must not be empty")));
    }
    if raw.contains('\0') {
        return Err(ServiceError::invalid(format!(
            "{field} must not contain a NUL character"
        )));
    }
    if raw.chars().count() > MAX_TEXT {
        return Err(ServiceError::invalid(format!(
            "{field} is longer than {MAX_TEXT} characters"
        )));
    }
    Ok(raw.to_owned())
}

/// Kafka's principal form, `Type:name` with a type (`User:alice`).
fn principal(raw: &str) -> Result<String, ServiceError> {
    let principal = text("principal", raw)?;
    match principal.split_once(':') {
        Some((kind, _)) if !kind.is_empty() => Ok(principal),
        _ => Err(ServiceError::invalid(format!(
            "principal: `{raw}` is not of the form Type:name (e.g. User:alice)"
        ))),
    }
}

/// The ACL a create request describes.
pub fn binding(raw: &AclFields) -> Result<AclBinding, ServiceError> {
    Ok(AclBinding {
        resource_type: required(
            "resource_type",
            &raw.resource_type,
            AclResourceType::ALL,
            AclResourceType::as_str,
        )?,
        resource_name: text("resource_name", &raw.resource_name)?,
        pattern_type: required(
            "pattern_type",
            &raw.pattern_type,
            AclPatternType::ALL,
            AclPatternType::as_str,
        )?,
        principal: principal(&raw.principal)?,
        host: text("host", &raw.host)?,
        operation: required(
            "operation",
            &raw.operation,
            AclOperation::ALL,
            AclOperation::as_str,
        )?,
        permission: required(
            "permission",
            &raw.permission,
            AclPermission::ALL,
            AclPermission::as_str,
        )?,
    })
}

/// The filter a list request describes; a filter not given matches any
/// value.
pub fn filter(raw: &FilterFields) -> Result<AclFilter, ServiceError> {
    let opt_text =
        |field: &str, v: &Option<String>| v.as_deref().map(|v| text(field, v)).transpose();
    let resource_type = match raw.resource_type.as_deref() {
        None => None,
        Some(v) => one_of(
            "resource_type",
            v,
            AclResourceType::ALL,
            AclResourceType::as_str,
            true,
        )?,
    };
    let pattern_type = match raw.pattern_type.as_deref() {
        None => AclPatternFilter::Any,
        Some(v) => one_of(
            "pattern_type",
            v,
            AclPatternFilter::ALL,
            AclPatternFilter::as_str,
            false,
        )?
        .unwrap_or_default(),
    };
    let operation = match raw.operation.as_deref() {
        None => None,
        Some(v) => one_of(
            "operation",
            v,
            AclOperation::ALL,
            AclOperation::as_str,
            true,
        )?,
    };
    let permission = match raw.permission.as_deref() {
        None => None,
        Some(v) => one_of(
            "permission",
            v,
            AclPermission::ALL,
            AclPermission::as_str,
            true,
        )?,
    };
    Ok(AclFilter {
        resource_type,
        resource_name: opt_text("resource_name", &raw.resource_name)?,
        pattern_type,
        principal: opt_text("principal", &raw.principal)?,
        host: opt_text("host", &raw.host)?,
        operation,
        permission,
    })
}

/// A filter a delete may use: one that names its resource type, pattern
/// type, operation and permission. Only [`delete_filter`] makes one, so no
/// delete can be recorded with a filter that left them out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteFilter(AclFilter);

impl DeleteFilter {
    pub fn filter(&self) -> &AclFilter {
        &self.0
    }
}

/// The filter a delete request describes: as [`filter`], and its resource
/// type, pattern type, operation and permission must be given (each may be
/// `ANY`, explicitly).
pub fn delete_filter(raw: &FilterFields) -> Result<DeleteFilter, ServiceError> {
    let missing: Vec<&str> = [
        ("resource_type", &raw.resource_type),
        ("pattern_type", &raw.pattern_type),
        ("operation", &raw.operation),
        ("permission", &raw.permission),
    ]
    .into_iter()
    .filter(|(_, v)| v.is_none())
    .map(|(name, _)| name)
    .collect();
    if !missing.is_empty() {
        return Err(ServiceError::invalid(format!(
            "{} must be given to delete ACLs (ANY is allowed, explicitly): a delete that left \
             them out would delete every ACL of the cluster",
            listed(&missing, true)
        )));
    }
    filter(raw).map(DeleteFilter)
}

/// A task subject for an ACL or filter: `TOPIC:LITERAL:orders`, `ANY`
/// for a value not given, cut to what the column holds.
fn subject(resource_type: Option<AclResourceType>, pattern: &str, name: Option<&str>) -> String {
    let mut subject = format!(
        "{}:{pattern}:{}",
        resource_type.map_or("ANY", AclResourceType::as_str),
        name.unwrap_or_default()
    );
    if subject.len() > MAX_SUBJECT {
        let mut end = MAX_SUBJECT;
        while !subject.is_char_boundary(end) {
            end -= 1;
        }
        subject.truncate(end);
    }
    subject
}

/// Records an `acl.create` task; the caller has checked the caller's reach
/// ([`may_create`]).
pub async fn submit_create(
    store: &Store,
    cluster_id: ClusterId,
    acl: AclBinding,
    who: &Requester,
) -> Result<Task, ServiceError> {
    let about = subject(
        Some(acl.resource_type),
        acl.pattern_type.as_str(),
        Some(&acl.resource_name),
    );
    let new = NewTask::new(TaskKind::AclCreate, &AclCreatePayload { acl }, who)
        .on_cluster(cluster_id)
        .about(about);
    submit::submit(store, new, None).await
}

/// Records an `acl.delete` task; the caller has checked the caller's reach
/// ([`may_delete`]).
pub async fn submit_delete(
    store: &Store,
    cluster_id: ClusterId,
    filter: DeleteFilter,
    who: &Requester,
) -> Result<Task, ServiceError> {
    let DeleteFilter(filter) = filter;
    let about = subject(
        filter.resource_type,
        filter.pattern_type.as_str(),
        filter.resource_name.as_deref(),
    );
    let new = NewTask::new(TaskKind::AclDelete, &AclDeletePayload { filter }, who)
        .on_cluster(cluster_id)
        .about(about);
    submit::submit(store, new, None).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> AclFields {
        AclFields {
            resource_type: "TOPIC".into(),
            resource_name: "teama.orders".into(),
            pattern_type: "LITERAL".into(),
            principal: "User:alice".into(),
            host: "*".into(),
            operation: "READ".into(),
            permission: "ALLOW".into(),
        }
    }

    #[test]
    fn a_create_parses_or_names_the_field_and_its_values() {
        let acl = binding(&fields()).expect("a valid ACL");
        assert_eq!(acl.resource_type, AclResourceType::Topic);
        assert_eq!(acl.operation, AclOperation::Read);
        let err = binding(&AclFields {
            operation: "ANY".into(),
            ..fields()
        })
        .unwrap_err();
        assert!(
            err.message()
                .starts_with("operation: `ANY` is not one of ALL, READ"),
            "{err}"
        );
        let err = binding(&AclFields {
            pattern_type: "MATCH".into(),
            ..fields()
        })
        .unwrap_err();
        assert_eq!(
            err.message(),
            "pattern_type: `MATCH` is not one of LITERAL or PREFIXED"
        );
        for principal in ["alice", ":alice", ""] {
            let err = binding(&AclFields {
                principal: principal.into(),
                ..fields()
            })
            .unwrap_err();
            assert!(err.message().starts_with("principal"), "{err}");
        }
        assert!(
            binding(&AclFields {
                host: "a\0b".into(),
                ..fields()
            })
            .is_err()
        );
    }

    #[test]
    fn filters_take_any_and_a_delete_names_four_of_them() {
        let all = filter(&FilterFields::default()).unwrap();
        assert!(all.matches_everything());
        let raw = FilterFields {
            resource_type: Some("ANY".into()),
            pattern_type: Some("MATCH".into()),
            operation: Some("ANY".into()),
            permission: Some("DENY".into()),
            ..FilterFields::default()
        };
        let parsed = delete_filter(&raw).unwrap().0;
        assert_eq!(parsed.resource_type, None);
        assert_eq!(parsed.pattern_type, AclPatternFilter::Match);
        assert_eq!(parsed.permission, Some(AclPermission::Deny));
        let err = delete_filter(&FilterFields::default()).unwrap_err();
        assert!(
            err.message()
                .starts_with("resource_type, pattern_type, operation and permission must be given"),
            "{err}"
        );
        let err = filter(&FilterFields {
            resource_type: Some("topic".into()),
            ..FilterFields::default()
        })
        .unwrap_err();
        assert_eq!(
            err.message(),
            "resource_type: `topic` is not one of ANY, TOPIC, GROUP, CLUSTER or TRANSACTIONAL_ID"
        );
    }

    #[test]
    fn subjects_fit_the_column() {
        assert_eq!(
            subject(Some(AclResourceType::Topic), "LITERAL", Some("orders")),
            "TOPIC:LITERAL:orders"
        );
        assert_eq!(subject(None, "ANY", None), "ANY:ANY:");
        let long = "é".repeat(300);
        assert!(subject(None, "MATCH", Some(&long)).len() <= MAX_SUBJECT);
    }
}
