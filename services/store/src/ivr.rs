//! IVR flows: every saved version of a flow's YAML is kept, and one version is active.
//! The YAML is stored as text; its format belongs to the IVR engine.

use serde::Serialize;
use sqlx::FromRow;
use time::OffsetDateTime;

use crate::audit::{Action, Change, record_change};
use crate::validate;
use crate::{Id, Result, Store, StoreError, now_utc, sha256_hex};

/// Largest flow text accepted, in bytes.
pub const MAX_FLOW_BYTES: usize = 1 << 20;

/// One stored version of a flow.
#[derive(Debug, Clone, PartialEq, FromRow, Serialize)]
pub struct IvrFlowVersion {
    /// Flow name.
    pub name: String,
    /// Version number (1, 2, ...).
    pub version: i32,
    /// The flow's YAML text.
    pub yaml: String,
    /// SHA-256 of the text (lowercase hex).
    pub sha256: String,
    /// Who saved it.
    pub created_by: String,
    /// When (UTC).
    pub created_at: OffsetDateTime,
}

/// What [`Store::save_ivr_flow`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Saved {
    /// A new version was stored and made active.
    NewVersion(i32),
    /// The active version already had exactly this text; nothing changed.
    Unchanged(i32),
}

impl Store {
    /// Stores `yaml` as the next version of flow `name` (creating the flow) and makes it the
    /// active version, unless the active version already has this exact text.
    pub async fn save_ivr_flow(&self, name: &str, yaml: &str, actor: &str) -> Result<Saved> {
        validate::name("flow name", name)?;
        if yaml.trim().is_empty() || yaml.len() > MAX_FLOW_BYTES {
            return Err(StoreError::Invalid {
                field: "flow",
                reason: format!("the YAML text must be 1 to {MAX_FLOW_BYTES} bytes"),
            });
        }
        let sha = sha256_hex(yaml.as_bytes());
        let now = now_utc();
        with_db!(self, |pool| {
            let mut tx = pool.begin().await?;
            let flow: Option<(Id, Option<i32>)> =
                sqlx::query_as("SELECT id, active_version FROM ivr_flows WHERE name = $1")
                    .bind(name)
                    .fetch_optional(&mut *tx)
                    .await?;
            let (flow_id, active, created) = match flow {
                Some((id, active)) => (id, active, false),
                None => {
                    let id = Id::new();
                    sqlx::query(
                        "INSERT INTO ivr_flows (id, name, created_at, updated_at) \
                         VALUES ($1, $2, $3, $3)",
                    )
                    .bind(id)
                    .bind(name)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    (id, None, true)
                }
            };
            if let Some(v) = active {
                let active_sha: Option<String> = sqlx::query_scalar(
                    "SELECT sha256 FROM ivr_flow_versions WHERE flow_id = $1 AND version = $2",
                )
                .bind(flow_id)
                .bind(v)
                .fetch_optional(&mut *tx)
                .await?;
                if active_sha.as_deref() == Some(sha.as_str()) {
                    return Ok(Saved::Unchanged(v));
                }
            }
            let latest: Option<i32> =
                sqlx::query_scalar("SELECT MAX(version) FROM ivr_flow_versions WHERE flow_id = $1")
                    .bind(flow_id)
                    .fetch_one(&mut *tx)
                    .await?;
            let version = latest.unwrap_or(0).saturating_add(1);
            sqlx::query(
                "INSERT INTO ivr_flow_versions (flow_id, version, yaml, sha256, created_by, \
                 created_at) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(flow_id)
            .bind(version)
            .bind(yaml)
            .bind(&sha)
            .bind(actor)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            sqlx::query("UPDATE ivr_flows SET active_version = $1, updated_at = $2 WHERE id = $3")
                .bind(version)
                .bind(now)
                .bind(flow_id)
                .execute(&mut *tx)
                .await?;
            let after =
                serde_json::json!({ "name": name, "active_version": version, "sha256": sha });
            let before = active.map(|v| serde_json::json!({ "name": name, "active_version": v }));
            record_change!(
                &mut *tx,
                Change {
                    actor: actor.to_string(),
                    entity_type: "ivr_flow",
                    entity_key: name.to_string(),
                    action: if created {
                        Action::Create
                    } else {
                        Action::Update
                    },
                    before,
                    after: Some(after),
                }
            );
            tx.commit().await?;
            Ok(Saved::NewVersion(version))
        })
    }

    /// The active version of flow `name`. Errors: [`StoreError::NotFound`].
    pub async fn active_ivr_flow(&self, name: &str) -> Result<IvrFlowVersion> {
        let found: Option<IvrFlowVersion> = with_db!(self, |pool| sqlx::query_as(
            "SELECT f.name, v.version, v.yaml, v.sha256, v.created_by, v.created_at \
             FROM ivr_flows f JOIN ivr_flow_versions v \
               ON v.flow_id = f.id AND v.version = f.active_version \
             WHERE f.name = $1"
        )
        .bind(name)
        .fetch_optional(pool)
        .await?);
        found.ok_or_else(|| StoreError::NotFound {
            entity: "IVR flow",
            key: name.to_string(),
        })
    }
}
