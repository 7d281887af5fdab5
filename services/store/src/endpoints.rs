//! SIP endpoints (users a phone registers as) and endpoint groups.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;
use std::str::FromStr;

use serde::Serialize;
use sqlx::FromRow;
use time::OffsetDateTime;

use crate::audit::{Change, record_change};
use crate::validate;
use crate::{Ha1, Id, Result, Store, StoreError, now_utc};

/// The realm used when none is given.
pub const DEFAULT_REALM: &str = "switchboard";

/// How an endpoint (or trunk) wants DTMF sent to it (`endpoints.dtmf_mode`, migration 0004).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DtmfMode {
    /// RTP telephone-events (RFC 4733); in-band tones when the call negotiates none.
    #[default]
    Rfc4733,
    /// SIP INFO requests (`application/dtmf-relay`).
    Info,
    /// Tones in the audio (the endpoint's audio is searched for tones too).
    Inband,
}

impl DtmfMode {
    /// Every mode.
    pub const ALL: [DtmfMode; 3] = [DtmfMode::Rfc4733, DtmfMode::Info, DtmfMode::Inband];

    /// The stored (and CSV, command-line, JSON) name: `rfc4733`, `info` or `inband`.
    pub fn as_str(self) -> &'static str {
        match self {
            DtmfMode::Rfc4733 => "rfc4733",
            DtmfMode::Info => "info",
            DtmfMode::Inband => "inband",
        }
    }
}

impl fmt::Display for DtmfMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DtmfMode {
    type Err = StoreError;

    /// The mode named `s` (any case); [`StoreError::Invalid`] naming `s` otherwise.
    fn from_str(s: &str) -> Result<Self> {
        DtmfMode::ALL
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| StoreError::Invalid {
                field: "dtmf_mode",
                reason: format!(
                    "'{s}' is not one of {}",
                    DtmfMode::ALL.map(DtmfMode::as_str).join(", ")
                ),
            })
    }
}

impl TryFrom<String> for DtmfMode {
    type Error = StoreError;

    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

/// An endpoint to create.
#[derive(Debug, Clone)]
pub struct NewEndpoint {
    /// SIP user name (the user part of the AOR), unique.
    pub username: String,
    /// The password; only its HA1 values are stored.
    pub password: String,
    /// Digest realm the HA1 values are computed for.
    pub realm: String,
    /// Group name; created if it does not exist.
    pub group: Option<String>,
    /// Name shown to people.
    pub display_name: Option<String>,
    /// How DTMF is sent to it.
    pub dtmf_mode: DtmfMode,
}

impl NewEndpoint {
    /// An endpoint in the default realm, no group, no display name, DTMF by RFC 4733.
    pub fn new(username: &str, password: &str) -> NewEndpoint {
        NewEndpoint {
            username: username.to_string(),
            password: password.to_string(),
            realm: DEFAULT_REALM.to_string(),
            group: None,
            display_name: None,
            dtmf_mode: DtmfMode::default(),
        }
    }
}

/// What [`Store::import_endpoints`] did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImportReport {
    /// Endpoints created.
    pub imported: usize,
    /// Groups that did not exist and were created, by name.
    pub groups_created: Vec<String>,
}

/// Rows per multi-row statement of an import (endpoints have 11 parameters, audit rows 7;
/// SQLite allows 32,766 per statement).
const IMPORT_ROWS_PER_STATEMENT: usize = 1_000;

/// A stored endpoint, without its credentials (this is also what the audit log records).
#[derive(Debug, Clone, PartialEq, FromRow, Serialize)]
pub struct Endpoint {
    /// Id.
    pub id: Id,
    /// SIP user name.
    pub username: String,
    /// Digest realm.
    pub realm: String,
    /// Name shown to people.
    pub display_name: Option<String>,
    /// Group name.
    pub group_name: Option<String>,
    /// Whether it may register and call.
    pub enabled: bool,
    /// How DTMF is sent to it.
    #[sqlx(try_from = "String")]
    pub dtmf_mode: DtmfMode,
    /// Created (UTC).
    pub created_at: OffsetDateTime,
    /// Last changed (UTC).
    pub updated_at: OffsetDateTime,
}

/// The digest credentials of an endpoint, for the registrar's authentication.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct Credentials {
    /// Realm the HA1 values belong to.
    pub realm: String,
    /// MD5 HA1 (lowercase hex).
    pub ha1_md5: String,
    /// SHA-256 HA1 (lowercase hex).
    pub ha1_sha256: String,
}

/// The rules an endpoint to create must meet (shared by add and import).
fn check(new: &NewEndpoint) -> Result<()> {
    validate::sip_user("username", &new.username)?;
    validate::text("realm", &new.realm)?;
    if new.password.is_empty() || new.password.len() > 256 {
        return Err(StoreError::Invalid {
            field: "password",
            reason: "must be 1 to 256 bytes".into(),
        });
    }
    if let Some(g) = &new.group {
        validate::name("group", g)?;
    }
    if let Some(d) = &new.display_name {
        validate::text("display name", d)?;
    }
    Ok(())
}

fn duplicate(username: &str) -> StoreError {
    StoreError::Duplicate {
        entity: "endpoint",
        key: username.to_string(),
    }
}

const SELECT: &str = "SELECT e.id, e.username, e.realm, e.display_name, g.name AS group_name, \
                      e.enabled, e.dtmf_mode, e.created_at, e.updated_at \
                      FROM endpoints e LEFT JOIN endpoint_groups g ON g.id = e.group_id";

impl Store {
    /// Creates an endpoint (and its group if new), storing only the HA1 values of its
    /// password. Errors: [`StoreError::Invalid`], [`StoreError::Duplicate`].
    pub async fn add_endpoint(&self, new: &NewEndpoint, actor: &str) -> Result<Endpoint> {
        check(new)?;
        let ha1 = Ha1::compute(&new.username, &new.realm, &new.password);
        let now = now_utc();
        let id = Id::new();
        with_db!(self, |pool| {
            let mut tx = pool.begin().await?;
            let exists: Option<Id> =
                sqlx::query_scalar("SELECT id FROM endpoints WHERE username = $1")
                    .bind(&new.username)
                    .fetch_optional(&mut *tx)
                    .await?;
            if exists.is_some() {
                return Err(duplicate(&new.username));
            }
            let group_id: Option<Id> = match &new.group {
                None => None,
                Some(group) => {
                    let found: Option<Id> =
                        sqlx::query_scalar("SELECT id FROM endpoint_groups WHERE name = $1")
                            .bind(group)
                            .fetch_optional(&mut *tx)
                            .await?;
                    match found {
                        Some(gid) => Some(gid),
                        None => {
                            let gid = Id::new();
                            sqlx::query(
                                "INSERT INTO endpoint_groups (id, name, created_at, updated_at) \
                                 VALUES ($1, $2, $3, $3)",
                            )
                            .bind(gid)
                            .bind(group)
                            .bind(now)
                            .execute(&mut *tx)
                            .await?;
                            let after = serde_json::json!({ "id": gid, "name": group });
                            record_change!(
                                &mut *tx,
                                Change::create(actor, "endpoint_group", group, &after)
                            );
                            Some(gid)
                        }
                    }
                }
            };
            sqlx::query(
                "INSERT INTO endpoints (id, username, realm, ha1_md5, ha1_sha256, display_name, \
                 group_id, enabled, dtmf_mode, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, TRUE, $8, $9, $9)",
            )
            .bind(id)
            .bind(&new.username)
            .bind(&new.realm)
            .bind(&ha1.md5)
            .bind(&ha1.sha256)
            .bind(&new.display_name)
            .bind(group_id)
            .bind(new.dtmf_mode.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let endpoint = Endpoint {
                id,
                username: new.username.clone(),
                realm: new.realm.clone(),
                display_name: new.display_name.clone(),
                group_name: new.group.clone(),
                enabled: true,
                dtmf_mode: new.dtmf_mode,
                created_at: now,
                updated_at: now,
            };
            record_change!(
                &mut *tx,
                Change::create(actor, "endpoint", &new.username, &endpoint)
            );
            tx.commit().await?;
            Ok(endpoint)
        })
    }

    /// Creates many endpoints at once, all or nothing: every row is checked first with the
    /// rules of [`Store::add_endpoint`], and a user name that exists or repeats an earlier row
    /// is refused; the first bad row is reported as [`StoreError::Row`] (1-based index,
    /// wrapping the [`StoreError::Invalid`] or [`StoreError::Duplicate`]) and nothing changes.
    /// Otherwise one transaction creates the missing groups and the endpoints, with one audit
    /// row per endpoint (and per new group), as if each had been added alone.
    pub async fn import_endpoints(
        &self,
        rows: &[NewEndpoint],
        actor: &str,
    ) -> Result<ImportReport> {
        let at_row = |index: usize, error: StoreError| StoreError::Row {
            index: index + 1,
            error: Box::new(error),
        };
        let mut first_bad: Option<(usize, StoreError)> = None;
        let mut seen: HashSet<&str> = HashSet::with_capacity(rows.len());
        let mut ha1s = Vec::with_capacity(rows.len());
        for (i, new) in rows.iter().enumerate() {
            if let Err(e) = check(new) {
                first_bad = Some((i, e));
                break;
            }
            if !seen.insert(&new.username) {
                first_bad = Some((i, duplicate(&new.username)));
                break;
            }
            ha1s.push(Ha1::compute(&new.username, &new.realm, &new.password));
        }
        // Rows before the first bad one may still clash with the database; that comes first.
        let checked = &rows[..ha1s.len()];
        let groups: Vec<&str> = checked
            .iter()
            .filter_map(|r| r.group.as_deref())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let now = now_utc();
        let begin = self.begin_write_sql();
        with_db!(self, |pool| {
            let mut tx = pool.begin_with(begin).await?;
            let mut existing: HashSet<String> = HashSet::new();
            for chunk in checked.chunks(IMPORT_ROWS_PER_STATEMENT) {
                let mut qb =
                    sqlx::QueryBuilder::new("SELECT username FROM endpoints WHERE username IN (");
                let mut list = qb.separated(", ");
                for new in chunk {
                    list.push_bind(&new.username);
                }
                qb.push(")");
                let found: Vec<String> = qb.build_query_scalar().fetch_all(&mut *tx).await?;
                existing.extend(found);
            }
            if let Some(i) = checked.iter().position(|r| existing.contains(&r.username)) {
                return Err(at_row(i, duplicate(&rows[i].username)));
            }
            if let Some((i, e)) = first_bad {
                return Err(at_row(i, e));
            }

            let mut group_ids: HashMap<String, Id> = HashMap::new();
            for chunk in groups.chunks(IMPORT_ROWS_PER_STATEMENT) {
                let mut qb =
                    sqlx::QueryBuilder::new("SELECT name, id FROM endpoint_groups WHERE name IN (");
                let mut list = qb.separated(", ");
                for g in chunk {
                    list.push_bind(*g);
                }
                qb.push(")");
                let found: Vec<(String, Id)> = qb.build_query_as().fetch_all(&mut *tx).await?;
                group_ids.extend(found);
            }
            let mut groups_created = Vec::new();
            for group in &groups {
                if group_ids.contains_key(*group) {
                    continue;
                }
                let gid = Id::new();
                sqlx::query(
                    "INSERT INTO endpoint_groups (id, name, created_at, updated_at) \
                     VALUES ($1, $2, $3, $3)",
                )
                .bind(gid)
                .bind(*group)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                let after = serde_json::json!({ "id": gid, "name": group });
                record_change!(
                    &mut *tx,
                    Change::create(actor, "endpoint_group", group, &after)
                );
                group_ids.insert(group.to_string(), gid);
                groups_created.push(group.to_string());
            }

            let endpoints: Vec<(Endpoint, Option<Id>, &Ha1)> = rows
                .iter()
                .zip(&ha1s)
                .map(|(new, ha1)| {
                    let group_id = new.group.as_ref().and_then(|g| group_ids.get(g).copied());
                    let endpoint = Endpoint {
                        id: Id::new(),
                        username: new.username.clone(),
                        realm: new.realm.clone(),
                        display_name: new.display_name.clone(),
                        group_name: new.group.clone(),
                        enabled: true,
                        dtmf_mode: new.dtmf_mode,
                        created_at: now,
                        updated_at: now,
                    };
                    (endpoint, group_id, ha1)
                })
                .collect();
            for chunk in endpoints.chunks(IMPORT_ROWS_PER_STATEMENT) {
                let mut qb = sqlx::QueryBuilder::new(
                    "INSERT INTO endpoints (id, username, realm, ha1_md5, ha1_sha256, \
                     display_name, group_id, enabled, dtmf_mode, created_at, updated_at) ",
                );
                qb.push_values(chunk, |mut b, (e, group_id, ha1)| {
                    b.push_bind(e.id)
                        .push_bind(&e.username)
                        .push_bind(&e.realm)
                        .push_bind(&ha1.md5)
                        .push_bind(&ha1.sha256)
                        .push_bind(&e.display_name)
                        .push_bind(*group_id)
                        .push_bind(true)
                        .push_bind(e.dtmf_mode.as_str())
                        .push_bind(now)
                        .push_bind(now);
                });
                qb.build().execute(&mut *tx).await?;

                let mut qb = sqlx::QueryBuilder::new(
                    "INSERT INTO audit_log (at, actor, entity_type, entity_key, action, before, \
                     after) ",
                );
                qb.push_values(chunk, |mut b, (e, _, _)| {
                    let change = Change::create(actor, "endpoint", &e.username, e);
                    b.push_bind(now_utc())
                        .push_bind(change.actor)
                        .push_bind(change.entity_type)
                        .push_bind(change.entity_key)
                        .push_bind(change.action.as_str())
                        .push_bind(change.before)
                        .push_bind(change.after);
                });
                qb.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(ImportReport {
                imported: endpoints.len(),
                groups_created,
            })
        })
    }

    /// Every endpoint, by user name.
    pub async fn list_endpoints(&self) -> Result<Vec<Endpoint>> {
        let sql = format!("{SELECT} ORDER BY e.username");
        Ok(with_db!(self, |pool| sqlx::query_as(&sql)
            .fetch_all(pool)
            .await?))
    }

    /// The endpoint with this user name. Errors: [`StoreError::NotFound`].
    pub async fn get_endpoint(&self, username: &str) -> Result<Endpoint> {
        let sql = format!("{SELECT} WHERE e.username = $1");
        let found: Option<Endpoint> = with_db!(self, |pool| sqlx::query_as(&sql)
            .bind(username)
            .fetch_optional(pool)
            .await?);
        found.ok_or_else(|| StoreError::NotFound {
            entity: "endpoint",
            key: username.to_string(),
        })
    }

    /// The digest credentials of the enabled endpoint with this user name (a disabled one is
    /// [`StoreError::NotFound`]: it may not register).
    pub async fn endpoint_credentials(&self, username: &str) -> Result<Credentials> {
        let found: Option<Credentials> = with_db!(self, |pool| sqlx::query_as(
            "SELECT realm, ha1_md5, ha1_sha256 FROM endpoints WHERE username = $1 AND enabled"
        )
        .bind(username)
        .fetch_optional(pool)
        .await?);
        found.ok_or_else(|| StoreError::NotFound {
            entity: "endpoint",
            key: username.to_string(),
        })
    }

    /// The digest credentials of every enabled endpoint, as (user name, credentials): the
    /// registrar loads them all at start and then periodically, so no REGISTER of a known
    /// endpoint waits for the database (a registration storm after a restart included).
    pub async fn all_endpoint_credentials(&self) -> Result<Vec<(String, Credentials)>> {
        let rows: Vec<(String, String, String, String)> = with_db!(self, |pool| sqlx::query_as(
            "SELECT username, realm, ha1_md5, ha1_sha256 FROM endpoints WHERE enabled"
        )
        .fetch_all(pool)
        .await?);
        Ok(rows
            .into_iter()
            .map(|(username, realm, ha1_md5, ha1_sha256)| {
                (
                    username,
                    Credentials {
                        realm,
                        ha1_md5,
                        ha1_sha256,
                    },
                )
            })
            .collect())
    }

    /// The DTMF mode of the enabled endpoint with this user name, `None` when there is no
    /// such endpoint or it is disabled. The call engine asks this for each leg that is one
    /// of our endpoints, to render digits from the other leg in the form it wants.
    pub async fn endpoint_dtmf_mode(&self, username: &str) -> Result<Option<DtmfMode>> {
        let found: Option<String> = with_db!(self, |pool| sqlx::query_scalar(
            "SELECT dtmf_mode FROM endpoints WHERE username = $1 AND enabled"
        )
        .bind(username)
        .fetch_optional(pool)
        .await?);
        found.map(|m| m.parse()).transpose()
    }

    /// Deletes the endpoint (its registrations go with it). Errors: [`StoreError::NotFound`].
    pub async fn remove_endpoint(&self, username: &str, actor: &str) -> Result<Endpoint> {
        let sql = format!("{SELECT} WHERE e.username = $1");
        with_db!(self, |pool| {
            let mut tx = pool.begin().await?;
            let found: Option<Endpoint> = sqlx::query_as(&sql)
                .bind(username)
                .fetch_optional(&mut *tx)
                .await?;
            let endpoint = found.ok_or_else(|| StoreError::NotFound {
                entity: "endpoint",
                key: username.to_string(),
            })?;
            sqlx::query("DELETE FROM endpoints WHERE id = $1")
                .bind(endpoint.id)
                .execute(&mut *tx)
                .await?;
            record_change!(
                &mut *tx,
                Change::delete(actor, "endpoint", username, &endpoint)
            );
            tx.commit().await?;
            Ok(endpoint)
        })
    }
}
