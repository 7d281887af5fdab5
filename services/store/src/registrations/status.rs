//! Each endpoint's registration status, and counts per endpoint group, derived from the
//! stored bindings (for `switchboard endpoint list` and `endpoint groups`).

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde::Serialize;
use sqlx::FromRow;
use time::OffsetDateTime;

use crate::endpoints::DtmfMode;
use crate::{Id, Result, Store};

/// Whether an endpoint can be reached through its bindings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EndpointState {
    /// No live (unexpired) binding.
    Offline,
    /// At least one live binding that is not known to be unreachable.
    Registered,
    /// Live bindings, every one unreachable.
    Unreachable,
}

impl EndpointState {
    /// `offline`, `registered` or `unreachable`.
    pub fn as_str(self) -> &'static str {
        match self {
            EndpointState::Offline => "offline",
            EndpointState::Registered => "registered",
            EndpointState::Unreachable => "unreachable",
        }
    }
}

impl fmt::Display for EndpointState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One endpoint with the state of its bindings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EndpointStatus {
    /// SIP user name.
    pub username: String,
    /// Digest realm.
    pub realm: String,
    /// Name shown to people.
    pub display_name: Option<String>,
    /// Group name.
    pub group: Option<String>,
    /// Whether it may register and call.
    pub enabled: bool,
    /// How DTMF is sent to it.
    pub dtmf_mode: DtmfMode,
    /// Live (unexpired) bindings.
    pub bindings: u32,
    /// Derived from the live bindings.
    pub status: EndpointState,
    /// The latest `last_seen_at` of its stored bindings, expired ones included until they are
    /// deleted (so an offline phone still shows when it was last heard); `None` if none.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_seen: Option<OffsetDateTime>,
    /// User-Agent of the most recently refreshed live binding.
    pub user_agent: Option<String>,
    /// Where that binding registered from: `transport:ip:port` (`udp:192.0.2.1:5060`,
    /// `tcp:[2001:db8::1]:5061`).
    pub source: Option<String>,
}

/// Counts of one endpoint group's endpoints by [`EndpointState`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EndpointGroupSummary {
    /// The group's name; `None` for the endpoints in no group (listed last, only when
    /// there are some).
    pub group: Option<String>,
    /// Endpoints in the group.
    pub endpoints: u32,
    /// Of those, registered.
    pub registered: u32,
    /// Of those, unreachable.
    pub unreachable: u32,
    /// Of those, offline.
    pub offline: u32,
}

#[derive(FromRow)]
struct EndpointRow {
    id: Id,
    username: String,
    realm: String,
    display_name: Option<String>,
    group_name: Option<String>,
    enabled: bool,
    #[sqlx(try_from = "String")]
    dtmf_mode: DtmfMode,
}

#[derive(FromRow)]
struct BindingRow {
    endpoint_id: Id,
    expires_at: OffsetDateTime,
    reachability: String,
    last_seen_at: OffsetDateTime,
    refreshed_at: OffsetDateTime,
    user_agent: Option<String>,
    transport: String,
    source_address: String,
    source_port: i32,
}

impl BindingRow {
    fn source(&self) -> String {
        if self.source_address.contains(':') {
            format!(
                "{}:[{}]:{}",
                self.transport, self.source_address, self.source_port
            )
        } else {
            format!(
                "{}:{}:{}",
                self.transport, self.source_address, self.source_port
            )
        }
    }
}

/// The status of every endpoint in `endpoints` (in that order) from `bindings` at `now`.
fn derive(
    endpoints: Vec<EndpointRow>,
    bindings: &[BindingRow],
    now: OffsetDateTime,
) -> Vec<EndpointStatus> {
    let mut by_endpoint: HashMap<Id, Vec<&BindingRow>> = HashMap::new();
    for b in bindings {
        by_endpoint.entry(b.endpoint_id).or_default().push(b);
    }
    endpoints
        .into_iter()
        .map(|e| {
            let all = by_endpoint.get(&e.id).map(Vec::as_slice).unwrap_or(&[]);
            let live: Vec<&BindingRow> =
                all.iter().copied().filter(|b| b.expires_at > now).collect();
            let status = if live.is_empty() {
                EndpointState::Offline
            } else if live.iter().any(|b| b.reachability != "unreachable") {
                EndpointState::Registered
            } else {
                EndpointState::Unreachable
            };
            let latest = live.iter().max_by_key(|b| b.refreshed_at);
            EndpointStatus {
                username: e.username,
                realm: e.realm,
                display_name: e.display_name,
                group: e.group_name,
                enabled: e.enabled,
                dtmf_mode: e.dtmf_mode,
                bindings: u32::try_from(live.len()).unwrap_or(u32::MAX),
                status,
                last_seen: all.iter().map(|b| b.last_seen_at).max(),
                user_agent: latest.and_then(|b| b.user_agent.clone()),
                source: latest.map(|b| b.source()),
            }
        })
        .collect()
}

/// Per-group counts of `statuses`, for every group in `groups` (empty ones too), by name,
/// then the endpoints in no group.
fn summarize(groups: Vec<String>, statuses: &[EndpointStatus]) -> Vec<EndpointGroupSummary> {
    let empty = |group| EndpointGroupSummary {
        group,
        endpoints: 0,
        registered: 0,
        unreachable: 0,
        offline: 0,
    };
    let mut named: BTreeMap<String, EndpointGroupSummary> = groups
        .into_iter()
        .map(|g| (g.clone(), empty(Some(g))))
        .collect();
    let mut ungrouped = empty(None);
    for s in statuses {
        let summary = match &s.group {
            Some(g) => named
                .entry(g.clone())
                .or_insert_with(|| empty(Some(g.clone()))),
            None => &mut ungrouped,
        };
        summary.endpoints += 1;
        match s.status {
            EndpointState::Registered => summary.registered += 1,
            EndpointState::Unreachable => summary.unreachable += 1,
            EndpointState::Offline => summary.offline += 1,
        }
    }
    let mut out: Vec<EndpointGroupSummary> = named.into_values().collect();
    if ungrouped.endpoints > 0 {
        out.push(ungrouped);
    }
    out
}

impl Store {
    /// Every endpoint, by user name, with its registration status at `now`: live binding
    /// count, [`EndpointState`], when last seen, and the user agent and source of its most
    /// recently refreshed live binding.
    pub async fn endpoint_statuses(&self, now: OffsetDateTime) -> Result<Vec<EndpointStatus>> {
        let (endpoints, bindings): (Vec<EndpointRow>, Vec<BindingRow>) = with_db!(self, |pool| {
            // One snapshot on SQLite; on PostgreSQL (read committed) a binding of an endpoint
            // added between the two reads is just not counted.
            let mut tx = pool.begin().await?;
            let endpoints = sqlx::query_as(
                "SELECT e.id, e.username, e.realm, e.display_name, g.name AS group_name, \
                 e.enabled, e.dtmf_mode FROM endpoints e LEFT JOIN endpoint_groups g ON g.id = e.group_id \
                 ORDER BY e.username",
            )
            .fetch_all(&mut *tx)
            .await?;
            let bindings = sqlx::query_as(
                "SELECT endpoint_id, expires_at, reachability, last_seen_at, refreshed_at, \
                 user_agent, transport, source_address, source_port FROM registrations",
            )
            .fetch_all(&mut *tx)
            .await?;
            tx.commit().await?;
            (endpoints, bindings)
        });
        Ok(derive(endpoints, &bindings, now))
    }

    /// Per endpoint group (by name, empty groups included; then the endpoints in no group,
    /// `group: None`, if any): how many endpoints, and how many are registered, unreachable
    /// and offline at `now`.
    pub async fn endpoint_group_summaries(
        &self,
        now: OffsetDateTime,
    ) -> Result<Vec<EndpointGroupSummary>> {
        let groups: Vec<String> = with_db!(self, |pool| sqlx::query_scalar(
            "SELECT name FROM endpoint_groups ORDER BY name"
        )
        .fetch_all(pool)
        .await?);
        let statuses = self.endpoint_statuses(now).await?;
        Ok(summarize(groups, &statuses))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::Duration;

    fn endpoint(name: &str, group: Option<&str>) -> EndpointRow {
        EndpointRow {
            id: Id::new(),
            username: name.into(),
            realm: "r".into(),
            display_name: None,
            group_name: group.map(str::to_string),
            enabled: true,
            dtmf_mode: DtmfMode::Rfc4733,
        }
    }

    fn binding(
        of: &EndpointRow,
        expires_in: i64,
        reachability: &str,
        refreshed: i64,
        ua: &str,
    ) -> BindingRow {
        let t0 = OffsetDateTime::UNIX_EPOCH;
        BindingRow {
            endpoint_id: of.id,
            expires_at: t0 + Duration::seconds(expires_in),
            reachability: reachability.into(),
            last_seen_at: t0 + Duration::seconds(refreshed),
            refreshed_at: t0 + Duration::seconds(refreshed),
            user_agent: Some(ua.into()),
            transport: "udp".into(),
            source_address: "2001:db8::1".into(),
            source_port: 5060,
        }
    }

    #[test]
    fn status_comes_from_live_bindings_only() {
        let (a, b, c, d) = (
            endpoint("a", Some("g")),
            endpoint("b", Some("g")),
            endpoint("c", None),
            endpoint("d", Some("h")),
        );
        let bindings = vec![
            binding(&a, 60, "unreachable", -5, "old"),
            binding(&a, 60, "unknown", -1, "new"),
            binding(&b, 60, "unreachable", -3, "x"),
            binding(&c, -10, "reachable", -20, "gone"),
        ];
        let now = OffsetDateTime::UNIX_EPOCH;
        let s = derive(vec![a, b, c, d], &bindings, now);
        let got: Vec<(&str, EndpointState, u32)> = s
            .iter()
            .map(|s| (s.username.as_str(), s.status, s.bindings))
            .collect();
        assert_eq!(
            got,
            [
                ("a", EndpointState::Registered, 2),
                ("b", EndpointState::Unreachable, 1),
                ("c", EndpointState::Offline, 0),
                ("d", EndpointState::Offline, 0),
            ]
        );
        assert_eq!(s[0].user_agent.as_deref(), Some("new"));
        assert_eq!(s[0].source.as_deref(), Some("udp:[2001:db8::1]:5060"));
        assert_eq!(s[2].last_seen, Some(now - Duration::seconds(20)));
        assert_eq!(
            (s[2].user_agent.as_deref(), s[2].source.as_deref()),
            (None, None)
        );
        assert_eq!(s[3].last_seen, None);

        let sums = summarize(vec!["empty".into(), "g".into(), "h".into()], &s);
        let rows: Vec<(Option<&str>, u32, u32, u32, u32)> = sums
            .iter()
            .map(|g| {
                (
                    g.group.as_deref(),
                    g.endpoints,
                    g.registered,
                    g.unreachable,
                    g.offline,
                )
            })
            .collect();
        assert_eq!(
            rows,
            [
                (Some("empty"), 0, 0, 0, 0),
                (Some("g"), 2, 1, 1, 0),
                (Some("h"), 1, 0, 0, 1),
                (None, 1, 0, 0, 1),
            ]
        );
    }
}
