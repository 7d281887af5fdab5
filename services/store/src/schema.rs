//! Schema migrations: embedded from `migrations/postgres` and `migrations/sqlite` at build
//! time, applied by [`Store::migrate`] (so at every start and by `switchboard migrate`).

use sqlx::migrate::Migrator;

use crate::{Backend, Result, Store, StoreError};

/// The PostgreSQL migrations.
pub static POSTGRES: Migrator = sqlx::migrate!("../../migrations/postgres");

/// The SQLite migrations.
pub static SQLITE: Migrator = sqlx::migrate!("../../migrations/sqlite");

/// The highest migration version a migrator holds (0 if none).
pub fn latest(migrator: &Migrator) -> i64 {
    migrator.iter().map(|m| m.version).max().unwrap_or(0)
}

/// What [`Store::migrate`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MigrationReport {
    /// The schema version before (0 for an empty database).
    pub before: i64,
    /// The schema version after.
    pub after: i64,
}

impl Store {
    /// This backend's embedded migrations.
    pub fn migrator(&self) -> &'static Migrator {
        match self.backend() {
            Backend::Postgres(_) => &POSTGRES,
            Backend::Sqlite(_) => &SQLITE,
        }
    }

    /// The highest migration version applied to the database (0 if none).
    pub async fn schema_version(&self) -> Result<i64> {
        let exists: bool = with_db!(self, |pool| {
            sqlx::query_scalar(match self.backend() {
                Backend::Postgres(_) => "SELECT to_regclass('_sqlx_migrations') IS NOT NULL",
                Backend::Sqlite(_) => {
                    "SELECT EXISTS (SELECT 1 FROM sqlite_master \
                     WHERE type = 'table' AND name = '_sqlx_migrations')"
                }
            })
            .fetch_one(pool)
            .await?
        });
        if !exists {
            return Ok(0);
        }
        let version: Option<i64> = with_db!(self, |pool| {
            sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
                .fetch_one(pool)
                .await?
        });
        Ok(version.unwrap_or(0))
    }

    /// Refuses a schema newer than this binary knows ([`StoreError::SchemaTooNew`]), then
    /// applies the pending migrations (each in its own transaction; on PostgreSQL under an
    /// advisory lock, so concurrent starts do not race).
    pub async fn migrate(&self) -> Result<MigrationReport> {
        let migrator = self.migrator();
        let binary = latest(migrator);
        let before = self.schema_version().await?;
        if before > binary {
            return Err(StoreError::SchemaTooNew {
                database: before,
                binary,
            });
        }
        with_db!(self, |pool| migrator.run(pool).await?);
        let after = self.schema_version().await?;
        Ok(MigrationReport { before, after })
    }
}
