//! Registrar bindings (RFC 3261 §10) in the `registrations` table: written as REGISTERs add,
//! refresh and remove them and as their reachability changes, loaded back after a restart,
//! and summarised per endpoint and per endpoint group ([`status`]).
//!
//! Plain data only: the registrar converts its bindings to [`RegistrationRecord`]s, so this
//! crate does not depend on it. A binding belongs to the endpoint whose user name is its
//! address-of-record; deleting the endpoint deletes its bindings (foreign key cascade).

mod batch;
mod status;
mod time_text;

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;

use time::OffsetDateTime;

use batch::{Final, SaveRow, StoredRow, fold, invalid_reason};
pub use status::{EndpointGroupSummary, EndpointState, EndpointStatus};
use time_text::DbTime;

use crate::{Backend, Id, Result, Store, now_utc};

/// The stored reachability values: not yet qualified, answering, not answering.
pub const REACHABILITY_VALUES: [&str; 3] = ["unknown", "reachable", "unreachable"];

/// The stored transport names (the schema's CHECK).
pub const TRANSPORTS: [&str; 5] = ["udp", "tcp", "tls", "ws", "wss"];

/// Rows per multi-row upsert (21 parameters each; SQLite allows 32,766 per statement).
const SAVE_ROWS_PER_STATEMENT: usize = 1_000;
/// Keys per multi-row DELETE, UPDATE or lookup (one to four parameters each).
const KEYS_PER_STATEMENT: usize = 1_000;

/// One binding as stored: an address-of-record bound to a contact, with the flow it was
/// registered over and the registrar's times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationRecord {
    /// Address-of-record: the endpoint's user name.
    pub aor: String,
    /// Contact URI as received.
    pub contact_uri: String,
    /// Where the REGISTER came from (UDP source or TCP remote end).
    pub source: SocketAddr,
    /// Our socket it arrived at; requests to the contact leave from it.
    pub local: SocketAddr,
    /// `udp`, `tcp`, `tls`, `ws` or `wss` ([`TRANSPORTS`]).
    pub transport: String,
    /// User-Agent header of the REGISTER.
    pub user_agent: Option<String>,
    /// q-value × 1000 (0..=1000), when the Contact had one.
    pub q_milli: Option<u16>,
    /// Call-ID of the REGISTER that last refreshed it.
    pub call_id: String,
    /// Its CSeq number.
    pub cseq: u32,
    /// Path header URIs (RFC 3327), in order.
    pub path: Vec<String>,
    /// `+sip.instance` (RFC 5626).
    pub instance_id: Option<String>,
    /// `reg-id` (RFC 5626; 1 to 2^31-1).
    pub reg_id: Option<u32>,
    /// When it expires.
    pub expires_at: OffsetDateTime,
    /// When it was first registered.
    pub registered_at: OffsetDateTime,
    /// When a REGISTER last refreshed it.
    pub refreshed_at: OffsetDateTime,
    /// `unknown`, `reachable` or `unreachable` ([`REACHABILITY_VALUES`]).
    pub reachability: String,
    /// When something last arrived from it.
    pub last_seen_at: OffsetDateTime,
}

/// One change to the stored bindings, as the registrar makes them.
// Most changes in a batch are Saves, so boxing the record would cost an allocation per
// change and save no memory.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistrationChange {
    /// Add the binding, or replace the stored one with the same AOR and contact.
    Save(RegistrationRecord),
    /// Forget a binding (unregistered, expired, replaced); nothing if it is not stored.
    Remove {
        /// Address-of-record.
        aor: String,
        /// Contact URI.
        contact_uri: String,
    },
    /// A stored binding's reachability changed; nothing if it is not stored.
    Reachability {
        /// Address-of-record.
        aor: String,
        /// Contact URI.
        contact_uri: String,
        /// `unknown`, `reachable` or `unreachable`.
        reachability: String,
        /// When something last arrived from it.
        last_seen_at: OffsetDateTime,
    },
}

impl RegistrationChange {
    /// The binding it is about: (AOR, contact URI).
    pub fn key(&self) -> (&str, &str) {
        match self {
            RegistrationChange::Save(r) => (&r.aor, &r.contact_uri),
            RegistrationChange::Remove { aor, contact_uri }
            | RegistrationChange::Reachability {
                aor, contact_uri, ..
            } => (aor, contact_uri),
        }
    }
}

/// What [`Store::apply_registration_changes`] did with a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ApplyReport {
    /// Changes applied (a later change to the same binding in the batch may supersede one).
    pub applied: usize,
    /// Saves for an AOR that is no endpoint's user name (e.g. removed meanwhile).
    pub skipped_unknown_aor: usize,
    /// Changes with a value the schema cannot hold (logged with the reason).
    pub skipped_invalid: usize,
}

impl ApplyReport {
    /// Changes not applied, for any reason.
    pub fn skipped(&self) -> usize {
        self.skipped_unknown_aor + self.skipped_invalid
    }
}

const COLUMNS: &str = "aor, contact_uri, source_address, source_port, local_address, transport, \
                       user_agent, q_milli, call_id, cseq, path, instance_id, reg_id, \
                       expires_at, registered_at, refreshed_at, reachability, last_seen_at";

impl Store {
    /// The statement that opens a transaction which will write: on SQLite `BEGIN IMMEDIATE`,
    /// so a transaction that reads first cannot fail with SQLITE_BUSY when it comes to write
    /// while another connection (the event writer) has written meanwhile.
    pub(crate) fn begin_write_sql(&self) -> &'static str {
        match self.backend() {
            Backend::Postgres(_) => "BEGIN",
            Backend::Sqlite(_) => "BEGIN IMMEDIATE",
        }
    }

    /// Applies a batch of binding changes in one transaction: upserts on (AOR, contact URI),
    /// deletes, reachability updates, in the batch's order per binding. A Save whose AOR is no
    /// endpoint's user name, or a change with a value the schema cannot hold, is skipped and
    /// counted; the rest of the batch is applied. Errors only for the database itself.
    pub async fn apply_registration_changes(
        &self,
        changes: &[RegistrationChange],
    ) -> Result<ApplyReport> {
        let mut report = ApplyReport::default();
        let mut valid = Vec::with_capacity(changes.len());
        for change in changes {
            match invalid_reason(change) {
                Some(reason) => {
                    let (aor, contact) = change.key();
                    tracing::warn!(aor, contact, reason, "registration change not stored");
                    report.skipped_invalid += 1;
                }
                None => valid.push(change),
            }
        }
        if valid.is_empty() {
            return Ok(report);
        }
        let aors: Vec<&str> = valid
            .iter()
            .filter_map(|c| match c {
                RegistrationChange::Save(r) => Some(r.aor.as_str()),
                _ => None,
            })
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let now = DbTime(now_utc());
        let begin = self.begin_write_sql();
        with_db!(self, |pool| {
            let mut tx = pool.begin_with(begin).await?;
            let mut endpoint_ids: HashMap<String, Id> = HashMap::new();
            for chunk in aors.chunks(KEYS_PER_STATEMENT) {
                let mut qb = sqlx::QueryBuilder::new(
                    "SELECT username, id FROM endpoints WHERE username IN (",
                );
                let mut list = qb.separated(", ");
                for aor in chunk {
                    list.push_bind(*aor);
                }
                qb.push(")");
                let found: Vec<(String, Id)> = qb.build_query_as().fetch_all(&mut *tx).await?;
                endpoint_ids.extend(found);
            }
            let plan = fold(&valid, &endpoint_ids, &mut report);

            let removes: Vec<(&str, &str)> = plan
                .iter()
                .filter(|(_, f)| matches!(f, Final::Remove))
                .map(|(k, _)| *k)
                .collect();
            for chunk in removes.chunks(KEYS_PER_STATEMENT) {
                let mut qb = sqlx::QueryBuilder::new(
                    "DELETE FROM registrations WHERE (aor, contact_uri) IN (",
                );
                qb.push_values(chunk, |mut b, (aor, contact)| {
                    b.push_bind(*aor).push_bind(*contact);
                });
                qb.push(")");
                qb.build().execute(&mut *tx).await?;
            }

            let saves: Vec<SaveRow> = plan
                .values()
                .filter_map(|f| match f {
                    Final::Save(r, reach) => endpoint_ids
                        .get(&r.aor)
                        .map(|id| SaveRow::new(r, *id, *reach)),
                    _ => None,
                })
                .collect();
            for chunk in saves.chunks(SAVE_ROWS_PER_STATEMENT) {
                let mut qb = sqlx::QueryBuilder::new(format!(
                    "INSERT INTO registrations (endpoint_id, {COLUMNS}, created_at, updated_at) "
                ));
                qb.push_values(chunk, |mut b, s| {
                    b.push_bind(s.endpoint_id)
                        .push_bind(&s.r.aor)
                        .push_bind(&s.r.contact_uri)
                        .push_bind(&s.source_address)
                        .push_bind(s.source_port)
                        .push_bind(&s.local_address)
                        .push_bind(&s.r.transport)
                        .push_bind(&s.r.user_agent)
                        .push_bind(s.q_milli)
                        .push_bind(&s.r.call_id)
                        .push_bind(s.cseq)
                        .push_bind(&s.path)
                        .push_bind(&s.r.instance_id)
                        .push_bind(s.reg_id)
                        .push_bind(DbTime(s.r.expires_at))
                        .push_bind(DbTime(s.r.registered_at))
                        .push_bind(DbTime(s.r.refreshed_at))
                        .push_bind(s.reachability)
                        .push_bind(s.last_seen_at)
                        .push_bind(now)
                        .push_bind(now);
                });
                qb.push(
                    " ON CONFLICT (aor, contact_uri) DO UPDATE SET \
                     endpoint_id = excluded.endpoint_id, \
                     source_address = excluded.source_address, \
                     source_port = excluded.source_port, \
                     local_address = excluded.local_address, \
                     transport = excluded.transport, \
                     user_agent = excluded.user_agent, \
                     q_milli = excluded.q_milli, \
                     call_id = excluded.call_id, \
                     cseq = excluded.cseq, \
                     path = excluded.path, \
                     instance_id = excluded.instance_id, \
                     reg_id = excluded.reg_id, \
                     expires_at = excluded.expires_at, \
                     registered_at = excluded.registered_at, \
                     refreshed_at = excluded.refreshed_at, \
                     reachability = excluded.reachability, \
                     last_seen_at = excluded.last_seen_at, \
                     updated_at = excluded.updated_at",
                );
                qb.build().execute(&mut *tx).await?;
            }

            let reachability: Vec<(&str, &str, &str, DbTime)> = plan
                .iter()
                .filter_map(|((aor, contact), f)| match f {
                    Final::Reachability(r, at) => Some((*aor, *contact, *r, DbTime(*at))),
                    _ => None,
                })
                .collect();
            for chunk in reachability.chunks(KEYS_PER_STATEMENT) {
                // VALUES columns are column1, column2, ... in both dialects (SQLite has no
                // column list for a FROM alias).
                let mut qb = sqlx::QueryBuilder::new(
                    "UPDATE registrations SET reachability = v.column3, last_seen_at = v.column4, updated_at = ",
                );
                qb.push_bind(now);
                qb.push(" FROM (");
                qb.push_values(chunk, |mut b, (aor, contact, r, at)| {
                    b.push_bind(*aor)
                        .push_bind(*contact)
                        .push_bind(*r)
                        .push_bind(*at);
                });
                qb.push(
                    ") AS v WHERE registrations.aor = v.column1 \
                     AND registrations.contact_uri = v.column2",
                );
                qb.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(report)
    }

    /// The bindings that have not expired at `now` (`expires_at > now`), by AOR and contact:
    /// what the registrar loads at start. A row that cannot be a record (one stored before
    /// migration 2 has no local address) is left out with a warning; its phone's next
    /// REGISTER replaces it.
    pub async fn active_registrations(
        &self,
        now: OffsetDateTime,
    ) -> Result<Vec<RegistrationRecord>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM registrations WHERE expires_at > $1 \
             ORDER BY aor, contact_uri"
        );
        let rows: Vec<StoredRow> = with_db!(self, |pool| sqlx::query_as(&sql)
            .bind(DbTime(now))
            .fetch_all(pool)
            .await?);
        Ok(rows
            .into_iter()
            .filter_map(|row| {
                let (aor, contact) = (row.aor.clone(), row.contact_uri.clone());
                row.into_record()
                    .map_err(|reason| {
                        tracing::warn!(aor, contact, reason, "stored binding not loaded");
                    })
                    .ok()
            })
            .collect())
    }

    /// Deletes the bindings expired at `now` (`expires_at <= now`); returns how many.
    pub async fn delete_expired_registrations(&self, now: OffsetDateTime) -> Result<u64> {
        let done = with_db!(self, |pool| sqlx::query(
            "DELETE FROM registrations WHERE expires_at <= $1"
        )
        .bind(DbTime(now))
        .execute(pool)
        .await?
        .rows_affected());
        Ok(done)
    }
}
