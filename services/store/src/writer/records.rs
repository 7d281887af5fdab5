//! What the batching writer stores: call events and CDRs, and their multi-row INSERTs.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{Id, Result, Store};

/// Rows per INSERT statement for call events (14 parameters each; SQLite allows 32,766
/// parameters per statement and PostgreSQL 65,535).
const EVENT_ROWS_PER_STATEMENT: usize = 2_000;
/// Rows per INSERT statement for CDRs (21 parameters each).
const CDR_ROWS_PER_STATEMENT: usize = 1_200;

/// The layer of a call event (see `docs/ARCHITECTURE.md`, "The four layers").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventLayer {
    /// One SIP message.
    Method,
    /// One transaction.
    Transaction,
    /// One dialog.
    Dialog,
    /// The business call.
    Call,
}

impl EventLayer {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventLayer::Method => "method",
            EventLayer::Transaction => "transaction",
            EventLayer::Dialog => "dialog",
            EventLayer::Call => "call",
        }
    }
}

/// One row of the four-layer event log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallEventRecord {
    /// The server run that published the event (the bus numbers events per run).
    pub run_id: Id,
    /// The bus sequence number within the run.
    pub seq: i64,
    /// When it happened (UTC).
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    /// Layer.
    pub layer: EventLayer,
    /// SIP Call-ID.
    pub call_id: String,
    /// Transaction key.
    pub transaction_key: Option<String>,
    /// Dialog id.
    pub dialog_id: Option<String>,
    /// SIP method.
    pub method: Option<String>,
    /// SIP status.
    pub status: Option<i32>,
    /// State before.
    pub from_state: Option<String>,
    /// State after.
    pub to_state: Option<String>,
    /// Why.
    pub cause: Option<String>,
    /// What happened within the layer.
    pub kind: Option<String>,
    /// Anything else, structured.
    pub detail: Option<serde_json::Value>,
}

/// Which way a call went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// From a trunk or outside caller in.
    Inbound,
    /// From an endpoint out through a trunk.
    Outbound,
    /// Between two endpoints.
    Internal,
}

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Disposition {
    /// Answered.
    Answered,
    /// Rang out without an answer.
    NoAnswer,
    /// The callee was busy.
    Busy,
    /// Failed (error response, timeout, no route).
    Failed,
    /// The caller cancelled before the answer.
    Cancelled,
    /// The caller hung up while queued.
    Abandoned,
    /// Sent to the queue's overflow target.
    Overflow,
}

/// Who ended a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HangupBy {
    /// The calling party.
    Caller,
    /// The called party.
    Callee,
    /// Switchboard itself (timeout, error, shutdown).
    System,
}

/// `as_str` for a unit enum: the stored name of each variant.
macro_rules! stored_names {
    ($t:ty { $($variant:ident => $name:literal),* $(,)? }) => {
        impl $t {
            /// The stored name.
            pub fn as_str(self) -> &'static str {
                match self { $(<$t>::$variant => $name),* }
            }
        }
    };
}
stored_names!(Direction { Inbound => "inbound", Outbound => "outbound", Internal => "internal" });
stored_names!(Disposition {
    Answered => "answered",
    NoAnswer => "no_answer",
    Busy => "busy",
    Failed => "failed",
    Cancelled => "cancelled",
    Abandoned => "abandoned",
    Overflow => "overflow",
});
stored_names!(HangupBy { Caller => "caller", Callee => "callee", System => "system" });

/// One call detail record, written once when the call ends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CdrRecord {
    /// The call's id (made by the call engine).
    pub id: Id,
    /// SIP Call-ID of the inbound leg.
    pub sip_call_id: String,
    /// Direction.
    pub direction: Direction,
    /// Caller (URI or number).
    pub caller: String,
    /// Callee (URI or number).
    pub callee: String,
    /// The INVITE arrived.
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    /// First ringing (180/183).
    #[serde(with = "time::serde::rfc3339::option")]
    pub ringing_at: Option<OffsetDateTime>,
    /// Answered (200 OK).
    #[serde(with = "time::serde::rfc3339::option")]
    pub answered_at: Option<OffsetDateTime>,
    /// Ended.
    #[serde(with = "time::serde::rfc3339")]
    pub ended_at: OffsetDateTime,
    /// How it ended.
    pub disposition: Disposition,
    /// Who hung up.
    pub hangup_by: Option<HangupBy>,
    /// Why (BYE, CANCEL, a Reason header, a timer, ...).
    pub hangup_cause: Option<String>,
    /// Final SIP status of the INVITE (100..=699).
    pub final_status: Option<i32>,
    /// Codec on the caller's leg.
    pub caller_codec: Option<String>,
    /// Codec on the callee's leg.
    pub callee_codec: Option<String>,
    /// The route taken (dial plan entry, trunk, IVR path).
    pub route: Option<String>,
    /// Queue id.
    pub queue_id: Option<Id>,
    /// Queue name at the time.
    pub queue_name: Option<String>,
    /// Agent id.
    pub agent_id: Option<Id>,
    /// Agent name at the time.
    pub agent_name: Option<String>,
    /// Trunk name.
    pub trunk_name: Option<String>,
}

/// Anything the writer stores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Record {
    /// A call event.
    Event(CallEventRecord),
    /// A CDR.
    Cdr(CdrRecord),
}

/// Replaces NUL characters, which PostgreSQL text and jsonb refuse, with U+FFFD.
fn clean(s: &mut String) {
    if s.contains('\0') {
        *s = s.replace('\0', "\u{fffd}");
    }
}

fn clean_opt(s: &mut Option<String>) {
    if let Some(s) = s {
        clean(s);
    }
}

fn clean_json(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::String(s) => clean(s),
        serde_json::Value::Array(a) => a.iter_mut().for_each(clean_json),
        serde_json::Value::Object(o) => {
            if o.keys().any(|k| k.contains('\0')) {
                let old = std::mem::take(o);
                for (k, val) in old {
                    o.insert(k.replace('\0', "\u{fffd}"), val);
                }
            }
            o.values_mut().for_each(clean_json);
        }
        _ => {}
    }
}

impl Record {
    /// Makes every text storable on both backends (network input may hold NULs).
    pub(crate) fn sanitize(&mut self) {
        match self {
            Record::Event(e) => {
                clean(&mut e.call_id);
                for s in [
                    &mut e.transaction_key,
                    &mut e.dialog_id,
                    &mut e.method,
                    &mut e.from_state,
                    &mut e.to_state,
                    &mut e.cause,
                    &mut e.kind,
                ] {
                    clean_opt(s);
                }
                if let Some(d) = &mut e.detail {
                    clean_json(d);
                }
            }
            Record::Cdr(c) => {
                for s in [&mut c.sip_call_id, &mut c.caller, &mut c.callee] {
                    clean(s);
                }
                for s in [
                    &mut c.hangup_cause,
                    &mut c.caller_codec,
                    &mut c.callee_codec,
                    &mut c.route,
                    &mut c.queue_name,
                    &mut c.agent_name,
                    &mut c.trunk_name,
                ] {
                    clean_opt(s);
                }
            }
        }
    }
}

impl Store {
    /// Inserts call events and CDRs in one transaction with multi-row INSERTs. Rows already
    /// stored (same run and seq, same CDR id) are skipped, so a batch can be retried or
    /// replayed safely.
    pub async fn insert_records(&self, records: &[Record]) -> Result<()> {
        let events: Vec<&CallEventRecord> = records
            .iter()
            .filter_map(|r| match r {
                Record::Event(e) => Some(e),
                Record::Cdr(_) => None,
            })
            .collect();
        let cdrs: Vec<&CdrRecord> = records
            .iter()
            .filter_map(|r| match r {
                Record::Cdr(c) => Some(c),
                Record::Event(_) => None,
            })
            .collect();
        with_db!(self, |pool| {
            let mut tx = pool.begin().await?;
            for chunk in events.chunks(EVENT_ROWS_PER_STATEMENT) {
                let mut qb = sqlx::QueryBuilder::new(
                    "INSERT INTO call_events (run_id, seq, occurred_at, layer, call_id, \
                     transaction_key, dialog_id, method, status, from_state, to_state, cause, \
                     kind, detail) ",
                );
                qb.push_values(chunk, |mut b, e| {
                    b.push_bind(e.run_id)
                        .push_bind(e.seq)
                        .push_bind(e.occurred_at)
                        .push_bind(e.layer.as_str())
                        .push_bind(&e.call_id)
                        .push_bind(&e.transaction_key)
                        .push_bind(&e.dialog_id)
                        .push_bind(&e.method)
                        .push_bind(e.status)
                        .push_bind(&e.from_state)
                        .push_bind(&e.to_state)
                        .push_bind(&e.cause)
                        .push_bind(&e.kind)
                        .push_bind(&e.detail);
                });
                qb.push(" ON CONFLICT (run_id, seq) DO NOTHING");
                qb.build().execute(&mut *tx).await?;
            }
            for chunk in cdrs.chunks(CDR_ROWS_PER_STATEMENT) {
                let mut qb = sqlx::QueryBuilder::new(
                    "INSERT INTO calls (id, sip_call_id, direction, caller, callee, started_at, \
                     ringing_at, answered_at, ended_at, disposition, hangup_by, hangup_cause, \
                     final_status, caller_codec, callee_codec, route, queue_id, queue_name, \
                     agent_id, agent_name, trunk_name) ",
                );
                qb.push_values(chunk, |mut b, c| {
                    b.push_bind(c.id)
                        .push_bind(&c.sip_call_id)
                        .push_bind(c.direction.as_str())
                        .push_bind(&c.caller)
                        .push_bind(&c.callee)
                        .push_bind(c.started_at)
                        .push_bind(c.ringing_at)
                        .push_bind(c.answered_at)
                        .push_bind(c.ended_at)
                        .push_bind(c.disposition.as_str())
                        .push_bind(c.hangup_by.map(HangupBy::as_str))
                        .push_bind(&c.hangup_cause)
                        .push_bind(c.final_status)
                        .push_bind(&c.caller_codec)
                        .push_bind(&c.callee_codec)
                        .push_bind(&c.route)
                        .push_bind(c.queue_id)
                        .push_bind(&c.queue_name)
                        .push_bind(c.agent_id)
                        .push_bind(&c.agent_name)
                        .push_bind(&c.trunk_name);
                });
                qb.push(" ON CONFLICT (id) DO NOTHING");
                qb.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// How many call events and CDRs are stored (for tests, benchmarks and operators).
    pub async fn count_history(&self) -> Result<(i64, i64)> {
        Ok(with_db!(self, |pool| {
            let events: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM call_events")
                .fetch_one(pool)
                .await?;
            let cdrs: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM calls")
                .fetch_one(pool)
                .await?;
            (events, cdrs)
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enum_names_match_the_schema_checks() {
        assert_eq!(Disposition::NoAnswer.as_str(), "no_answer");
        assert_eq!(Direction::Internal.as_str(), "internal");
        assert_eq!(HangupBy::Callee.as_str(), "callee");
        assert_eq!(HangupBy::System.as_str(), "system");
        assert_eq!(EventLayer::Transaction.as_str(), "transaction");
    }

    #[test]
    fn sanitize_replaces_nul_everywhere() {
        let mut r = Record::Event(CallEventRecord {
            run_id: Id::new(),
            seq: 1,
            occurred_at: OffsetDateTime::UNIX_EPOCH,
            layer: EventLayer::Method,
            call_id: "a\0b".into(),
            transaction_key: None,
            dialog_id: None,
            method: Some("X\0".into()),
            status: None,
            from_state: None,
            to_state: None,
            cause: None,
            kind: None,
            detail: Some(serde_json::json!({ "k\0": ["v\0"] })),
        });
        r.sanitize();
        let text = serde_json::to_string(&r).unwrap_or_default();
        assert!(!text.contains("\\u0000"), "{text}");
    }
}
