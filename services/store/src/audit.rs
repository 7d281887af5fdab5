//! The audit log of admin changes: who changed which entity, how, and what it looked like
//! before and after. Repositories write it in the same transaction as the change.

use serde::Serialize;
use sqlx::FromRow;
use time::OffsetDateTime;

use crate::{Result, Store};

/// What was done to an entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Created.
    Create,
    /// Changed.
    Update,
    /// Deleted.
    Delete,
}

impl Action {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
        }
    }
}

/// One change about to be recorded.
#[derive(Debug, Clone)]
pub struct Change {
    /// Who: e.g. `cli:alice`, `demo-seed`.
    pub actor: String,
    /// Entity type: `endpoint`, `agent`, `queue`, `ivr_flow`, ...
    pub entity_type: &'static str,
    /// The entity's natural key (username, agent name, queue name, ...).
    pub entity_key: String,
    /// What was done.
    pub action: Action,
    /// The entity before (none for a create); credentials never included.
    pub before: Option<serde_json::Value>,
    /// The entity after (none for a delete).
    pub after: Option<serde_json::Value>,
}

impl Change {
    /// A create of `after`.
    pub fn create(
        actor: &str,
        entity_type: &'static str,
        key: &str,
        after: &impl Serialize,
    ) -> Change {
        Change {
            actor: actor.to_string(),
            entity_type,
            entity_key: key.to_string(),
            action: Action::Create,
            before: None,
            after: serde_json::to_value(after).ok(),
        }
    }

    /// A delete of `before`.
    pub fn delete(
        actor: &str,
        entity_type: &'static str,
        key: &str,
        before: &impl Serialize,
    ) -> Change {
        Change {
            actor: actor.to_string(),
            entity_type,
            entity_key: key.to_string(),
            action: Action::Delete,
            before: serde_json::to_value(before).ok(),
            after: None,
        }
    }
}

/// One stored audit row.
#[derive(Debug, Clone, PartialEq, FromRow, Serialize)]
pub struct AuditEntry {
    /// Row id (increasing).
    pub id: i64,
    /// When (UTC).
    pub at: OffsetDateTime,
    /// Who.
    pub actor: String,
    /// Entity type.
    pub entity_type: String,
    /// Entity key.
    pub entity_key: String,
    /// `create`, `update` or `delete`.
    pub action: String,
    /// Before, as JSON.
    pub before: Option<serde_json::Value>,
    /// After, as JSON.
    pub after: Option<serde_json::Value>,
}

/// Inserts `$change` (an [`audit::Change`](Change)) through `$conn` (a transaction's
/// connection). A macro so the one statement serves both backends' connection types.
macro_rules! record_change {
    ($conn:expr, $change:expr) => {{
        let change: $crate::audit::Change = $change;
        sqlx::query(
            "INSERT INTO audit_log (at, actor, entity_type, entity_key, action, before, after) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind($crate::now_utc())
        .bind(change.actor)
        .bind(change.entity_type)
        .bind(change.entity_key)
        .bind(change.action.as_str())
        .bind(change.before)
        .bind(change.after)
        .execute($conn)
        .await?;
    }};
}
pub(crate) use record_change;

impl Store {
    /// The most recent `limit` audit rows, newest first; only those about `entity_type` when
    /// given.
    pub async fn audit_log(
        &self,
        entity_type: Option<&str>,
        limit: i64,
    ) -> Result<Vec<AuditEntry>> {
        Ok(with_db!(self, |pool| {
            sqlx::query_as(
                "SELECT id, at, actor, entity_type, entity_key, action, before, after \
                 FROM audit_log WHERE ($1 IS NULL OR entity_type = $1) \
                 ORDER BY id DESC LIMIT $2",
            )
            .bind(entity_type)
            .bind(limit)
            .fetch_all(pool)
            .await?
        }))
    }
}
