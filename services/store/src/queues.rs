//! Queues: how callers wait for agents, which skills they need, and where they overflow.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;
use sqlx::FromRow;
use time::OffsetDateTime;

use crate::agents::{SkillLevel, check_skills, ensure_skill};
use crate::audit::{Change, record_change};
use crate::validate;
use crate::{Id, Result, Store, StoreError, now_utc};

/// How a queue picks the agent for the next caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Ring every available agent; the first to answer gets the call.
    RingAll,
    /// The agent idle the longest.
    LongestIdle,
    /// Agents in turn.
    RoundRobin,
    /// The agent who took the fewest calls today.
    FewestCalls,
    /// The best-skilled available agent (highest level in the queue's skills).
    SkillsBased,
    /// Any available agent.
    Random,
}

impl Strategy {
    /// Every strategy, in the order they are documented.
    pub const ALL: [Strategy; 6] = [
        Strategy::RingAll,
        Strategy::LongestIdle,
        Strategy::RoundRobin,
        Strategy::FewestCalls,
        Strategy::SkillsBased,
        Strategy::Random,
    ];

    /// The stored (and command-line) name.
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::RingAll => "ring_all",
            Strategy::LongestIdle => "longest_idle",
            Strategy::RoundRobin => "round_robin",
            Strategy::FewestCalls => "fewest_calls",
            Strategy::SkillsBased => "skills_based",
            Strategy::Random => "random",
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Strategy {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self> {
        let wanted = s.replace('-', "_");
        Strategy::ALL
            .into_iter()
            .find(|st| st.as_str() == wanted)
            .ok_or_else(|| StoreError::Invalid {
                field: "strategy",
                reason: format!(
                    "'{s}' is not one of {}",
                    Strategy::ALL.map(Strategy::as_str).join(", ")
                ),
            })
    }
}

/// Checks an overflow target: `queue:NAME`, `extension:EXT`, `ivr:FLOW`, `voicemail:BOX`
/// or `hangup`.
pub fn check_overflow(target: &str) -> Result<()> {
    if target == "hangup" {
        return Ok(());
    }
    let bad = || StoreError::Invalid {
        field: "overflow",
        reason: format!(
            "'{target}' is not queue:NAME, extension:EXT, ivr:FLOW, voicemail:BOX or hangup"
        ),
    };
    let (kind, value) = target.split_once(':').ok_or_else(bad)?;
    match kind {
        "queue" | "ivr" | "voicemail" => validate::name("overflow", value),
        "extension" => validate::sip_user("overflow", value),
        _ => Err(bad()),
    }
}

/// A queue to create.
#[derive(Debug, Clone)]
pub struct NewQueue {
    /// Unique name.
    pub name: String,
    /// Agent selection strategy.
    pub strategy: Strategy,
    /// Skills a caller in this queue needs, with the minimum level (1..=100).
    pub required_skills: Vec<(String, i16)>,
    /// Most callers waiting at once (none: no limit).
    pub max_waiting: Option<i32>,
    /// Longest wait in seconds before overflow (none: no limit).
    pub max_wait_secs: Option<i32>,
    /// Seconds an agent is left alone after a call.
    pub wrap_up_secs: i32,
    /// Where callers go when the queue is full, closed or waited out.
    pub overflow: Option<String>,
}

impl NewQueue {
    /// A queue with `strategy` and nothing else set.
    pub fn new(name: &str, strategy: Strategy) -> NewQueue {
        NewQueue {
            name: name.to_string(),
            strategy,
            required_skills: Vec::new(),
            max_waiting: None,
            max_wait_secs: None,
            wrap_up_secs: 0,
            overflow: None,
        }
    }
}

/// A stored queue.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Queue {
    /// Id.
    pub id: Id,
    /// Unique name.
    pub name: String,
    /// Strategy name (see [`Strategy`]).
    pub strategy: String,
    /// Required skills with minimum levels, by name.
    pub required_skills: Vec<SkillLevel>,
    /// Schedule name, if the queue keeps opening hours.
    pub schedule: Option<String>,
    /// Most callers waiting at once.
    pub max_waiting: Option<i32>,
    /// Longest wait in seconds.
    pub max_wait_secs: Option<i32>,
    /// Wrap-up seconds.
    pub wrap_up_secs: i32,
    /// Overflow target.
    pub overflow: Option<String>,
    /// Created (UTC).
    pub created_at: OffsetDateTime,
    /// Last changed (UTC).
    pub updated_at: OffsetDateTime,
}

#[derive(FromRow)]
struct QueueRow {
    id: Id,
    name: String,
    strategy: String,
    schedule: Option<String>,
    max_waiting: Option<i32>,
    max_wait_secs: Option<i32>,
    wrap_up_secs: i32,
    overflow: Option<String>,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
}

#[derive(FromRow)]
struct QueueSkillRow {
    queue_id: Id,
    skill: String,
    level: i16,
}

const SELECT_QUEUES: &str = "SELECT q.id, q.name, q.strategy, s.name AS schedule, q.max_waiting, \
     q.max_wait_secs, q.wrap_up_secs, q.overflow_target AS overflow, q.created_at, q.updated_at \
     FROM queues q LEFT JOIN schedules s ON s.id = q.schedule_id";
const SELECT_SKILLS: &str = "SELECT r.queue_id, k.name AS skill, r.min_level AS level \
     FROM queue_skills r JOIN skills k ON k.id = r.skill_id";

fn assemble(rows: Vec<QueueRow>, skills: Vec<QueueSkillRow>) -> Vec<Queue> {
    rows.into_iter()
        .map(|r| Queue {
            required_skills: skills
                .iter()
                .filter(|s| s.queue_id == r.id)
                .map(|s| SkillLevel {
                    skill: s.skill.clone(),
                    level: s.level,
                })
                .collect(),
            id: r.id,
            name: r.name,
            strategy: r.strategy,
            schedule: r.schedule,
            max_waiting: r.max_waiting,
            max_wait_secs: r.max_wait_secs,
            wrap_up_secs: r.wrap_up_secs,
            overflow: r.overflow,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
        .collect()
}

impl Store {
    /// Creates a queue. Errors: [`StoreError::Invalid`], [`StoreError::Duplicate`].
    pub async fn add_queue(&self, new: &NewQueue, actor: &str) -> Result<Queue> {
        validate::name("queue name", &new.name)?;
        check_skills(&new.required_skills)?;
        if let Some(n) = new.max_waiting {
            validate::range("max waiting", i64::from(n), 1, 100_000)?;
        }
        if let Some(n) = new.max_wait_secs {
            validate::range("max wait seconds", i64::from(n), 1, 86_400)?;
        }
        validate::range("wrap-up seconds", i64::from(new.wrap_up_secs), 0, 3_600)?;
        if let Some(o) = &new.overflow {
            check_overflow(o)?;
            if o.strip_prefix("queue:") == Some(new.name.as_str()) {
                return Err(StoreError::Invalid {
                    field: "overflow",
                    reason: "a queue cannot overflow to itself".into(),
                });
            }
        }
        let now = now_utc();
        let id = Id::new();
        with_db!(self, |pool| {
            let mut tx = pool.begin().await?;
            let taken: Option<Id> = sqlx::query_scalar("SELECT id FROM queues WHERE name = $1")
                .bind(&new.name)
                .fetch_optional(&mut *tx)
                .await?;
            if taken.is_some() {
                return Err(StoreError::Duplicate {
                    entity: "queue",
                    key: new.name.clone(),
                });
            }
            sqlx::query(
                "INSERT INTO queues (id, name, strategy, max_waiting, max_wait_secs, \
                 wrap_up_secs, overflow_target, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
            )
            .bind(id)
            .bind(&new.name)
            .bind(new.strategy.as_str())
            .bind(new.max_waiting)
            .bind(new.max_wait_secs)
            .bind(new.wrap_up_secs)
            .bind(&new.overflow)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            for (skill, level) in &new.required_skills {
                let skill_id = ensure_skill!(tx, skill, actor);
                sqlx::query(
                    "INSERT INTO queue_skills (queue_id, skill_id, min_level) VALUES ($1, $2, $3)",
                )
                .bind(id)
                .bind(skill_id)
                .bind(*level)
                .execute(&mut *tx)
                .await?;
            }
            let mut required_skills: Vec<SkillLevel> = new
                .required_skills
                .iter()
                .map(|(skill, level)| SkillLevel {
                    skill: skill.clone(),
                    level: *level,
                })
                .collect();
            required_skills.sort_by(|a, b| a.skill.cmp(&b.skill));
            let queue = Queue {
                id,
                name: new.name.clone(),
                strategy: new.strategy.as_str().to_string(),
                required_skills,
                schedule: None,
                max_waiting: new.max_waiting,
                max_wait_secs: new.max_wait_secs,
                wrap_up_secs: new.wrap_up_secs,
                overflow: new.overflow.clone(),
                created_at: now,
                updated_at: now,
            };
            record_change!(&mut *tx, Change::create(actor, "queue", &new.name, &queue));
            tx.commit().await?;
            Ok(queue)
        })
    }

    /// Every queue, by name.
    pub async fn list_queues(&self) -> Result<Vec<Queue>> {
        let queues_sql = format!("{SELECT_QUEUES} ORDER BY q.name");
        let skills_sql = format!("{SELECT_SKILLS} ORDER BY k.name");
        let (rows, skills) = with_db!(self, |pool| {
            let rows: Vec<QueueRow> = sqlx::query_as(&queues_sql).fetch_all(pool).await?;
            let skills: Vec<QueueSkillRow> = sqlx::query_as(&skills_sql).fetch_all(pool).await?;
            (rows, skills)
        });
        Ok(assemble(rows, skills))
    }

    /// The queue with this name. Errors: [`StoreError::NotFound`].
    pub async fn get_queue(&self, name: &str) -> Result<Queue> {
        let queues_sql = format!("{SELECT_QUEUES} WHERE q.name = $1");
        let skills_sql = format!(
            "{SELECT_SKILLS} JOIN queues q ON q.id = r.queue_id WHERE q.name = $1 ORDER BY k.name"
        );
        let (rows, skills) = with_db!(self, |pool| {
            let rows: Vec<QueueRow> = sqlx::query_as(&queues_sql)
                .bind(name)
                .fetch_all(pool)
                .await?;
            let skills: Vec<QueueSkillRow> = sqlx::query_as(&skills_sql)
                .bind(name)
                .fetch_all(pool)
                .await?;
            (rows, skills)
        });
        assemble(rows, skills)
            .into_iter()
            .next()
            .ok_or_else(|| StoreError::NotFound {
                entity: "queue",
                key: name.to_string(),
            })
    }

    /// Deletes the queue. Errors: [`StoreError::NotFound`].
    pub async fn remove_queue(&self, name: &str, actor: &str) -> Result<Queue> {
        let queue = self.get_queue(name).await?;
        with_db!(self, |pool| {
            let mut tx = pool.begin().await?;
            let deleted = sqlx::query("DELETE FROM queues WHERE id = $1")
                .bind(queue.id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if deleted == 0 {
                return Err(StoreError::NotFound {
                    entity: "queue",
                    key: name.to_string(),
                });
            }
            record_change!(&mut *tx, Change::delete(actor, "queue", name, &queue));
            tx.commit().await?;
            Ok(queue)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strategies_parse_by_name_and_overflow_targets_are_checked() {
        assert_eq!(
            "skills_based".parse::<Strategy>().ok(),
            Some(Strategy::SkillsBased)
        );
        assert_eq!("ring-all".parse::<Strategy>().ok(), Some(Strategy::RingAll));
        assert!("fastest".parse::<Strategy>().is_err());
        for ok in [
            "hangup",
            "queue:sales",
            "extension:1001",
            "ivr:main",
            "voicemail:support",
        ] {
            assert!(check_overflow(ok).is_ok(), "{ok}");
        }
        for bad in ["", "queue:", "pstn:123", "queue", "queue:a b"] {
            assert!(check_overflow(bad).is_err(), "{bad}");
        }
    }
}
