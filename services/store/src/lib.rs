//! Switchboard persistence: one schema for the whole platform, on PostgreSQL or on an
//! embedded SQLite file, through sqlx.
//!
//! * [`Store::open`] connects to the backend a [`Location`] names and migrates the schema
//!   ([`schema`]); it refuses a database migrated by a newer Switchboard.
//! * Repositories for the admin surface: [`endpoints`], [`agents`], [`queues`], [`ivr`]; every
//!   change writes an [`audit`] row in the same transaction.
//! * [`recordings`]: finished call recordings (path, length, size, SHA-256), by call.
//! * [`registrations`]: the registrar's bindings, written in batches, loaded after a restart,
//!   and each endpoint's registration status.
//! * [`writer`]: the batching writer for call events and CDRs, off the hot path, with a
//!   local spool file for database outages.
//!
//! Each query is written once and runs on both backends: SQL uses `$1`-style parameters,
//! which both PostgreSQL and SQLite accept, and the `with_db!` macro instantiates the same
//! body for the PostgreSQL and the SQLite pool. Where the dialects differ (DDL), the
//! migrations are kept per backend under `migrations/postgres` and `migrations/sqlite`.

/// Runs `$body` with `$pool` bound to the backend's pool (a `&PgPool` or a `&SqlitePool`):
/// the body is compiled once per backend, so every type is concrete in each copy.
macro_rules! with_db {
    ($store:expr, |$pool:ident| $body:expr) => {
        match $store.backend() {
            $crate::Backend::Postgres($pool) => $body,
            $crate::Backend::Sqlite($pool) => $body,
        }
    };
}

pub mod agents;
pub mod audit;
pub mod endpoints;
mod error;
mod ha1;
mod id;
pub mod ivr;
pub mod queues;
pub mod recordings;
pub mod registrations;
pub mod schema;
pub mod validate;
pub mod writer;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

pub use endpoints::DtmfMode;
pub use error::{Result, StoreError, is_transient};
pub use ha1::{Ha1, sha256_hex};
pub use id::Id;

/// File name of the SQLite database inside the data directory.
pub const SQLITE_FILE: &str = "switchboard.db";

/// How long a caller waits for a pooled connection before the operation fails.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// Where the data lives.
#[derive(Clone, PartialEq, Eq)]
pub enum Location {
    /// A PostgreSQL server, by `postgres://` URL.
    Postgres(String),
    /// A SQLite database file.
    Sqlite(PathBuf),
}

impl Location {
    /// The backend for a `--database-url` (if given) or else the SQLite file
    /// `<data_dir>/switchboard.db`. `sqlite://PATH` (or `sqlite:PATH`) names a SQLite file
    /// explicitly.
    pub fn resolve(database_url: Option<&str>, data_dir: &Path) -> Result<Location> {
        match database_url.map(str::trim) {
            None | Some("") => Ok(Location::Sqlite(data_dir.join(SQLITE_FILE))),
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Ok(Location::Postgres(url.to_string()))
            }
            Some(url) => match url
                .strip_prefix("sqlite://")
                .or_else(|| url.strip_prefix("sqlite:"))
            {
                Some(path) if !path.is_empty() => Ok(Location::Sqlite(PathBuf::from(path))),
                _ => Err(StoreError::UnsupportedUrl(redact(url))),
            },
        }
    }

    /// The backend's name: `postgres` or `sqlite`.
    pub fn backend_name(&self) -> &'static str {
        match self {
            Location::Postgres(_) => "postgres",
            Location::Sqlite(_) => "sqlite",
        }
    }
}

/// Shown without the password of a URL.
impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Postgres(url) => f.write_str(&redact(url)),
            Location::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
        }
    }
}

impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// `url` with the password (between `user:` and `@`) replaced by `***`.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{scheme}://{user}:***{}", &rest[at..]),
                None => url.to_string(),
            }
        }
        None => url.to_string(),
    }
}

/// The connection pool of one backend.
#[derive(Debug, Clone)]
pub enum Backend {
    /// PostgreSQL.
    Postgres(PgPool),
    /// SQLite.
    Sqlite(SqlitePool),
}

/// A handle on the database: cheap to clone (the pool is shared).
#[derive(Debug, Clone)]
pub struct Store {
    backend: Backend,
    location: Location,
}

impl Store {
    /// Connects, refuses a schema newer than this binary knows, and applies any pending
    /// migrations. For SQLite the file and its directory are created if missing.
    pub async fn open(location: &Location) -> Result<Store> {
        let store = Store::connect(location).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Connects without touching the schema.
    pub async fn connect(location: &Location) -> Result<Store> {
        let backend = match location {
            Location::Postgres(url) => {
                let options = PgConnectOptions::from_str(url)?.application_name("switchboard");
                // One plain connection first: its error says why (refused, auth, no such
                // database), where the pool would only report a timeout.
                let probe =
                    tokio::time::timeout(ACQUIRE_TIMEOUT, PgConnection::connect_with(&options))
                        .await
                        .map_err(|_| sqlx::Error::PoolTimedOut)??;
                let _ = probe.close().await;
                let pool = PgPoolOptions::new()
                    .max_connections(8)
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .connect_with(options)
                    .await?;
                Backend::Postgres(pool)
            }
            Location::Sqlite(path) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|source| StoreError::DataDir {
                        path: dir.to_path_buf(),
                        source,
                    })?;
                }
                let options = SqliteConnectOptions::new()
                    .filename(path)
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .foreign_keys(true)
                    .busy_timeout(Duration::from_secs(5));
                let pool = SqlitePoolOptions::new()
                    .max_connections(4)
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .connect_with(options)
                    .await?;
                Backend::Sqlite(pool)
            }
        };
        Ok(Store {
            backend,
            location: location.clone(),
        })
    }

    /// The backend's pool, for code that needs the concrete driver (tests, tools).
    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    /// Where this store's data lives.
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// Closes every pooled connection (waits for the ones in use).
    pub async fn close(&self) {
        match &self.backend {
            Backend::Postgres(pool) => pool.close().await,
            Backend::Sqlite(pool) => pool.close().await,
        }
    }
}

/// The current UTC time, truncated to microseconds (what PostgreSQL keeps), so a value
/// read back equals the value written on both backends.
pub fn now_utc() -> time::OffsetDateTime {
    let now = time::OffsetDateTime::now_utc();
    let micros = now.microsecond();
    now.replace_microsecond(micros).unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_resolve_from_url_or_data_dir() {
        let dir = Path::new("/var/lib/sb");
        assert_eq!(
            Location::resolve(None, dir).ok(),
            Some(Location::Sqlite(dir.join("switchboard.db")))
        );
        assert_eq!(
            Location::resolve(Some("postgres://u:secret@db/sb"), dir).ok(),
            Some(Location::Postgres("postgres://u:secret@db/sb".into()))
        );
        assert_eq!(
            Location::resolve(Some("sqlite:///tmp/x.db"), dir).ok(),
            Some(Location::Sqlite(PathBuf::from("/tmp/x.db")))
        );
        assert!(matches!(
            Location::resolve(Some("mysql://u:pw@h/db"), dir),
            Err(StoreError::UnsupportedUrl(u)) if u == "mysql://u:***@h/db"
        ));
    }

    #[test]
    fn urls_are_shown_without_passwords() {
        assert_eq!(
            redact("postgres://u:pw@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("postgres://h/db?x=@"), "postgres://h/db?x=@");
        let loc = Location::Postgres("postgresql://a:b@c/d".into());
        assert_eq!(loc.to_string(), "postgresql://a:***@c/d");
    }
}
