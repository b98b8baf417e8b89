//! A Kafka cluster's schema registry setting: where it is and who ferry is
//! there. The URL and user name are stored with the cluster's settings; the
//! password with its secrets (encrypted, never returned).

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::error::ServiceError;

/// The stored, non-secret part.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SchemaRegistrySettings {
    /// `http://` or `https://`, with a host; a path is kept (a registry
    /// behind a prefix).
    pub url: String,
    /// Basic authentication's user, when the registry asks for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
}

/// A registration or update of the setting. An empty `url` removes it.
#[derive(Debug, Clone, Default)]
pub struct SchemaRegistryInput {
    pub url: String,
    pub username: Option<String>,
    pub password: Option<SecretString>,
}

impl SchemaRegistrySettings {
    /// The URL, which `from_input` checked.
    pub fn parsed_url(&self) -> reqwest::Url {
        reqwest::Url::parse(&self.url).expect("checked when registered")
    }

    /// The setting an input makes, with its password; `None` when the input
    /// removes it.
    pub fn from_input(
        input: &SchemaRegistryInput,
    ) -> Result<Option<(Self, Option<String>)>, ServiceError> {
        let url = input.url.trim();
        if url.is_empty() {
            return Ok(None);
        }
        let parsed = reqwest::Url::parse(url).map_err(|e| {
            ServiceError::invalid(format!("schemaRegistry.url does not parse as a URL: {e}"))
        })?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(ServiceError::invalid(
                "schemaRegistry.url must be an http:// or https:// URL with a host",
            ));
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(ServiceError::invalid(
                "schemaRegistry.url must not hold credentials: send schemaRegistry.username and \
                 schemaRegistry.password, which ferry stores encrypted",
            ));
        }
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(ServiceError::invalid(
                "schemaRegistry.url must not have a query or fragment",
            ));
        }
        let username = input
            .username
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty());
        let password = input
            .password
            .as_ref()
            .map(|p| p.expose_secret().to_owned())
            .filter(|p| !p.is_empty());
        if password.is_some() && username.is_none() {
            return Err(ServiceError::invalid(
                "schemaRegistry.password needs schemaRegistry.username",
            ));
        }
        Ok(Some((
            Self {
                url: parsed.as_str().trim_end_matches('/').to_owned(),
                username: username.map(str::to_owned),
            },
            password,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(url: &str) -> SchemaRegistryInput {
        SchemaRegistryInput {
            url: url.into(),
            ..Default::default()
        }
    }

    #[test]
    fn urls_are_checked() {
        let (ok, _) = SchemaRegistrySettings::from_input(&input(" http://registry:8081/ "))
            .unwrap()
            .unwrap();
        assert_eq!(ok.url, "http://registry:8081");
        assert!(
            SchemaRegistrySettings::from_input(&input(""))
                .unwrap()
                .is_none()
        );
        for bad in [
            "registry:8081",
            "ftp://registry",
            "http://u:p@registry",
            "http://registry?x=1",
            "not a url",
        ] {
            assert!(
                SchemaRegistrySettings::from_input(&input(bad)).is_err(),
                "{bad}"
            );
        }
        // What the document's pattern allows parses (the pattern of
        // `schemaRegistry.url` in api/src/native/clusters.rs).
        for fits in [
            "HTTPS://a-b.c0:65535/x/~y",
            "http://0.0.0.0:1",
            "http://255.255.255.255",
            "http://a.0.b",
            "http://a-0-b.c-d",
            "http://localhost/a//b",
        ] {
            assert!(
                SchemaRegistrySettings::from_input(&input(fits)).is_ok(),
                "{fits}"
            );
        }
        let no_user = SchemaRegistryInput {
            url: "https://r".into(),
            password: Some("p".to_owned().into()),
            ..Default::default()
        };
        assert!(SchemaRegistrySettings::from_input(&no_user).is_err());
    }
}
