//! RFC 4475 torture messages: every message meets the expectation in MANIFEST.tsv.
//!
//! VALID: parses and passes validation. INVALID: parsing or validation fails (the server answers
//! 400 or drops). INVALID-FRAMING: parsing fails with a framing error. VALID-SYNTAX: parses;
//! what the server answers is checked end to end. UNSPECIFIED: must not panic.

use std::path::PathBuf;

use bytes::Bytes;
use sip::{ParseErrorKind, SipMessage, parse_message};

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/conformance/rfc4475")
}

fn manifest() -> Vec<(String, String)> {
    let text =
        std::fs::read_to_string(data_dir().join("MANIFEST.tsv")).expect("MANIFEST.tsv is readable");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            (cols[0].to_string(), cols[3].to_string())
        })
        .collect()
}

fn load(file: &str) -> Bytes {
    Bytes::from(
        std::fs::read(data_dir().join("messages").join(file)).expect("torture message is readable"),
    )
}

#[test]
fn every_manifest_entry_meets_its_expectation() {
    let entries = manifest();
    assert_eq!(
        entries.len(),
        50,
        "MANIFEST lists the 50 messages of RFC 4475"
    );
    let mut failures = Vec::new();
    for (file, expectation) in &entries {
        let parsed = parse_message(load(file));
        let outcome = match (&parsed, expectation.as_str()) {
            (Ok(m), "VALID") => m
                .validate()
                .map_err(|e| format!("valid message failed validation: {e}")),
            (Err(e), "VALID") => Err(format!("valid message failed to parse: {e}")),
            (Ok(m), "INVALID") => match m.validate() {
                Err(_) => Ok(()),
                Ok(()) => Err("invalid message was accepted".to_string()),
            },
            (Err(_), "INVALID") => Ok(()),
            (Err(e), "INVALID-FRAMING") if e.kind == ParseErrorKind::MultipleContentLength => {
                Ok(())
            }
            (other, "INVALID-FRAMING") => Err(format!("expected a framing error, got {other:?}")),
            (Ok(_), e) if e.starts_with("VALID-SYNTAX") => Ok(()),
            (Err(err), e) if e.starts_with("VALID-SYNTAX") => {
                Err(format!("syntactically valid message failed: {err}"))
            }
            (_, "UNSPECIFIED") => Ok(()),
            (_, other) => Err(format!("unknown expectation {other}")),
        };
        if let Err(why) = outcome {
            failures.push(format!("{file} ({expectation}): {why}"));
        }
    }
    assert!(
        failures.is_empty(),
        "RFC 4475 failures:\n{}",
        failures.join("\n")
    );
}

#[test]
fn files_are_intact() {
    // coreutils' sha256sum is on every Debian machine; a missing tool fails the test, loudly.
    let out = std::process::Command::new("sha256sum")
        .args(["--check", "--strict", "../SHA256SUMS"])
        .current_dir(data_dir().join("messages"))
        .output()
        .expect("sha256sum (coreutils) must be installed to check the torture files");
    assert!(
        out.status.success(),
        "RFC 4475 files differ from SHA256SUMS:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).matches(": OK").count(),
        50
    );
}

fn request(file: &str) -> sip::Request {
    match parse_message(load(file)) {
        Ok(SipMessage::Request(r)) => r,
        other => panic!("{file} should parse as a request: {other:?}"),
    }
}

#[test]
fn short_tortuous_invite_is_read_correctly() {
    let r = request("wsinv.dat");
    assert_eq!(r.method, sip::Method::Invite);
    let vias: Vec<_> = r.headers.vias().collect();
    assert_eq!(vias.len(), 3);
    assert_eq!(vias[0].branch(), Some("390skdjuw"));
    assert_eq!(vias[1].transport, sip::Transport::Tcp);
    assert_eq!(vias[1].branch(), Some("z9hG4bK9ikj8"));
    assert_eq!(
        vias[2].host,
        sip::Host::Ipv4("192.168.255.111".parse().expect("ip"))
    );
    assert_eq!(vias[2].branch(), Some("z9hG4bK30239"));
    assert_eq!(r.headers.from().and_then(|f| f.tag()), Some("98asjd8"));
    assert_eq!(
        r.headers.other("NewFangledHeader").map(|v| v.as_ref()),
        Some(&b"newfangled value\r\n continued newfangled value"[..]),
        "unknown headers are kept byte for byte, folding included"
    );
    assert_eq!(
        r.headers
            .other("UnknownHeaderWithUnusualValue")
            .map(|v| v.as_ref()),
        Some(&b";;,,;;,;"[..])
    );
    assert_eq!(r.headers.routes().count(), 1);
    assert_eq!(r.headers.to().and_then(|t| t.tag()), Some("1918181833n"));
    assert_eq!(
        r.headers
            .from()
            .and_then(|f| f.display_name_text())
            .as_deref(),
        Some("J Rosenberg \\\"")
    );
    assert_eq!(r.headers.cseq().map(|c| c.seq), Some(9));
    assert_eq!(r.headers.max_forwards(), Some(68));
    assert_eq!(r.headers.content_length(), Some(150));
    assert_eq!(r.body.len(), 150);
}

#[test]
fn extra_octets_after_content_length_are_ignored_in_a_datagram() {
    let r = request("dblreq.dat");
    assert_eq!(r.method, sip::Method::Register);
    assert!(r.body.is_empty());
}

#[test]
fn escaped_method_is_an_unknown_method_not_register() {
    let r = request("esc02.dat");
    assert_eq!(r.method.as_str(), "RE%47IST%45R");
}

#[test]
fn semicolon_user_part_and_escapes_are_kept() {
    let r = request("semiuri.dat");
    let uri = r.uri.as_sip().expect("sip URI");
    assert_eq!(uri.user.as_deref(), Some("user;par=u%40example.net"));
    assert_eq!(uri.host, sip::Host::Domain("example.com".into()));
    let r = request("escnull.dat");
    let to = r.headers.to().expect("To");
    assert_eq!(
        to.uri.as_sip().and_then(|u| u.user_decoded()),
        Some(b"null-\0-null".to_vec())
    );
}

#[test]
fn contact_parameters_are_told_apart_from_uri_parameters() {
    let r = request("cparam01.dat");
    let c: Vec<_> = r.headers.contacts().collect();
    assert!(
        c[0].params.contains("unknownparam"),
        "cparam01: header parameter"
    );
    let r = request("cparam02.dat");
    let c: Vec<_> = r.headers.contacts().collect();
    let uri = c[0].uri.as_sip().expect("sip contact");
    assert!(
        uri.params.contains("unknownparam"),
        "cparam02: URI parameter"
    );
    let r = request("regescrt.dat");
    let c: Vec<_> = r.headers.contacts().collect();
    let uri = c[0].uri.as_sip().expect("sip contact");
    assert_eq!(uri.headers.len(), 1);
    assert_eq!(&*uri.headers[0].name, "Route");
}

#[test]
fn unusual_reason_phrases_are_kept() {
    match parse_message(load("unreason.dat")) {
        Ok(SipMessage::Response(r)) => {
            assert_eq!(r.status, 200);
            assert!(r.reason.contains("сто девяносто девять"));
        }
        other => panic!("unreason.dat: {other:?}"),
    }
    match parse_message(load("noreason.dat")) {
        Ok(SipMessage::Response(r)) => assert_eq!((r.status, &*r.reason), (100, "")),
        other => panic!("noreason.dat: {other:?}"),
    }
}

#[test]
fn rfc2543_request_without_branch_parses() {
    let r = request("inv2543.dat");
    let via = r.headers.top_via().expect("Via");
    assert!(via.branch().is_none());
    assert!(r.headers.from().and_then(|f| f.tag()).is_none());
    assert!(
        !r.body.is_empty(),
        "without Content-Length the rest of the datagram is the body"
    );
}

#[test]
fn overlarge_scalars_are_out_of_range_errors() {
    for file in ["scalar02.dat", "scalarlg.dat"] {
        let err = parse_message(load(file)).expect_err("overlarge values are rejected");
        assert!(
            matches!(err.kind, ParseErrorKind::OutOfRange(_)),
            "{file}: {err}"
        );
    }
}

#[test]
fn parse_errors_point_at_the_offending_byte() {
    let data = load("ltgtruri.dat");
    let err = parse_message(data.clone()).expect_err("<> around Request-URI is invalid");
    assert_eq!(err.offset, 7, "offset of '<' in 'INVITE <sip:…'");
    assert_eq!(data[err.offset], b'<');
    let data = load("quotbal.dat");
    let err = parse_message(data.clone()).expect_err("unterminated quote");
    assert!(err.to_string().contains("closing quote"), "{err}");
}
