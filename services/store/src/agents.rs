//! Agents (the people who take calls) and their skills with levels.

use std::collections::HashSet;

use serde::Serialize;
use sqlx::FromRow;
use time::OffsetDateTime;

use crate::audit::{Change, record_change};
use crate::validate;
use crate::{Id, Result, Store, StoreError, now_utc};

/// An agent to create.
#[derive(Debug, Clone, Default)]
pub struct NewAgent {
    /// Unique name (login), e.g. `alice`.
    pub name: String,
    /// Name shown to people.
    pub display_name: Option<String>,
    /// Unique extension callers can dial, e.g. `1001`.
    pub extension: Option<String>,
    /// How many calls the agent may have at once (at least 1).
    pub max_calls: i32,
    /// Skills with levels 1..=100; skills are created on first use.
    pub skills: Vec<(String, i16)>,
}

/// A skill and a level (an agent's proficiency, or a queue's minimum).
#[derive(Debug, Clone, PartialEq, Eq, FromRow, Serialize)]
pub struct SkillLevel {
    /// Skill name.
    pub skill: String,
    /// Level, 1..=100.
    pub level: i16,
}

/// A stored agent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Agent {
    /// Id.
    pub id: Id,
    /// Unique name.
    pub name: String,
    /// Name shown to people.
    pub display_name: Option<String>,
    /// Extension.
    pub extension: Option<String>,
    /// Concurrent-call limit.
    pub max_calls: i32,
    /// Skills, by name.
    pub skills: Vec<SkillLevel>,
    /// Created (UTC).
    pub created_at: OffsetDateTime,
    /// Last changed (UTC).
    pub updated_at: OffsetDateTime,
}

#[derive(FromRow)]
struct AgentRow {
    id: Id,
    name: String,
    display_name: Option<String>,
    extension: Option<String>,
    max_calls: i32,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
}

#[derive(FromRow)]
struct AgentSkillRow {
    agent_id: Id,
    skill: String,
    level: i16,
}

/// Checks a list of skill levels: valid names, levels 1..=100, no skill twice.
pub(crate) fn check_skills(skills: &[(String, i16)]) -> Result<()> {
    let mut seen = HashSet::new();
    for (name, level) in skills {
        validate::name("skill", name)?;
        validate::range("skill level", i64::from(*level), 1, 100)?;
        if !seen.insert(name.as_str()) {
            return Err(StoreError::Invalid {
                field: "skill",
                reason: format!("'{name}' is given twice"),
            });
        }
    }
    Ok(())
}

/// The id of the skill named `$name` inside transaction `$tx`, creating it (with an audit
/// row by `$actor`) if it does not exist yet.
macro_rules! ensure_skill {
    ($tx:expr, $name:expr, $actor:expr) => {{
        let name: &str = $name;
        let found: Option<$crate::Id> = sqlx::query_scalar("SELECT id FROM skills WHERE name = $1")
            .bind(name)
            .fetch_optional(&mut *$tx)
            .await?;
        match found {
            Some(id) => id,
            None => {
                let id = $crate::Id::new();
                sqlx::query("INSERT INTO skills (id, name, created_at) VALUES ($1, $2, $3)")
                    .bind(id)
                    .bind(name)
                    .bind($crate::now_utc())
                    .execute(&mut *$tx)
                    .await?;
                let after = serde_json::json!({ "id": id, "name": name });
                $crate::audit::record_change!(
                    &mut *$tx,
                    $crate::audit::Change::create($actor, "skill", name, &after)
                );
                id
            }
        }
    }};
}
pub(crate) use ensure_skill;

fn assemble(rows: Vec<AgentRow>, skills: Vec<AgentSkillRow>) -> Vec<Agent> {
    rows.into_iter()
        .map(|r| Agent {
            skills: skills
                .iter()
                .filter(|s| s.agent_id == r.id)
                .map(|s| SkillLevel {
                    skill: s.skill.clone(),
                    level: s.level,
                })
                .collect(),
            id: r.id,
            name: r.name,
            display_name: r.display_name,
            extension: r.extension,
            max_calls: r.max_calls,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
        .collect()
}

const SELECT_AGENTS: &str =
    "SELECT id, name, display_name, extension, max_calls, created_at, updated_at FROM agents";
const SELECT_SKILLS: &str = "SELECT a.agent_id, s.name AS skill, a.level \
                             FROM agent_skills a JOIN skills s ON s.id = a.skill_id";

impl Store {
    /// Creates an agent with its skills. Errors: [`StoreError::Invalid`],
    /// [`StoreError::Duplicate`] (name or extension taken).
    pub async fn add_agent(&self, new: &NewAgent, actor: &str) -> Result<Agent> {
        validate::name("agent name", &new.name)?;
        if let Some(d) = &new.display_name {
            validate::text("display name", d)?;
        }
        if let Some(ext) = &new.extension
            && (ext.is_empty()
                || ext.len() > 16
                || !ext.chars().all(|c| c.is_ascii_digit() || "*#+".contains(c)))
        {
            return Err(StoreError::Invalid {
                field: "extension",
                reason: format!("'{ext}' must be 1 to 16 digits (or * # +)"),
            });
        }
        validate::range("max calls", i64::from(new.max_calls), 1, 1000)?;
        check_skills(&new.skills)?;
        let now = now_utc();
        let id = Id::new();
        with_db!(self, |pool| {
            let mut tx = pool.begin().await?;
            let taken: Option<Id> = sqlx::query_scalar("SELECT id FROM agents WHERE name = $1")
                .bind(&new.name)
                .fetch_optional(&mut *tx)
                .await?;
            if taken.is_some() {
                return Err(StoreError::Duplicate {
                    entity: "agent",
                    key: new.name.clone(),
                });
            }
            if let Some(ext) = &new.extension {
                let owner: Option<String> =
                    sqlx::query_scalar("SELECT name FROM agents WHERE extension = $1")
                        .bind(ext)
                        .fetch_optional(&mut *tx)
                        .await?;
                if owner.is_some() {
                    return Err(StoreError::Duplicate {
                        entity: "extension",
                        key: ext.clone(),
                    });
                }
            }
            sqlx::query(
                "INSERT INTO agents (id, name, display_name, extension, max_calls, created_at, \
                 updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6)",
            )
            .bind(id)
            .bind(&new.name)
            .bind(&new.display_name)
            .bind(&new.extension)
            .bind(new.max_calls)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            for (skill, level) in &new.skills {
                let skill_id = ensure_skill!(tx, skill, actor);
                sqlx::query(
                    "INSERT INTO agent_skills (agent_id, skill_id, level) VALUES ($1, $2, $3)",
                )
                .bind(id)
                .bind(skill_id)
                .bind(*level)
                .execute(&mut *tx)
                .await?;
            }
            let mut skills: Vec<SkillLevel> = new
                .skills
                .iter()
                .map(|(skill, level)| SkillLevel {
                    skill: skill.clone(),
                    level: *level,
                })
                .collect();
            skills.sort_by(|a, b| a.skill.cmp(&b.skill));
            let agent = Agent {
                id,
                name: new.name.clone(),
                display_name: new.display_name.clone(),
                extension: new.extension.clone(),
                max_calls: new.max_calls,
                skills,
                created_at: now,
                updated_at: now,
            };
            record_change!(&mut *tx, Change::create(actor, "agent", &new.name, &agent));
            tx.commit().await?;
            Ok(agent)
        })
    }

    /// Every agent with its skills, by name.
    pub async fn list_agents(&self) -> Result<Vec<Agent>> {
        let agents_sql = format!("{SELECT_AGENTS} ORDER BY name");
        let skills_sql = format!("{SELECT_SKILLS} ORDER BY s.name");
        let (rows, skills) = with_db!(self, |pool| {
            let rows: Vec<AgentRow> = sqlx::query_as(&agents_sql).fetch_all(pool).await?;
            let skills: Vec<AgentSkillRow> = sqlx::query_as(&skills_sql).fetch_all(pool).await?;
            (rows, skills)
        });
        Ok(assemble(rows, skills))
    }

    /// The agent with this name. Errors: [`StoreError::NotFound`].
    pub async fn get_agent(&self, name: &str) -> Result<Agent> {
        let agents_sql = format!("{SELECT_AGENTS} WHERE name = $1");
        let skills_sql = format!(
            "{SELECT_SKILLS} JOIN agents g ON g.id = a.agent_id WHERE g.name = $1 ORDER BY s.name"
        );
        let (rows, skills) = with_db!(self, |pool| {
            let rows: Vec<AgentRow> = sqlx::query_as(&agents_sql)
                .bind(name)
                .fetch_all(pool)
                .await?;
            let skills: Vec<AgentSkillRow> = sqlx::query_as(&skills_sql)
                .bind(name)
                .fetch_all(pool)
                .await?;
            (rows, skills)
        });
        assemble(rows, skills)
            .into_iter()
            .next()
            .ok_or_else(|| StoreError::NotFound {
                entity: "agent",
                key: name.to_string(),
            })
    }

    /// Deletes the agent and its skill levels (skills themselves stay).
    /// Errors: [`StoreError::NotFound`].
    pub async fn remove_agent(&self, name: &str, actor: &str) -> Result<Agent> {
        let agent = self.get_agent(name).await?;
        with_db!(self, |pool| {
            let mut tx = pool.begin().await?;
            let deleted = sqlx::query("DELETE FROM agents WHERE id = $1")
                .bind(agent.id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if deleted == 0 {
                // Removed by someone else since we read it.
                return Err(StoreError::NotFound {
                    entity: "agent",
                    key: name.to_string(),
                });
            }
            record_change!(&mut *tx, Change::delete(actor, "agent", name, &agent));
            tx.commit().await?;
            Ok(agent)
        })
    }
}
