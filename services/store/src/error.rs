//! The store's typed errors.

use std::path::PathBuf;

/// Everything a store operation can fail with.
///
/// The admin commands print these as one line; the `Display` texts are written for operators.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// An entity with the same unique key exists.
    #[error("{entity} '{key}' already exists")]
    Duplicate {
        /// What kind of entity (`endpoint`, `agent`, `extension`, ...).
        entity: &'static str,
        /// The key that clashed.
        key: String,
    },
    /// No entity has that key.
    #[error("no {entity} '{key}'")]
    NotFound {
        /// What kind of entity.
        entity: &'static str,
        /// The key looked for.
        key: String,
    },
    /// A value given to the store is not acceptable.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// Which field or argument.
        field: &'static str,
        /// Why, in words.
        reason: String,
    },
    /// One row of a bulk operation (e.g. an endpoint import) was refused; nothing was changed.
    #[error("row {index}: {error}")]
    Row {
        /// The row's position in the input, counting from 1.
        index: usize,
        /// Why it was refused ([`StoreError::Invalid`] or [`StoreError::Duplicate`]).
        error: Box<StoreError>,
    },
    /// The database was migrated by a newer Switchboard.
    #[error(
        "the database schema is at version {database}, newer than this Switchboard knows \
         (up to version {binary}); run a Switchboard at least as new as the one that \
         migrated it, or use another database"
    )]
    SchemaTooNew {
        /// Highest migration version applied to the database.
        database: i64,
        /// Highest migration version embedded in this binary.
        binary: i64,
    },
    /// The database URL names no supported backend.
    #[error(
        "unsupported database URL '{0}': use postgres://... (or postgresql://...) or sqlite://PATH"
    )]
    UnsupportedUrl(String),
    /// The data directory (for the SQLite file or the spool) cannot be used.
    #[error("cannot use data directory {}: {source}", path.display())]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The writer's spool file cannot be read or written.
    #[error("spool file {}: {source}", path.display())]
    Spool {
        /// The spool file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Applying migrations failed.
    #[error("database migration failed: {0}")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    /// Any other database error (connection, SQL, constraint).
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl StoreError {
    /// Whether retrying the same operation later may succeed: the connection or the server
    /// failed, not the statement.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Database(e) => is_transient(e),
            StoreError::Migrate(sqlx::migrate::MigrateError::Execute(e)) => is_transient(e),
            _ => false,
        }
    }
}

/// Whether a sqlx error is about the connection or the server's state rather than about the
/// statement: network and pool errors, PostgreSQL classes 08 (connection), 53 (resources),
/// 57 (operator intervention, e.g. shutdown), 40001/40P01, and SQLite BUSY/LOCKED/IOERR/FULL.
pub fn is_transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            let code = db.code();
            let code = code.as_deref().unwrap_or("");
            if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                // SQLite result codes; extended codes keep the primary one in the low byte.
                code.parse::<i64>()
                    .is_ok_and(|c| matches!(c & 0xff, 5 | 6 | 10 | 13))
            } else {
                code.starts_with("08")
                    || code.starts_with("53")
                    || code.starts_with("57")
                    || code == "40001"
                    || code == "40P01"
            }
        }
        _ => false,
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        StoreError::Migrate(e)
    }
}

/// `Result` with a [`StoreError`].
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
