//! How a batch of binding changes becomes SQL: values checked before SQL, changes folded per
//! binding, and the conversions between records and rows.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};

use sqlx::FromRow;
use time::OffsetDateTime;

use super::time_text::DbTime;
use super::{ApplyReport, REACHABILITY_VALUES, RegistrationChange, RegistrationRecord, TRANSPORTS};
use crate::Id;

/// Why a change cannot be stored, or `None`. Checked before SQL so one bad value (they come
/// from the network) is skipped instead of failing the whole batch.
pub(super) fn invalid_reason(change: &RegistrationChange) -> Option<String> {
    let (aor, contact) = change.key();
    let mut texts = vec![aor, contact];
    let mut times = Vec::new();
    match change {
        RegistrationChange::Save(r) => {
            texts.extend([r.transport.as_str(), &r.call_id, &r.reachability]);
            texts.extend(r.user_agent.as_deref());
            texts.extend(r.instance_id.as_deref());
            texts.extend(r.path.iter().map(String::as_str));
            times.extend([
                r.expires_at,
                r.registered_at,
                r.refreshed_at,
                r.last_seen_at,
            ]);
            if !TRANSPORTS.contains(&r.transport.as_str()) {
                return Some(format!(
                    "transport '{}' is not one of {TRANSPORTS:?}",
                    r.transport
                ));
            }
            if !REACHABILITY_VALUES.contains(&r.reachability.as_str()) {
                return Some(format!("reachability '{}' is unknown", r.reachability));
            }
            if r.q_milli.is_some_and(|q| q > 1000) {
                return Some("q_milli is over 1000".into());
            }
            if r.reg_id.is_some_and(|id| i32::try_from(id).is_err()) {
                return Some("reg_id is over 2^31-1".into());
            }
        }
        RegistrationChange::Remove { .. } => {}
        RegistrationChange::Reachability {
            reachability,
            last_seen_at,
            ..
        } => {
            if !REACHABILITY_VALUES.contains(&reachability.as_str()) {
                return Some(format!("reachability '{reachability}' is unknown"));
            }
            times.push(*last_seen_at);
        }
    }
    // PostgreSQL text cannot hold NUL; a time outside years 0-9999 has no RFC 3339 form.
    if texts.iter().any(|t| t.contains('\0')) {
        return Some("a text value contains NUL".into());
    }
    if times.iter().any(|t| DbTime::text(*t).is_err()) {
        return Some("a time is outside the years 0 to 9999".into());
    }
    None
}

/// The last word on one binding after folding a batch's changes to it in order.
pub(super) enum Final<'a> {
    /// Upsert, with a later Reachability change folded in.
    Save(&'a RegistrationRecord, Option<(&'a str, OffsetDateTime)>),
    Remove,
    Reachability(&'a str, OffsetDateTime),
}

/// Folds `changes` (valid, in order) per binding: a Save then a Reachability is one upsert,
/// anything then a Remove is a delete, and so on. Saves whose AOR has no endpoint are left
/// out and counted. Keys come out sorted, so concurrent batches lock rows in the same order.
pub(super) fn fold<'a>(
    changes: &[&'a RegistrationChange],
    endpoint_ids: &HashMap<String, Id>,
    report: &mut ApplyReport,
) -> BTreeMap<(&'a str, &'a str), Final<'a>> {
    let mut last: BTreeMap<(&str, &str), Final> = BTreeMap::new();
    for change in changes {
        let key = change.key();
        let next = match change {
            RegistrationChange::Save(r) => {
                if !endpoint_ids.contains_key(&r.aor) {
                    report.skipped_unknown_aor += 1;
                    continue;
                }
                Final::Save(r, None)
            }
            RegistrationChange::Remove { .. } => Final::Remove,
            RegistrationChange::Reachability {
                reachability,
                last_seen_at,
                ..
            } => match last.get(&key) {
                Some(Final::Save(r, _)) => Final::Save(r, Some((reachability, *last_seen_at))),
                Some(Final::Remove) => Final::Remove,
                _ => Final::Reachability(reachability, *last_seen_at),
            },
        };
        report.applied += 1;
        last.insert(key, next);
    }
    last
}

/// A Save's values in their stored form.
pub(super) struct SaveRow<'a> {
    pub(super) r: &'a RegistrationRecord,
    pub(super) endpoint_id: Id,
    pub(super) source_address: String,
    pub(super) source_port: i32,
    pub(super) local_address: String,
    pub(super) q_milli: Option<i32>,
    pub(super) cseq: i64,
    pub(super) path: Option<serde_json::Value>,
    pub(super) reg_id: Option<i32>,
    pub(super) reachability: &'a str,
    pub(super) last_seen_at: DbTime,
}

impl<'a> SaveRow<'a> {
    pub(super) fn new(
        r: &'a RegistrationRecord,
        endpoint_id: Id,
        reachability: Option<(&'a str, OffsetDateTime)>,
    ) -> SaveRow<'a> {
        let (reachability, last_seen_at) =
            reachability.unwrap_or((r.reachability.as_str(), r.last_seen_at));
        SaveRow {
            r,
            endpoint_id,
            source_address: r.source.ip().to_string(),
            source_port: i32::from(r.source.port()),
            local_address: r.local.to_string(),
            q_milli: r.q_milli.map(i32::from),
            cseq: i64::from(r.cseq),
            path: (!r.path.is_empty()).then(|| serde_json::json!(r.path)),
            // Checked by invalid_reason.
            reg_id: r.reg_id.and_then(|id| i32::try_from(id).ok()),
            reachability,
            last_seen_at: DbTime(last_seen_at),
        }
    }
}

/// A stored binding as read back.
#[derive(FromRow)]
pub(super) struct StoredRow {
    pub(super) aor: String,
    pub(super) contact_uri: String,
    source_address: String,
    source_port: i32,
    local_address: Option<String>,
    transport: String,
    user_agent: Option<String>,
    q_milli: Option<i32>,
    call_id: String,
    cseq: i64,
    path: Option<serde_json::Value>,
    instance_id: Option<String>,
    reg_id: Option<i32>,
    expires_at: OffsetDateTime,
    registered_at: OffsetDateTime,
    refreshed_at: OffsetDateTime,
    reachability: String,
    last_seen_at: OffsetDateTime,
}

impl StoredRow {
    /// The record, or why the row cannot be one.
    pub(super) fn into_record(self) -> std::result::Result<RegistrationRecord, String> {
        let ip: IpAddr = self
            .source_address
            .parse()
            .map_err(|_| format!("source address '{}' is not an IP", self.source_address))?;
        let port = u16::try_from(self.source_port)
            .map_err(|_| format!("source port {} is out of range", self.source_port))?;
        let local: SocketAddr = self
            .local_address
            .as_deref()
            .ok_or("no local address (stored before migration 2)")?
            .parse()
            .map_err(|_| "local address is not ip:port".to_string())?;
        let path = match self.path {
            None => Vec::new(),
            Some(v) => serde_json::from_value(v).map_err(|_| "path is not a list of strings")?,
        };
        Ok(RegistrationRecord {
            aor: self.aor,
            contact_uri: self.contact_uri,
            source: SocketAddr::new(ip, port),
            local,
            transport: self.transport,
            user_agent: self.user_agent,
            q_milli: self.q_milli.and_then(|q| u16::try_from(q).ok()),
            call_id: self.call_id,
            cseq: u32::try_from(self.cseq).map_err(|_| "cseq is out of range")?,
            path,
            instance_id: self.instance_id,
            reg_id: self.reg_id.and_then(|id| u32::try_from(id).ok()),
            expires_at: self.expires_at,
            registered_at: self.registered_at,
            refreshed_at: self.refreshed_at,
            reachability: self.reachability,
            last_seen_at: self.last_seen_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(aor: &str, contact: &str) -> RegistrationRecord {
        let t = OffsetDateTime::UNIX_EPOCH;
        RegistrationRecord {
            aor: aor.into(),
            contact_uri: contact.into(),
            source: SocketAddr::from(([192, 0, 2, 1], 5060)),
            local: SocketAddr::from(([192, 0, 2, 2], 5060)),
            transport: "udp".into(),
            user_agent: None,
            q_milli: None,
            call_id: "c".into(),
            cseq: 1,
            path: Vec::new(),
            instance_id: None,
            reg_id: None,
            expires_at: t,
            registered_at: t,
            refreshed_at: t,
            reachability: "unknown".into(),
            last_seen_at: t,
        }
    }

    fn reach(aor: &str, contact: &str, r: &str) -> RegistrationChange {
        RegistrationChange::Reachability {
            aor: aor.into(),
            contact_uri: contact.into(),
            reachability: r.into(),
            last_seen_at: OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn values_the_schema_cannot_hold_are_invalid() {
        let ok = RegistrationChange::Save(record("1001", "sip:a"));
        assert_eq!(invalid_reason(&ok), None);
        let mut r = record("1001", "sip:a");
        r.transport = "sctp".into();
        assert!(invalid_reason(&RegistrationChange::Save(r)).is_some());
        let mut r = record("1001", "sip:a");
        r.q_milli = Some(1001);
        assert!(invalid_reason(&RegistrationChange::Save(r)).is_some());
        let mut r = record("1001", "sip:a");
        r.reg_id = Some(u32::MAX);
        assert!(invalid_reason(&RegistrationChange::Save(r)).is_some());
        let mut r = record("1001", "sip:a");
        r.user_agent = Some("x\0y".into());
        assert!(invalid_reason(&RegistrationChange::Save(r)).is_some());
        assert!(invalid_reason(&reach("1001", "sip:a", "maybe")).is_some());
    }

    #[test]
    fn a_batch_folds_to_the_last_word_per_binding() {
        let ids: HashMap<String, Id> = [("1001".to_string(), Id::new())].into();
        let changes = [
            RegistrationChange::Save(record("1001", "sip:a")),
            reach("1001", "sip:a", "reachable"),
            RegistrationChange::Save(record("1001", "sip:b")),
            RegistrationChange::Remove {
                aor: "1001".into(),
                contact_uri: "sip:b".into(),
            },
            reach("1001", "sip:b", "reachable"),
            reach("1001", "sip:c", "unreachable"),
            RegistrationChange::Save(record("nobody", "sip:x")),
        ];
        let refs: Vec<&RegistrationChange> = changes.iter().collect();
        let mut report = ApplyReport::default();
        let plan = fold(&refs, &ids, &mut report);
        assert_eq!(report.applied, 6);
        assert_eq!(report.skipped_unknown_aor, 1);
        assert!(matches!(
            plan.get(&("1001", "sip:a")),
            Some(Final::Save(_, Some(("reachable", _))))
        ));
        assert!(matches!(plan.get(&("1001", "sip:b")), Some(Final::Remove)));
        assert!(matches!(
            plan.get(&("1001", "sip:c")),
            Some(Final::Reachability("unreachable", _))
        ));
        assert_eq!(plan.len(), 3);
    }
}
