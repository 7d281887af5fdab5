//! The slab and its indexes (AOR, flow, expiry, qualify queue) stay consistent whatever
//! sequence of operations runs.

use proptest::prelude::*;

use super::*;

#[derive(Debug, Clone)]
enum Op {
    Register {
        aor: u8,
        contact: u8,
        expires: u32,
        call_id: u8,
        tcp: bool,
        source: u8,
    },
    Star {
        aor: u8,
    },
    Expire,
    QualifyDue,
    QualifyResult {
        aor: u8,
        contact: u8,
        answered: bool,
    },
    FlowAlive {
        tcp: bool,
        source: u8,
    },
    FlowClosed {
        tcp: bool,
        source: u8,
    },
    Restore {
        aor: u8,
        contact: u8,
        expires: u32,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..3u8, 0..4u8, prop::sample::select(vec![0u32, 60, 600, 7200]), 0..2u8, any::<bool>(), 0..3u8)
            .prop_map(|(aor, contact, expires, call_id, tcp, source)| Op::Register {
                aor, contact, expires, call_id, tcp, source
            }),
        1 => (0..3u8).prop_map(|aor| Op::Star { aor }),
        1 => Just(Op::Expire),
        1 => Just(Op::QualifyDue),
        2 => (0..3u8, 0..4u8, any::<bool>())
            .prop_map(|(aor, contact, answered)| Op::QualifyResult { aor, contact, answered }),
        1 => (any::<bool>(), 0..3u8).prop_map(|(tcp, source)| Op::FlowAlive { tcp, source }),
        1 => (any::<bool>(), 0..3u8).prop_map(|(tcp, source)| Op::FlowClosed { tcp, source }),
        1 => (0..3u8, 0..4u8, 0..700u32)
            .prop_map(|(aor, contact, expires)| Op::Restore { aor, contact, expires }),
    ]
}

fn aor_name(aor: u8) -> String {
    format!("user{aor}")
}

fn contact_uri(contact: u8) -> String {
    format!("sip:phone{contact}@198.51.100.{contact}")
}

fn op_flow(tcp: bool, source: u8) -> BindingFlow {
    let transport = if tcp {
        FlowTransport::Tcp
    } else {
        FlowTransport::Udp
    };
    flow(transport, &format!("203.0.113.{source}:5060"))
}

proptest! {
    #[test]
    fn indexes_stay_consistent(
        ops in prop::collection::vec((op(), 0..90u64), 1..80),
        replace_oldest in any::<bool>(),
    ) {
        let mut loc = LocationService::new();
        let reg_policy = RegisterPolicy {
            max_contacts: 2,
            on_contact_limit: if replace_oldest { ContactLimit::ReplaceOldest } else { ContactLimit::Refuse },
            ..policy()
        };
        let q_policy = QualifyPolicy { interval_ms: 30_000, failures_before_unreachable: 2 };
        let mut now = at(0);
        let mut cseq = 0u32;
        for (op, advance) in ops {
            now = now.plus_secs(advance);
            cseq += 1;
            match op {
                Op::Register { aor, contact, expires, call_id, tcp, source } => {
                    let req = register(&format!("call{call_id}"), cseq)
                        .contact(&format!("<{}>;expires={expires}", contact_uri(contact)))
                        .build();
                    let out = loc.register(&aor_name(aor), &req, op_flow(tcp, source), &reg_policy, now);
                    prop_assert!(matches!(out.reply.status, 200 | 403));
                }
                Op::Star { aor } => {
                    let req = register("star", cseq).contact("*").header("Expires: 0").build();
                    let out = loc.register(&aor_name(aor), &req, op_flow(false, 0), &reg_policy, now);
                    prop_assert_eq!(out.reply.status, 200);
                    prop_assert!(loc.lookup(&aor_name(aor), now).is_empty());
                }
                Op::Expire => {
                    for b in loc.expire(now) {
                        prop_assert!(b.expires_at <= now);
                    }
                    prop_assert!(loc.next_expiry().is_none_or(|t| t > now));
                }
                Op::QualifyDue => {
                    let due = loc.qualify_due(&q_policy, now);
                    for target in &due {
                        let b = loc.get_binding(&target.key);
                        prop_assert!(b.is_some_and(|b| b.qualify.in_flight()));
                    }
                    prop_assert!(loc.qualify_due(&q_policy, now).is_empty());
                }
                Op::QualifyResult { aor, contact, answered } => {
                    let key = BindingKey { aor: aor_name(aor).into(), contact: contact_uri(contact).into() };
                    loc.qualify_result(&key, answered, &q_policy, now);
                }
                Op::FlowAlive { tcp, source } => {
                    let f = op_flow(tcp, source);
                    for c in loc.flow_alive(f.transport, f.source, now) {
                        prop_assert_eq!(c.binding.reachability, Reachability::Reachable);
                    }
                }
                Op::FlowClosed { tcp, source } => {
                    let f = op_flow(tcp, source);
                    for c in loc.flow_closed(f.transport, f.source, now) {
                        prop_assert_eq!(c.binding.reachability, Reachability::Unreachable);
                    }
                }
                Op::Restore { aor, contact, expires } => {
                    let binding = Binding {
                        aor: aor_name(aor).into(),
                        contact: contact_uri(contact).into(),
                        q_milli: None,
                        expires_at: now.plus_secs(u64::from(expires)),
                        call_id: "restored".into(),
                        cseq: 1,
                        path: Vec::new(),
                        user_agent: None,
                        instance_id: None,
                        reg_id: None,
                        flow: op_flow(false, aor),
                        registered_at: now,
                        refreshed_at: now,
                        reachability: Reachability::Unknown,
                        last_seen: now,
                        qualify: QualifyState::default(),
                    };
                    prop_assert_eq!(loc.restore(binding, now), expires > 0);
                }
            }
            assert_indexes_consistent(&loc);
            for aor in 0..3 {
                let live = loc.lookup(&aor_name(aor), now);
                prop_assert!(live.iter().all(|b| b.is_live(now)));
            }
        }
    }
}
