//! Settings from flags, environment variables and an optional TOML config file, with the
//! defaults a first run needs: everything under `./tearline-data`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;
use serde::Deserialize;

pub const DEFAULT_DATA_DIR: &str = "./tearline-data";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_CONFIG_FILE: &str = "tearline.toml";

/// Where Tearline keeps its data; shared by every command.
#[derive(Args, Debug, Clone)]
pub struct DataOptions {
    /// Data directory: the SQLite database and the vault key file live here by default.
    #[arg(long = "data", env = "TEARLINE_DATA")]
    pub data_dir: Option<PathBuf>,
    /// Database URL: sqlite://PATH (default: DATA/tearline.db) or postgres://USER@HOST/DB.
    #[arg(long, env = "TEARLINE_DATABASE_URL")]
    pub database: Option<String>,
    /// The vault key file (default: DATA/vault.key). Keep it off database backups.
    #[arg(long, env = "TEARLINE_KEY_FILE")]
    pub key_file: Option<PathBuf>,
    /// The audit log's Ed25519 signing key (default: DATA/audit-signing.key).
    #[arg(long, env = "TEARLINE_AUDIT_KEY_FILE")]
    pub audit_key_file: Option<PathBuf>,
    /// A TOML config file (default: ./tearline.toml when present).
    #[arg(long, env = "TEARLINE_CONFIG")]
    pub config: Option<PathBuf>,
}

/// The config file's keys; each is optional and loses to a flag or an environment variable.
#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    data: Option<PathBuf>,
    listen: Option<String>,
    database: Option<String>,
    key_file: Option<PathBuf>,
    audit_key_file: Option<PathBuf>,
    demo: Option<bool>,
    behind_tls: Option<bool>,
}

/// Settings after every source has had its say.
#[derive(Debug, Clone)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub listen: String,
    pub database_url: String,
    pub key_file: PathBuf,
    pub audit_key_file: PathBuf,
    pub demo: bool,
    pub behind_tls: bool,
}

impl Settings {
    pub fn resolve(options: &DataOptions, listen: Option<&str>) -> Result<Settings> {
        let file = load_config(options.config.as_deref())?;
        let data_dir =
            options.data_dir.clone().or(file.data).unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        let database_url = options
            .database
            .clone()
            .or(file.database)
            .unwrap_or_else(|| format!("sqlite://{}?mode=rwc", data_dir.join("tearline.db").display()));
        let key_file =
            options.key_file.clone().or(file.key_file).unwrap_or_else(|| data_dir.join("vault.key"));
        let audit_key_file = options
            .audit_key_file
            .clone()
            .or(file.audit_key_file)
            .unwrap_or_else(|| data_dir.join("audit-signing.key"));
        Ok(Settings {
            listen: listen.map(str::to_owned).or(file.listen).unwrap_or_else(|| DEFAULT_LISTEN.to_owned()),
            demo: file.demo.unwrap_or(false),
            behind_tls: file.behind_tls.unwrap_or(false),
            data_dir,
            database_url,
            key_file,
            audit_key_file,
        })
    }

    /// The SQLite database file, when the database is SQLite.
    pub fn sqlite_path(&self) -> Option<PathBuf> {
        let rest = self
            .database_url
            .strip_prefix("sqlite://")
            .or_else(|| self.database_url.strip_prefix("sqlite:"))?;
        let path = rest.split('?').next().unwrap_or(rest);
        (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
    }

    /// The database URL with any password replaced, for printing.
    pub fn redacted_database_url(&self) -> String {
        redact_password(&self.database_url)
    }
}

fn load_config(explicit: Option<&Path>) -> Result<ConfigFile> {
    let path = match explicit {
        Some(path) => path.to_path_buf(),
        None if Path::new(DEFAULT_CONFIG_FILE).exists() => PathBuf::from(DEFAULT_CONFIG_FILE),
        None => return Ok(ConfigFile::default()),
    };
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("reading the config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("the config file {} is invalid", path.display()))
}

fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((credentials, host)) if credentials.contains(':') => {
            let user = credentials.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}")
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> DataOptions {
        DataOptions { data_dir: None, database: None, key_file: None, audit_key_file: None, config: None }
    }

    #[test]
    fn defaults_put_everything_in_the_data_directory() {
        let settings = Settings::resolve(&options(), None).unwrap();
        assert_eq!(settings.listen, DEFAULT_LISTEN);
        assert_eq!(settings.key_file, Path::new(DEFAULT_DATA_DIR).join("vault.key"));
        assert!(settings.database_url.starts_with("sqlite://./tearline-data/tearline.db"));
    }

    #[test]
    fn flags_win_over_the_config_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.toml");
        std::fs::write(&path, "data = \"/srv/t\"\nlisten = \"0.0.0.0:9000\"\nbehind_tls = true\n").unwrap();
        let mut opts = options();
        opts.config = Some(path.clone());
        let from_file = Settings::resolve(&opts, None).unwrap();
        assert_eq!(
            (from_file.data_dir, from_file.listen.as_str(), from_file.behind_tls),
            (PathBuf::from("/srv/t"), "0.0.0.0:9000", true)
        );
        opts.data_dir = Some(PathBuf::from("/elsewhere"));
        let flagged = Settings::resolve(&opts, Some("127.0.0.1:1")).unwrap();
        assert_eq!((flagged.data_dir, flagged.listen.as_str()), (PathBuf::from("/elsewhere"), "127.0.0.1:1"));
    }

    #[test]
    fn an_unknown_config_key_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.toml");
        std::fs::write(&path, "lisen = \"x\"\n").unwrap();
        let mut opts = options();
        opts.config = Some(path);
        let error = format!("{:#}", Settings::resolve(&opts, None).unwrap_err());
        assert!(error.contains("t.toml") && error.contains("lisen"), "{error}");
    }

    #[test]
    fn passwords_never_print() {
        assert_eq!(redact_password("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact_password("postgres://u@h/db"), "postgres://u@h/db");
    }
}
