//! Encryption of secrets at rest (XChaCha20-Poly1305) and the key that does
//! it. Ciphertexts are `v1:` + base64(nonce || ciphertext).

use std::path::{Path, PathBuf};

use base64::{Engine, engine::general_purpose::STANDARD};
use chacha20poly1305::{
    KeyInit, XChaCha20Poly1305, XNonce,
    aead::{Aead, AeadCore, OsRng},
};
use secrecy::{ExposeSecret, SecretString};

use crate::settings::Settings;

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error(
        "FERRY_SECRET_KEY is required with a {0} metadata store: set it to 32 random bytes, base64-encoded (e.g. `openssl rand -base64 32`)"
    )]
    KeyRequired(&'static str),
    #[error("FERRY_SECRET_KEY must be 32 bytes, base64- or hex-encoded")]
    BadKey,
    #[error("cannot read or create the key file {path}: {source}")]
    KeyFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("a stored secret cannot be decrypted with this key (was FERRY_SECRET_KEY changed?)")]
    Decrypt,
}

/// Encrypts and decrypts secrets. Its `Debug` never shows the key.
#[derive(Clone)]
pub struct SecretBox {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(******)")
    }
}

impl SecretBox {
    pub fn from_key_bytes(key: &[u8; 32]) -> Self {
        Self {
            cipher: XChaCha20Poly1305::new(key.into()),
        }
    }

    /// Finds the key: `FERRY_SECRET_KEY`, else (SQLite only) a key file beside
    /// the database, created on first start.
    pub fn load(settings: &Settings) -> Result<Self, SecretError> {
        if let Some(key) = &settings.secret_key {
            return Ok(Self::from_key_bytes(&decode_key(key.expose_secret())?));
        }
        if !settings.is_sqlite() {
            let kind = if settings.database_url.starts_with("mysql") {
                "MySQL"
            } else {
                "PostgreSQL"
            };
            return Err(SecretError::KeyRequired(kind));
        }
        match sqlite_key_path(&settings.database_url) {
            Some(path) => Ok(Self::from_key_bytes(&load_or_create_key_file(&path)?)),
            None => {
                tracing::warn!(
                    "in-memory SQLite: secrets use a key that lives only as long as this process"
                );
                Ok(Self::from_key_bytes(
                    &XChaCha20Poly1305::generate_key(&mut OsRng).into(),
                ))
            }
        }
    }

    pub fn encrypt(&self, plaintext: &str) -> String {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let ciphertext = self
            .cipher
            .encrypt(&nonce, plaintext.as_bytes())
            .expect("XChaCha20-Poly1305 encryption of an in-memory buffer cannot fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ciphertext);
        format!("v1:{}", STANDARD.encode(out))
    }

    pub fn decrypt(&self, stored: &str) -> Result<SecretString, SecretError> {
        let raw = stored
            .strip_prefix("v1:")
            .and_then(|b64| STANDARD.decode(b64).ok())
            .ok_or(SecretError::Decrypt)?;
        if raw.len() < 24 {
            return Err(SecretError::Decrypt);
        }
        let (nonce, ciphertext) = raw.split_at(24);
        let plaintext = self
            .cipher
            .decrypt(XNonce::from_slice(nonce), ciphertext)
            .map_err(|_| SecretError::Decrypt)?;
        String::from_utf8(plaintext)
            .map(SecretString::from)
            .map_err(|_| SecretError::Decrypt)
    }
}

fn decode_key(text: &str) -> Result<[u8; 32], SecretError> {
    let text = text.trim();
    let bytes = STANDARD
        .decode(text)
        .ok()
        .filter(|b| b.len() == 32)
        .or_else(|| hex::decode(text).ok().filter(|b| b.len() == 32))
        .ok_or(SecretError::BadKey)?;
    let mut key = [0u8; 32];
    key.copy_from_slice(&bytes);
    Ok(key)
}

/// `sqlite://data/ferry.db?mode=rwc` -> `data/ferry.key`; `None` for memory.
fn sqlite_key_path(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    if path.is_empty() || path == ":memory:" {
        return None;
    }
    Some(Path::new(path).with_extension("key"))
}

fn load_or_create_key_file(path: &Path) -> Result<[u8; 32], SecretError> {
    let io = |source| SecretError::KeyFile {
        path: path.to_owned(),
        source,
    };
    match std::fs::read_to_string(path) {
        Ok(text) => decode_key(&text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key: [u8; 32] = XChaCha20Poly1305::generate_key(&mut OsRng).into();
            write_private_file(path, &STANDARD.encode(key)).map_err(io)?;
            tracing::warn!(key_file = %path.display(), "created a new secret key file beside the SQLite database; back it up with the database");
            Ok(key)
        }
        Err(e) => Err(io(e)),
    }
}

/// Creates the file readable by its owner only; losing a race with another
/// process starting at the same moment is fine as long as we then read its key.
fn write_private_file(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    match options.open(path) {
        Ok(mut file) => file.write_all(contents.as_bytes()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper() {
        let sb = SecretBox::from_key_bytes(&[7u8; 32]);
        let ct = sb.encrypt("hunter2");
        assert!(!ct.contains("hunter2"));
        assert_eq!(sb.decrypt(&ct).unwrap().expose_secret(), "hunter2");
        let other = SecretBox::from_key_bytes(&[8u8; 32]);
        assert!(other.decrypt(&ct).is_err());
    }

    #[test]
    fn key_path_beside_database() {
        assert_eq!(
            sqlite_key_path("sqlite://data/ferry.db?mode=rwc").unwrap(),
            PathBuf::from("data/ferry.key")
        );
        assert!(sqlite_key_path("sqlite::memory:").is_none());
    }
}
