//! Property: `parse(serialize(m)) == m` for generated requests and responses.

use bytes::Bytes;
use proptest::prelude::*;
use sip::{
    AuthValue, CSeq, Contact, Header, HeaderName, Headers, Host, MediaType, Method, NameAddr,
    Param, Params, Request, Response, SipMessage, SipScheme, SipUri, TokenWithParams, Transport,
    Uri, Via, Warning, parse_message,
};

fn token() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9][a-zA-Z0-9.!%*_+`'~-]{0,11}"
}

fn domain() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9-]{0,8}(\\.[a-z][a-z0-9]{0,6}){0,3}"
}

fn host() -> impl Strategy<Value = Host> {
    prop_oneof![
        domain().prop_map(|d| Host::Domain(d.into())),
        any::<[u8; 4]>().prop_map(|a| Host::Ipv4(a.into())),
        any::<[u16; 8]>().prop_map(|a| Host::Ipv6(a.into())),
    ]
}

fn params(max: usize) -> impl Strategy<Value = Params> {
    prop::collection::vec(
        (
            "[a-z][a-z0-9-]{0,6}",
            prop::option::of("[a-zA-Z0-9.-]{1,8}"),
        ),
        0..max,
    )
    .prop_map(|v| {
        let mut seen = std::collections::HashSet::new();
        Params(
            v.into_iter()
                .filter(|(n, _)| seen.insert(n.clone()))
                .map(|(n, v)| Param::new(n.as_str(), v.as_deref()))
                .collect(),
        )
    })
}

fn sip_uri() -> impl Strategy<Value = SipUri> {
    (
        any::<bool>(),
        prop::option::of("[a-zA-Z0-9_.!~*'()&=+$,;?/-]{1,10}|%[0-9A-F]{2}x"),
        host(),
        prop::option::of(any::<u16>()),
        params(3),
    )
        .prop_map(|(secure, user, host, port, params)| SipUri {
            scheme: if secure {
                SipScheme::Sips
            } else {
                SipScheme::Sip
            },
            user: user.map(Into::into),
            password: None,
            host,
            port,
            params,
            headers: Vec::new(),
        })
}

fn uri() -> impl Strategy<Value = Uri> {
    prop_oneof![
        4 => sip_uri().prop_map(Uri::Sip),
        1 => ("\\+[0-9]{4,12}", params(2)).prop_map(|(n, p)| Uri::Tel(sip::TelUri { number: n.into(), params: p })),
        1 => ("urn", "[a-z0-9:.-]{1,12}").prop_map(|(s, r)| Uri::Other { scheme: s.into(), rest: format!("x{r}").into() }),
    ]
}

fn name_addr() -> impl Strategy<Value = NameAddr> {
    let display = prop_oneof![
        Just(None),
        "[A-Za-z]{1,8}( [A-Za-z]{1,8})?".prop_map(Some),
        "\"[A-Za-z ,<>@;]{0,12}\"".prop_map(Some),
    ];
    (display, uri(), params(3)).prop_map(|(d, uri, params)| NameAddr {
        display_name: d.map(Into::into),
        uri,
        params,
    })
}

fn via() -> impl Strategy<Value = Via> {
    let transport = prop_oneof![
        Just(Transport::Udp),
        Just(Transport::Tcp),
        Just(Transport::Tls),
        Just(Transport::Ws),
        "X[A-Z]{1,4}".prop_map(|t| Transport::Other(t.into())),
    ];
    (
        transport,
        host(),
        prop::option::of(any::<u16>()),
        "[a-zA-Z0-9]{1,12}",
        params(2),
    )
        .prop_map(|(t, h, p, branch, extra)| {
            let mut v = Via::new(t, h, p, &format!("z9hG4bK{branch}"));
            for param in extra.0 {
                if param.name.eq_ignore_ascii_case("branch")
                    || param.name.eq_ignore_ascii_case("ttl")
                    || param.name.eq_ignore_ascii_case("rport")
                {
                    continue;
                }
                v.params.set(&param.name, param.value.as_deref());
            }
            v
        })
}

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        Just(Method::Invite),
        Just(Method::Ack),
        Just(Method::Options),
        Just(Method::Bye),
        Just(Method::Register),
        Just(Method::Refer),
        "X[A-Z]{1,8}".prop_map(|m| Method::from_token(&m)),
    ]
}

fn tags() -> impl Strategy<Value = Vec<bytestring::ByteString>> {
    prop::collection::vec(token().prop_map(Into::into), 1..4)
}

fn optional_header() -> impl Strategy<Value = Header> {
    prop_oneof![
        prop::collection::vec(
            name_addr().prop_map(|mut a| {
                a.params.remove("expires");
                a.params.remove("q");
                a
            }),
            1..3
        )
        .prop_map(|v| Header::Contact(Contact::Addresses(v))),
        Just(Header::Contact(Contact::Star)),
        prop::collection::vec(sip_uri().prop_map(|u| NameAddr::new(Uri::Sip(u))), 1..3)
            .prop_map(Header::Route),
        prop::collection::vec(sip_uri().prop_map(|u| NameAddr::new(Uri::Sip(u))), 1..3)
            .prop_map(Header::RecordRoute),
        any::<u32>().prop_map(Header::Expires),
        any::<u32>().prop_map(Header::MinExpires),
        prop::collection::vec(method(), 0..4).prop_map(Header::Allow),
        tags().prop_map(Header::Supported),
        tags().prop_map(Header::Require),
        tags().prop_map(Header::Unsupported),
        prop::collection::vec(
            (token(), token()).prop_map(|(a, b)| MediaType::new(&a, &b)),
            0..3
        )
        .prop_map(Header::Accept),
        (
            token(),
            prop::collection::vec(
                (
                    "[a-z]{1,8}",
                    prop_oneof!["[a-zA-Z0-9]{1,8}", "\"[a-zA-Z0-9 ,=]{0,10}\""]
                ),
                1..4
            )
        )
            .prop_map(|(scheme, ps)| Header::Authorization(AuthValue {
                scheme: scheme.into(),
                params: ps
                    .into_iter()
                    .map(|(n, v)| Param::new(n.as_str(), Some(v.as_str())))
                    .collect(),
            })),
        (token(), params(2)).prop_map(|(t, p)| Header::Event(TokenWithParams {
            value: t.into(),
            params: p
        })),
        prop::collection::vec((100u16..1000, domain(), "\"[a-zA-Z0-9 ]{0,12}\""), 1..3).prop_map(
            |v| {
                Header::Warning(
                    v.into_iter()
                        .map(|(code, agent, text)| Warning {
                            code,
                            agent: agent.into(),
                            text: text.into(),
                        })
                        .collect(),
                )
            }
        ),
        "[ -~]{0,20}[!-~]".prop_map(|s| Header::UserAgent(s.trim_start().to_string().into())),
        ("X-[A-Za-z0-9-]{1,10}", "[!-~]([ -~]{0,20}[!-~])?").prop_map(|(n, v)| Header::Other {
            name: HeaderName::new(&n),
            value: Bytes::from(v)
        }),
        "[!-~]([ -~]{0,20}[!-~])?".prop_map(|v| Header::Other {
            name: HeaderName::Subject,
            value: Bytes::from(v)
        }),
    ]
}

fn headers(method: Method) -> impl Strategy<Value = (Headers, Bytes)> {
    (
        prop::collection::vec(via(), 1..4),
        name_addr(),
        name_addr(),
        "[a-zA-Z0-9.!%*_+`'~()<>:\\\\\"/\\[\\]?{}-]{1,20}(@[a-z0-9.]{1,10})?",
        0u32..(1 << 31),
        any::<u8>(),
        prop::collection::vec(optional_header(), 0..6),
        prop::collection::vec(any::<u8>(), 0..64),
    )
        .prop_map(move |(vias, from, to, call_id, seq, mf, extra, body)| {
            let mut h = Headers::new();
            h.push(Header::Via(vias));
            h.push(Header::From(from));
            h.push(Header::To(to));
            h.push(Header::CallId(call_id.into()));
            h.push(Header::CSeq(CSeq {
                seq,
                method: method.clone(),
            }));
            h.push(Header::MaxForwards(mf));
            for x in extra {
                h.push(x);
            }
            if !body.is_empty() {
                h.push(Header::ContentType(MediaType::new("application", "sdp")));
            }
            h.push(Header::ContentLength(body.len() as u32));
            (h, Bytes::from(body))
        })
}

fn request() -> impl Strategy<Value = SipMessage> {
    (method(), uri()).prop_flat_map(|(m, u)| {
        headers(m.clone()).prop_map(move |(headers, body)| {
            SipMessage::Request(Request {
                method: m.clone(),
                uri: u.clone(),
                headers,
                body,
            })
        })
    })
}

fn response() -> impl Strategy<Value = SipMessage> {
    (100u16..700, "[a-zA-Z0-9 ]{0,20}", method()).prop_flat_map(|(status, reason, m)| {
        headers(m).prop_map(move |(headers, body)| {
            SipMessage::Response(Response {
                status,
                reason: reason.clone().into(),
                headers,
                body,
            })
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn serialized_requests_parse_back_to_the_same_message(m in request()) {
        let wire = m.to_bytes();
        let back = parse_message(wire.clone());
        prop_assert_eq!(back.as_ref().ok(), Some(&m), "wire:\n{}\nparse: {:?}", String::from_utf8_lossy(&wire), back.as_ref().err());
    }

    #[test]
    fn serialized_responses_parse_back_to_the_same_message(m in response()) {
        let wire = m.to_bytes();
        let back = parse_message(wire.clone());
        prop_assert_eq!(back.as_ref().ok(), Some(&m), "wire:\n{}\nparse: {:?}", String::from_utf8_lossy(&wire), back.as_ref().err());
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_message(Bytes::from(data));
    }
}
