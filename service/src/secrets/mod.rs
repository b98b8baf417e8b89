//! Encryption of secrets at rest (XChaCha20-Poly1305) and the key that does
//! it. Ciphertexts are `v1:` + base64(nonce || ciphertext).
//!
//! A key can be rotated: with `FERRY_SECRET_KEY_PREVIOUS` set beside a new
//! `FERRY_SECRET_KEY`, secrets sealed with either are read, and the first
//! process to start re-seals everything with the new one (`key_check`).

mod key_check;

pub use key_check::{KeyCheckError, check_and_rotate};

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

/// Encrypts and decrypts secrets with the key in use and, while a rotation
/// is under way, opens what the one before it sealed. Its `Debug` never
/// shows a key.
#[derive(Clone)]
pub struct SecretBox {
    cipher: XChaCha20Poly1305,
    /// `FERRY_SECRET_KEY_PREVIOUS`: opens what the key before this one sealed.
    previous: Option<XChaCha20Poly1305>,
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
            previous: None,
        }
    }

    /// Also opens secrets sealed with `previous`.
    pub fn with_previous(mut self, previous: &[u8; 32]) -> Self {
        self.previous = Some(XChaCha20Poly1305::new(previous.into()));
        self
    }

    /// Finds the key: `FERRY_SECRET_KEY`, else (SQLite only) a key file beside
    /// the database, created on first start.
    pub fn load(settings: &Settings) -> Result<Self, SecretError> {
        let current = Self::load_current(settings)?;
        match &settings.secret_key_previous {
            Some(previous) => Ok(current.with_previous(&decode_key(previous.expose_secret())?)),
            None => Ok(current),
        }
    }

    fn load_current(settings: &Settings) -> Result<Self, SecretError> {
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

    /// Opens a sealed secret with the key in use, else the previous one.
    pub fn decrypt(&self, stored: &str) -> Result<SecretString, SecretError> {
        open(&self.cipher, stored).or_else(|e| match &self.previous {
            Some(previous) => open(previous, stored),
            None => Err(e),
        })
    }

    /// Whether the key in use (not the previous one) opens `stored`.
    pub fn opens_with_current(&self, stored: &str) -> bool {
        open(&self.cipher, stored).is_ok()
    }
}

fn open(cipher: &XChaCha20Poly1305, stored: &str) -> Result<SecretString, SecretError> {
    let raw = stored
        .strip_prefix("v1:")
        .and_then(|b64| STANDARD.decode(b64).ok())
        .ok_or(SecretError::Decrypt)?;
    if raw.len() < 24 {
        return Err(SecretError::Decrypt);
    }
    let (nonce, ciphertext) = raw.split_at(24);
    let plaintext = cipher
        .decrypt(XNonce::from_slice(nonce), ciphertext)
        .map_err(|_| SecretError::Decrypt)?;
    String::from_utf8(plaintext)
        .map(SecretString::from)
        .map_err(|_| SecretError::Decrypt)
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
            if publish_private_file(path, &STANDARD.encode(key)).map_err(io)? {
                tracing::warn!(key_file = %path.display(), "created a new secret key file beside the SQLite database; back it up with the database");
                Ok(key)
            } else {
                // Another process published its key first: use that one,
                // which is the one on disk for every later start.
                decode_key(&std::fs::read_to_string(path).map_err(io)?)
            }
        }
        Err(e) => Err(io(e)),
    }
}

/// Writes the file, readable by its owner only, and publishes it at `path`
/// only if no file is there yet: the contents go to a file of this process's
/// own first, which is then hard-linked into place (atomic, and refused when
/// `path` exists), so that no process ever reads a half-written key. Returns
/// whether this process's file was published.
fn publish_private_file(path: &Path, contents: &str) -> std::io::Result<bool> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let staging = path.with_extension(format!(
        "key.{}.{:016x}.tmp",
        std::process::id(),
        rand::random::<u64>()
    ));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    let written = options.open(&staging).and_then(|mut file| {
        file.write_all(contents.as_bytes())
            .and_then(|()| file.sync_all())
    });
    let published = written.and_then(|()| std::fs::hard_link(&staging, path));
    let _ = std::fs::remove_file(&staging);
    match published {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
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
    fn the_previous_key_still_opens_what_it_sealed() {
        let old = SecretBox::from_key_bytes(&[1u8; 32]);
        let sealed = old.encrypt("hunter2");
        let rotated = SecretBox::from_key_bytes(&[2u8; 32]).with_previous(&[1u8; 32]);
        assert_eq!(rotated.decrypt(&sealed).unwrap().expose_secret(), "hunter2");
        assert!(!rotated.opens_with_current(&sealed));
        assert!(rotated.opens_with_current(&rotated.encrypt("x")));
    }

    #[test]
    fn racing_processes_agree_on_one_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ferry.key");
        let keys: Vec<[u8; 32]> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| s.spawn(|| load_or_create_key_file(&path).unwrap()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(keys.windows(2).all(|w| w[0] == w[1]), "two keys were used");
        assert_eq!(load_or_create_key_file(&path).unwrap(), keys[0]);
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
