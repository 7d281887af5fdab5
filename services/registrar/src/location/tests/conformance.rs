//! RFC 4475 registrar cases, from the sip crate's conformance data: each message is parsed with
//! `sip::parse_message`, registered, and the 200 is serialized and parsed back the way the
//! phone would read it.

use std::path::PathBuf;

use sip::{Response, SipMessage};

use super::*;

fn torture(file: &str) -> Request {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../sip/testdata/conformance/rfc4475/messages")
        .join(file);
    let bytes = std::fs::read(&path).expect("RFC 4475 message is readable");
    match sip::parse_message(bytes.into()) {
        Ok(SipMessage::Request(r)) => r,
        other => panic!("{file} does not parse as a request: {other:?}"),
    }
}

/// Registers a torture REGISTER and returns the binding stored and the 200 as the phone
/// parses it.
fn register_torture(file: &str) -> (Binding, Response) {
    let request = torture(file);
    let aor = address_of_record(&request).expect("a sip To with a user part");
    let mut loc = LocationService::new();
    let out = loc.register(&aor, &request, udp("192.0.2.21:5060"), &policy(), at(0));
    assert_eq!(out.reply.status, 200, "{file}: {:?}", out.reply);
    let stored = saved(&out.changes);
    assert_eq!(stored.len(), 1, "{file}");
    let mut response = Response::from_request(&request, 200, Some("reg"));
    for h in out.reply.headers {
        response.headers.push(h);
    }
    let echoed = match sip::parse_message(response.to_bytes()) {
        Ok(SipMessage::Response(r)) => r,
        other => panic!("{file}: our 200 does not parse: {other:?}"),
    };
    (stored[0].clone(), echoed)
}

#[test]
fn cparam01_unknown_contact_parameter_stays_out_of_the_uri() {
    // `Contact: sip:+19725552222@gw1.example.net;unknownparam` without <>: the parameter is
    // a contact parameter, not part of the URI.
    let (binding, response) = register_torture("cparam01.dat");
    assert_eq!(&*binding.aor, "watson");
    assert_eq!(&*binding.contact, "sip:+19725552222@gw1.example.net");
    let contacts: Vec<_> = response.headers.contacts().collect();
    assert_eq!(contacts.len(), 1);
    let uri = contacts[0].uri.as_sip().expect("a sip URI");
    assert!(!uri.params.contains("unknownparam"), "not a URI parameter");
    assert_eq!(contacts[0].expires(), Some(600));
}

#[test]
fn cparam02_uri_parameter_is_kept_in_the_binding() {
    let (binding, response) = register_torture("cparam02.dat");
    assert_eq!(
        &*binding.contact,
        "sip:+19725552222@gw1.example.net;unknownparam"
    );
    let contacts: Vec<_> = response.headers.contacts().collect();
    let uri = contacts[0].uri.as_sip().expect("a sip URI");
    assert!(uri.params.contains("unknownparam"), "still a URI parameter");
    assert!(!contacts[0].params.contains("unknownparam"));
    assert_eq!(contacts[0].expires(), Some(600));
}

#[test]
fn regescrt_escaped_route_header_is_kept_in_the_contact_uri() {
    let (binding, response) = register_torture("regescrt.dat");
    assert_eq!(&*binding.aor, "user");
    assert_eq!(
        &*binding.contact,
        "sip:user@example.com?Route=%3Csip:sip.example.com%3E"
    );
    let contacts: Vec<_> = response.headers.contacts().collect();
    let uri = contacts[0].uri.as_sip().expect("a sip URI");
    assert_eq!(uri.headers.len(), 1);
    assert_eq!(&*uri.headers[0].name, "Route");
    assert_eq!(&*uri.headers[0].value, "%3Csip:sip.example.com%3E");
}

#[test]
fn unksm2_non_sip_to_is_refused_with_400_naming_the_scheme() {
    let request = torture("unksm2.dat");
    let reply = address_of_record(&request).expect_err("isbn: is no address-of-record");
    assert_eq!(reply.status, 400);
    assert!(
        reply.reason.as_deref().is_some_and(|r| r.contains("isbn")),
        "{reply:?}"
    );
}
