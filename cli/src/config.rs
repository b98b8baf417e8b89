//! The configuration file: the server's `url` and a `token`, in TOML, so
//! that neither has to be in the environment or on the command line.
//!
//! It is `--config PATH`, else `$FERRY_CONFIG`, else
//! `$XDG_CONFIG_HOME/ferry/config.toml`, else
//! `~/.config/ferry/config.toml`. A file named explicitly must exist; the
//! default one may not. Flags and environment variables win over it.
//!
//! The token is read straight into a redacting type, and a file that others
//! may read while it holds a token is warned about (as ssh does for a key),
//! though still used. A file that does not parse is reported with its line
//! only, never its text: the line may be the token's.

use std::path::{Path, PathBuf};

use secrecy::SecretString;
use serde::Deserialize;

/// What the file says.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub url: Option<String>,
    pub token: Option<SecretString>,
}

/// The file to read: the named one (which must exist), else the default
/// place (`None` when neither `XDG_CONFIG_HOME` nor `HOME` is set).
pub fn location(named: Option<PathBuf>) -> Option<(PathBuf, bool)> {
    if let Some(path) = named {
        return Some((path, true));
    }
    let base = non_empty("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| non_empty("HOME").map(|home| Path::new(&home).join(".config")))?;
    Some((base.join("ferry").join("config.toml"), false))
}

fn non_empty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Reads the file at `path`; a missing one is an empty configuration unless
/// `required`. The error is a line for the person.
pub fn load(path: &Path, required: bool) -> Result<Config, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound && !required => {
            return Ok(Config::default());
        }
        Err(err) => return Err(format!("cannot read {}: {err}", path.display())),
    };
    let config = parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    if config.token.is_some()
        && let Some(mode) = loose_mode(path)
    {
        eprintln!(
            "ferry: warning: {} holds a token and others may read it (mode {mode:03o}); \
             run `chmod 600 {}`",
            path.display(),
            path.display()
        );
    }
    Ok(config)
}

/// The TOML of a configuration; its error names the line, not the text.
fn parse(text: &str) -> Result<Config, String> {
    toml::from_str(text).map_err(|err: toml::de::Error| {
        let line = err.span().map(|span| {
            text.as_bytes()[..span.start.min(text.len())]
                .iter()
                .filter(|b| **b == b'\n')
                .count()
                + 1
        });
        let message = err.message().trim_end_matches('.').to_owned();
        match line {
            Some(line) => format!("line {line}: {message}"),
            None => message,
        }
    })
}

/// The file's permission bits when its group or others may use it.
#[cfg(unix)]
fn loose_mode(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then_some(mode)
}

#[cfg(not(unix))]
fn loose_mode(_: &Path) -> Option<u32> {
    None
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    #[test]
    fn a_config_has_a_url_and_a_token() {
        let config = parse("url = \"http://ferry:4116\"\ntoken = \"fy_secret\"\n").unwrap();
        assert_eq!(config.url.as_deref(), Some("http://ferry:4116"));
        assert_eq!(config.token.unwrap().expose_secret(), "fy_secret");
        assert!(parse("").unwrap().url.is_none());
    }

    #[test]
    fn a_bad_config_names_its_line_and_never_shows_its_text() {
        let err = parse("url = \"http://x\"\ntoken = fy_secret\n").unwrap_err();
        assert!(err.starts_with("line 2"), "{err}");
        assert!(!err.contains("fy_secret"), "{err}");
        let err = parse("tokne = \"fy_secret\"\n").unwrap_err();
        assert!(err.contains("tokne") && !err.contains("fy_secret"), "{err}");
    }

    #[test]
    fn a_named_file_is_used_as_named() {
        let (path, required) = location(Some(PathBuf::from("/etc/ferry.toml"))).unwrap();
        assert_eq!(path, PathBuf::from("/etc/ferry.toml"));
        assert!(required);
    }
}
