//! Shared harness of the store's integration tests: a fresh database per test on either
//! backend, and the macro that instantiates each test for both.
//!
//! PostgreSQL comes from `SWITCHBOARD_TEST_DATABASE_URL` (scripts/test.sh starts a throwaway
//! cluster and sets it); every test creates its own database there. Without the variable a
//! PostgreSQL test fails: no test is skipped.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

pub mod records;

use sqlx::Connection;
use store::{Location, Store};

/// The variable naming the PostgreSQL server for tests.
pub const PG_URL_VAR: &str = "SWITCHBOARD_TEST_DATABASE_URL";

/// Which backend a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Embedded SQLite in a scratch directory.
    Sqlite,
    /// A fresh database on the test PostgreSQL server.
    Postgres,
}

/// The test server's URL (a database on it that tests may connect to for CREATE DATABASE).
pub fn pg_base_url() -> String {
    match std::env::var(PG_URL_VAR) {
        Ok(url) if !url.trim().is_empty() => url,
        _ => panic!(
            "{PG_URL_VAR} is not set: the store's tests run against PostgreSQL too. Run \
             ./scripts/test.sh (it starts a throwaway PostgreSQL cluster), or set \
             {PG_URL_VAR}=postgres://USER@HOST:PORT/DB for a server where the tests may \
             create and drop databases."
        ),
    }
}

/// A fresh scratch directory under cargo's target tmp directory.
pub fn scratch_dir(label: &str) -> PathBuf {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "store-{label}-{}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        uuid::Uuid::now_v7().simple()
    ));
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}

/// `base` with its database name replaced by `db`.
fn with_database(base: &str, db: &str) -> String {
    let (without_query, query) = match base.split_once('?') {
        Some((u, q)) => (u, Some(q)),
        None => (base, None),
    };
    let scheme_end = without_query.find("://").map_or(0, |i| i + 3);
    let root = match without_query[scheme_end..].find('/') {
        Some(i) => &without_query[..scheme_end + i],
        None => without_query,
    };
    match query {
        Some(q) => format!("{root}/{db}?{q}"),
        None => format!("{root}/{db}"),
    }
}

/// A database for one test.
pub struct TestDb {
    /// The open store.
    pub store: Store,
    /// Where it lives (for reopening).
    pub location: Location,
    /// Scratch directory (the SQLite file, spools).
    pub dir: PathBuf,
    /// The PostgreSQL database to drop at the end.
    pg_database: Option<String>,
}

impl TestDb {
    /// A fresh, migrated database on `kind`.
    pub async fn new(kind: Kind) -> TestDb {
        let db = TestDb::unmigrated(kind).await;
        db.store
            .migrate()
            .await
            .unwrap_or_else(|e| panic!("cannot migrate {}: {e}", db.location));
        db
    }

    /// A fresh, empty database on `kind`: no migration applied yet.
    pub async fn unmigrated(kind: Kind) -> TestDb {
        let dir = scratch_dir(match kind {
            Kind::Sqlite => "sqlite",
            Kind::Postgres => "postgres",
        });
        let (location, pg_database) = match kind {
            Kind::Sqlite => (Location::Sqlite(dir.join(store::SQLITE_FILE)), None),
            Kind::Postgres => {
                let base = pg_base_url();
                let name = format!("sbtest_{}", uuid::Uuid::now_v7().simple());
                let mut admin = sqlx::PgConnection::connect(&base)
                    .await
                    .unwrap_or_else(|e| panic!("cannot connect to {PG_URL_VAR}: {e}"));
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut admin)
                    .await
                    .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
                let _ = admin.close().await;
                (Location::Postgres(with_database(&base, &name)), Some(name))
            }
        };
        let store = Store::connect(&location)
            .await
            .unwrap_or_else(|e| panic!("cannot open {location}: {e}"));
        TestDb {
            store,
            location,
            dir,
            pg_database,
        }
    }

    /// Closes the store and opens it again (a restart).
    pub async fn reopen(&mut self) {
        self.store.close().await;
        self.store = Store::open(&self.location)
            .await
            .unwrap_or_else(|e| panic!("cannot reopen {}: {e}", self.location));
    }

    /// Closes the store and drops the PostgreSQL database (SQLite scratch files stay under
    /// target/tmp).
    pub async fn finish(self) {
        self.store.close().await;
        if let Some(name) = self.pg_database
            && let Ok(mut admin) = sqlx::PgConnection::connect(&pg_base_url()).await
        {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut admin)
                .await;
            let _ = admin.close().await;
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Instantiates each named `async fn name(kind: Kind)` as a `#[tokio::test]` in module
/// `sqlite` and in module `postgres`.
#[allow(unused_macros)]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(crate::common::Kind::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(crate::common::Kind::Postgres).await
                }
            )*
        }
    };
}
#[allow(unused_imports)]
pub(crate) use on_both_backends;

#[test]
fn database_names_are_replaced_in_urls() {
    assert_eq!(
        with_database("postgres://u@127.0.0.1:5432/postgres", "x"),
        "postgres://u@127.0.0.1:5432/x"
    );
    assert_eq!(
        with_database("postgres://u@h:1/postgres?sslmode=disable", "x"),
        "postgres://u@h:1/x?sslmode=disable"
    );
    assert_eq!(with_database("postgres://u@h:1", "x"), "postgres://u@h:1/x");
}
