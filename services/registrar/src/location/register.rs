//! REGISTER processing (RFC 3261 §10.3 steps 5 to 8, RFC 3327 Path, RFC 5626 instance/reg-id).
//!
//! A REGISTER is checked in full before anything changes: every Contact's expiry, q-value and
//! ordering against its binding, then the per-AOR contact limit. Any refusal leaves the
//! bindings as they were (§10.3: "the update MUST be aborted and the request fails"); only
//! then are the removals and saves applied, and the 200 lists what is left.

use sip::{Header, HeaderName, NameAddr, Request, Uri};

use super::reply::ok_reply;
use super::uri_equiv::uri_equivalent;
use super::{
    Binding, BindingChange, BindingFlow, ContactLimit, LocationService, QualifyState, Reachability,
    RegisterOutcome, RegisterPolicy, RegisterReply, RemovalCause, Slot, is_sip_contact,
};
use crate::UnixTime;

/// The address-of-record of a REGISTER: the To URI's user part, unescaped. A To URI that is
/// not sip/sips gets 400 (RFC 4475 unksm2); one without a user part gets 404.
///
/// §10.3 step 5 puts the To URI in canonical form: parameters dropped and escapes decoded.
/// Switchboard serves one domain per registrar, so the user part alone names the endpoint.
pub fn address_of_record(request: &Request) -> Result<String, RegisterReply> {
    let Some(to) = request.headers.to() else {
        return Err(RegisterReply::refusal(400, "Missing To header"));
    };
    let Uri::Sip(uri) = &to.uri else {
        return Err(RegisterReply::refusal(
            400,
            format!("Unsupported URI scheme in To: {}", to.uri.scheme()),
        ));
    };
    let Some(user) = uri.user_decoded() else {
        return Err(RegisterReply::refusal(
            404,
            "No such user (no user part in To)",
        ));
    };
    // Escapes may decode to bytes that are not text: no endpoint can be named so.
    match String::from_utf8(user) {
        Ok(aor) if !aor.is_empty() => Ok(aor),
        _ => Err(RegisterReply::refusal(404, "No such user")),
    }
}

/// One Contact of the request, checked.
struct Wanted<'r> {
    /// The URI as parsed, for equivalence with stored bindings.
    uri: &'r Uri,
    /// The URI text as it will be stored.
    text: String,
    /// Granted expiry in seconds (0 removes the binding).
    expires: u32,
    q_milli: Option<u16>,
    instance_id: Option<Box<str>>,
    reg_id: Option<u32>,
    /// The live binding it refreshes or removes, if any.
    existing: Option<Slot>,
}

/// What every binding saved by the request shares.
struct Refresh<'r> {
    call_id: &'r str,
    cseq: u32,
    path: Vec<Box<str>>,
    user_agent: Option<Box<str>>,
    flow: BindingFlow,
    now: UnixTime,
}

impl LocationService {
    /// Processes an (authenticated) REGISTER for `aor` that arrived on `flow` (RFC 3261 §10.3
    /// steps 6 to 8).
    pub fn register(
        &mut self,
        aor: &str,
        request: &Request,
        flow: BindingFlow,
        policy: &RegisterPolicy,
        now: UnixTime,
    ) -> RegisterOutcome {
        let outcome = self.try_register(aor, request, flow, policy, now);
        outcome.unwrap_or_else(|reply| RegisterOutcome {
            reply,
            changes: Vec::new(),
        })
    }

    fn try_register(
        &mut self,
        aor: &str,
        request: &Request,
        flow: BindingFlow,
        policy: &RegisterPolicy,
        now: UnixTime,
    ) -> Result<RegisterOutcome, RegisterReply> {
        let headers = &request.headers;
        let call_id: &str = headers
            .call_id()
            .ok_or_else(|| RegisterReply::refusal(400, "Missing Call-ID"))?;
        let cseq = headers
            .cseq()
            .ok_or_else(|| RegisterReply::refusal(400, "Missing CSeq"))?
            .seq;
        let live: Vec<Slot> = self
            .aor_slots(aor)
            .iter()
            .copied()
            .filter(|&s| self.get(s).is_some_and(|b| b.is_live(now)))
            .collect();

        if headers.contact_star() {
            return self.unregister_all(aor, request, &live, call_id, cseq, now);
        }
        let contacts: Vec<&NameAddr> = headers.contacts().collect();
        if contacts.is_empty() {
            // A query (§10.3 step 8 with no Contact): the current bindings, nothing changed.
            return Ok(RegisterOutcome {
                reply: ok_reply(&self.lookup(aor, now), request, now),
                changes: Vec::new(),
            });
        }

        let mut wanted: Vec<Wanted<'_>> = Vec::with_capacity(contacts.len());
        for contact in contacts {
            let w = self.check_contact(contact, request, &live, call_id, cseq, policy)?;
            // The same contact twice in one request: the later one says what is wanted.
            let duplicate = wanted.iter_mut().find(|o| {
                uri_equivalent(o.uri, w.uri) || (w.existing.is_some() && o.existing == w.existing)
            });
            match duplicate {
                Some(earlier) => *earlier = w,
                None => wanted.push(w),
            }
        }

        let replaced = self.make_room(&live, &wanted, policy)?;
        let refresh = Refresh {
            call_id,
            cseq,
            path: request
                .headers
                .iter()
                .filter_map(|h| match h {
                    Header::Path(list) => Some(list.iter()),
                    _ => None,
                })
                .flatten()
                .map(|p| p.uri.to_string().into_boxed_str())
                .collect(),
            user_agent: request.headers.iter().find_map(|h| match h {
                Header::UserAgent(ua) => Some(Box::from(&**ua)),
                _ => None,
            }),
            flow,
            now,
        };

        let mut changes = self.sweep_expired_of(aor, now);
        for slot in replaced {
            if let Some(binding) = self.remove_slot(slot) {
                changes.push(BindingChange::Removed {
                    binding,
                    cause: RemovalCause::Replaced,
                });
            }
        }
        for w in wanted {
            if let Some(change) = self.apply(aor, w, &refresh) {
                changes.push(change);
            }
        }
        Ok(RegisterOutcome {
            reply: ok_reply(&self.lookup(aor, now), request, now),
            changes,
        })
    }

    /// `Contact: *` (§10.3 step 6): valid only alone and with `Expires: 0`; removes every
    /// binding of the AOR, unless one was refreshed by this Call-ID with a CSeq not lower.
    fn unregister_all(
        &mut self,
        aor: &str,
        request: &Request,
        live: &[Slot],
        call_id: &str,
        cseq: u32,
        now: UnixTime,
    ) -> Result<RegisterOutcome, RegisterReply> {
        let headers = &request.headers;
        if headers.count(&HeaderName::Contact) != 1 {
            return Err(RegisterReply::refusal(
                400,
                "Contact: * must be the only Contact",
            ));
        }
        if headers.expires() != Some(0) {
            return Err(RegisterReply::refusal(
                400,
                "Contact: * requires Expires: 0",
            ));
        }
        for &slot in live {
            if let Some(b) = self.get(slot) {
                check_order(b, call_id, cseq)?;
            }
        }
        let mut changes = self.sweep_expired_of(aor, now);
        for &slot in live {
            if let Some(binding) = self.remove_slot(slot) {
                changes.push(BindingChange::Removed {
                    binding,
                    cause: RemovalCause::Unregistered,
                });
            }
        }
        Ok(RegisterOutcome {
            reply: ok_reply(&[], request, now),
            changes,
        })
    }

    /// Checks one Contact: its expiry (§10.3 step 7: from its `expires` parameter, else the
    /// Expires header, else the default; 423 below the minimum, clamped to the maximum), its q,
    /// RFC 5626 parameters, and the CSeq ordering against the binding it names.
    fn check_contact<'r>(
        &self,
        contact: &'r NameAddr,
        request: &Request,
        live: &[Slot],
        call_id: &str,
        cseq: u32,
        policy: &RegisterPolicy,
    ) -> Result<Wanted<'r>, RegisterReply> {
        let asked = match contact.params.get("expires") {
            Some(value) => value.and_then(|v| v.parse::<u32>().ok()).ok_or_else(|| {
                RegisterReply::refusal(400, "Invalid expires parameter in Contact")
            })?,
            None => request.headers.expires().unwrap_or(policy.default_expires),
        };
        if asked != 0 && asked < policy.min_expires {
            return Err(RegisterReply {
                status: 423,
                reason: None,
                headers: vec![Header::MinExpires(policy.min_expires)],
            });
        }
        let expires = asked.min(policy.max_expires);
        let q_milli =
            match contact.params.get("q") {
                Some(_) => Some(contact.q_millis().ok_or_else(|| {
                    RegisterReply::refusal(400, "Invalid q parameter in Contact")
                })?),
                None => None,
            };
        let instance_id = contact
            .params
            .value("+sip.instance")
            .map(|v| sip::unquote(v).into_boxed_str());
        let reg_id = match contact.params.get("reg-id") {
            Some(value) => Some(
                value
                    .and_then(|v| v.parse::<u32>().ok())
                    .filter(|&id| id > 0)
                    .ok_or_else(|| RegisterReply::refusal(400, "Invalid reg-id in Contact"))?,
            ),
            None => None,
        };
        let text = contact.uri.to_string();
        let existing = live.iter().copied().find(|&s| {
            self.get(s)
                .is_some_and(|b| same_contact(&b.contact, &text, &contact.uri))
        });
        if let Some(b) = existing.and_then(|s| self.get(s)) {
            check_order(b, call_id, cseq)?;
        }
        Ok(Wanted {
            uri: &contact.uri,
            text,
            expires,
            q_milli,
            instance_id,
            reg_id,
            existing,
        })
    }

    /// The bindings the contact limit pushes out (least recently refreshed first), or 403.
    ///
    /// The limit is checked only when the request adds bindings: a refresh or a removal from
    /// an AOR already over the limit (the limit was lowered) is not refused.
    fn make_room(
        &self,
        live: &[Slot],
        wanted: &[Wanted<'_>],
        policy: &RegisterPolicy,
    ) -> Result<Vec<Slot>, RegisterReply> {
        let added = wanted
            .iter()
            .filter(|w| w.existing.is_none() && w.expires > 0)
            .count();
        let removed = wanted
            .iter()
            .filter(|w| w.existing.is_some() && w.expires == 0)
            .count();
        let total = live.len().saturating_sub(removed) + added;
        if added == 0 || total <= policy.max_contacts {
            return Ok(Vec::new());
        }
        let too_many = || RegisterReply::refusal(403, "Too many contacts");
        if policy.on_contact_limit == ContactLimit::Refuse {
            return Err(too_many());
        }
        let mut untouched: Vec<&Binding> = live
            .iter()
            .copied()
            .filter(|&s| !wanted.iter().any(|w| w.existing == Some(s)))
            .filter_map(|s| self.get(s))
            .collect();
        let excess = total - policy.max_contacts;
        if untouched.len() < excess {
            // The request alone asks for more bindings than allowed.
            return Err(too_many());
        }
        untouched.sort_by(|a, b| {
            a.refreshed_at
                .cmp(&b.refreshed_at)
                .then(a.registered_at.cmp(&b.registered_at))
                .then(a.contact.cmp(&b.contact))
        });
        Ok(untouched
            .iter()
            .take(excess)
            .filter_map(|b| self.find(&b.aor, &b.contact))
            .collect())
    }

    /// Removes the AOR's bindings that have expired but were not yet swept by `expire`, so a
    /// REGISTER never revives one and the store hears of each removal.
    fn sweep_expired_of(&mut self, aor: &str, now: UnixTime) -> Vec<BindingChange> {
        let stale: Vec<Slot> = self
            .aor_slots(aor)
            .iter()
            .copied()
            .filter(|&s| self.get(s).is_some_and(|b| !b.is_live(now)))
            .collect();
        stale
            .into_iter()
            .filter_map(|s| self.remove_slot(s))
            .map(|binding| BindingChange::Removed {
                binding,
                cause: RemovalCause::Expired,
            })
            .collect()
    }

    /// Adds, refreshes or removes one binding as checked.
    fn apply(&mut self, aor: &str, w: Wanted<'_>, r: &Refresh<'_>) -> Option<BindingChange> {
        if w.expires == 0 {
            let binding = self.remove_slot(w.existing?)?;
            return Some(BindingChange::Removed {
                binding,
                cause: RemovalCause::Unregistered,
            });
        }
        let expires_at = r.now.plus_secs(u64::from(w.expires));
        if let Some(slot) = w.existing {
            // The stored Contact text (the key) stays: the new one is equivalent to it.
            let saved = self.modify(slot, |b| {
                b.q_milli = w.q_milli;
                b.expires_at = expires_at;
                // Most refreshes repeat the Call-ID and User-Agent: keep the allocations.
                if &*b.call_id != r.call_id {
                    b.call_id = r.call_id.into();
                }
                b.cseq = r.cseq;
                b.path.clone_from(&r.path);
                if b.user_agent != r.user_agent {
                    b.user_agent.clone_from(&r.user_agent);
                }
                b.instance_id = w.instance_id;
                b.reg_id = w.reg_id;
                // The phone may have moved (new NAT binding, new connection).
                b.flow = r.flow;
                b.refreshed_at = r.now;
                b.reachability = Reachability::Reachable;
                b.last_seen = r.now;
                b.qualify.failures = 0;
                // It just talked to us: the next qualify is one interval from now, unless one
                // is in flight (its result reschedules).
                if !b.qualify.in_flight && is_sip_contact(&b.contact) {
                    b.qualify.interval_from = Some(r.now);
                }
                b.clone()
            })?;
            return Some(BindingChange::Saved(saved));
        }
        let binding = Binding {
            aor: aor.into(),
            qualify: QualifyState::starting(&w.text, r.now),
            contact: w.text.into_boxed_str(),
            q_milli: w.q_milli,
            expires_at,
            call_id: r.call_id.into(),
            cseq: r.cseq,
            path: r.path.clone(),
            user_agent: r.user_agent.clone(),
            instance_id: w.instance_id,
            reg_id: w.reg_id,
            flow: r.flow,
            registered_at: r.now,
            refreshed_at: r.now,
            // It just reached us; qualify will tell if we can reach it.
            reachability: Reachability::Reachable,
            last_seen: r.now,
        };
        let saved = binding.clone();
        self.insert(binding);
        Some(BindingChange::Saved(saved))
    }
}

/// §10.3 step 7: with the same Call-ID, a CSeq not higher than the stored one is out of
/// order (a retransmission or a delayed request) and the whole update fails with 500.
fn check_order(binding: &Binding, call_id: &str, cseq: u32) -> Result<(), RegisterReply> {
    if &*binding.call_id == call_id && cseq <= binding.cseq {
        return Err(RegisterReply::refusal(500, "Out of order CSeq"));
    }
    Ok(())
}

/// Whether a stored Contact names the same binding as a requested one (RFC 3261 §19.1.4).
fn same_contact(stored: &str, text: &str, uri: &Uri) -> bool {
    // The usual refresh repeats the Contact byte for byte: no parse needed.
    if stored == text {
        return true;
    }
    Uri::parse(stored).is_ok_and(|stored| uri_equivalent(&stored, uri))
}
