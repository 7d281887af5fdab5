//! NIST JAIN-SIP torture cases: every case parses, or is rejected where `torture.xml` expects an
//! exception. Messages in the XML use LF line endings; they are converted to CRLF first.
//!
//! A full message "parses" when [`parse_message`] accepts it (the NIST parser checks syntax, not
//! the mandatory headers). It is "rejected" when parsing or [`sip::Request::validate`] fails.
//! Where the NIST data contradicts RFC 4475, the later and normative torture RFC wins; those
//! cases are listed in [`RFC4475_OVERRIDES`] with the reason, and checked to stay as listed.

use std::path::PathBuf;

use bytes::Bytes;
use sip::{Header, SipMessage, Uri, parse_message};

/// Cases where the NIST expectation conflicts with RFC 4475; we follow the RFC.
const RFC4475_OVERRIDES: &[(usize, &str)] = &[
    (
        6,
        "RFC 4475 §3.3.2 (unkscm): an unknown Request-URI scheme is valid syntax; the UAS answers 416",
    ),
    (
        13,
        "RFC 4475 §3.1.2.14 (badaspec): spaces inside <> around an addr-spec are invalid",
    ),
    (
        14,
        "RFC 4475 §3.1.2.14 (badaspec): spaces inside <> around an addr-spec are invalid",
    ),
    (
        23,
        "RFC 4475 §3.1.1.2 (intmeth): an extension method in the request line and CSeq is valid",
    ),
    (
        361,
        "the XML copy of RFC 4475 §3.1.1.11 (mpart01) cannot hold its binary signature (XML forbids NUL), so the body is shorter than its Content-Length; the RFC's own file passes",
    ),
    (
        358,
        "the XML copy of RFC 4475 §3.1.1.8 (dblreq) lost the empty line ending the headers; the RFC's own file passes",
    ),
];

#[derive(Debug)]
enum Case {
    Message(String),
    Header(String),
    Url(String),
}

struct TortureCase {
    index: usize,
    description: String,
    case: Case,
    expects_exception: bool,
}

fn load_cases() -> Vec<TortureCase> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/conformance/nist-jsip-torture/torture.xml");
    let text = std::fs::read_to_string(&path).expect("torture.xml is readable");
    // roxmltree does not load external DTDs; the DOCTYPE only names torture.dtd.
    let opts = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..roxmltree::ParsingOptions::default()
    };
    let doc =
        roxmltree::Document::parse_with_options(&text, opts).expect("torture.xml is well-formed");
    doc.descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .enumerate()
        .map(|(index, tc)| {
            let child_text = |name: &str| {
                tc.children()
                    .find(|c| c.has_tag_name(name))
                    .map(|c| c.text().unwrap_or_default().to_string())
            };
            let case = if let Some(m) = child_text("message") {
                Case::Message(m)
            } else if let Some(h) = child_text("sip-header") {
                Case::Header(h)
            } else if let Some(u) = child_text("sip-url") {
                Case::Url(u)
            } else {
                panic!("test case {index} has no message, header or url");
            };
            TortureCase {
                index,
                description: child_text("description")
                    .unwrap_or_default()
                    .trim()
                    .to_string(),
                case,
                expects_exception: tc
                    .children()
                    .any(|c| c.has_tag_name("expect-exception-callback")),
            }
        })
        .collect()
}

/// Converts LF to CRLF and decodes RFC 4475 §2.1 `<hex>..</hex>` notation into bytes.
fn crlf(s: &str) -> Vec<u8> {
    let text = s.replace("\r\n", "\n").replace('\n', "\r\n");
    let mut out = Vec::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(start) = rest.find("<hex>") {
        out.extend_from_slice(&rest.as_bytes()[..start]);
        let after = &rest[start + 5..];
        let end = after.find("</hex>").expect("<hex> is closed");
        let digits: Vec<u8> = after[..end].bytes().filter(u8::is_ascii_hexdigit).collect();
        for pair in digits.chunks(2) {
            let pair = std::str::from_utf8(pair).expect("ASCII hex");
            out.push(
                u8::from_str_radix(pair, 16).unwrap_or_else(|e| panic!("bad <hex> {pair}: {e}")),
            );
        }
        rest = &after[end + 6..];
    }
    out.extend_from_slice(rest.as_bytes());
    out
}

/// Runs the case: `Ok(true)` parsed and valid, `Ok(false)` parsed but fails validation, `Err` did not parse.
fn run(case: &Case) -> Result<bool, String> {
    match case {
        Case::Message(m) => {
            let text = crlf(m.trim_start_matches(['\r', '\n']));
            let msg = parse_message(Bytes::from(text)).map_err(|e| e.to_string())?;
            Ok(match &msg {
                SipMessage::Request(r) => r.validate().is_ok(),
                SipMessage::Response(_) => msg.validate().is_ok(),
            })
        }
        // One header, possibly folded over several lines.
        Case::Header(h) => Header::parse(&crlf(h.trim()))
            .map(|_| true)
            .map_err(|e| e.to_string()),
        Case::Url(u) => Uri::parse(u.trim())
            .map(|_| true)
            .map_err(|e| e.to_string()),
    }
}

#[test]
fn every_case_parses_or_is_rejected_as_torture_xml_says() {
    let cases = load_cases();
    assert_eq!(cases.len(), 400, "torture.xml holds 400 cases");
    let mut failures = Vec::new();
    for c in &cases {
        let result = run(&c.case);
        let agrees = match (&result, c.expects_exception) {
            (Ok(_), false) => true,
            (Ok(valid), true) => !valid,
            (Err(_), true) => true,
            (Err(_), false) => false,
        };
        let overridden = RFC4475_OVERRIDES.iter().any(|(k, _)| *k == c.index);
        if agrees == overridden {
            failures.push(format!(
                "case {} ({}): expects exception {}, got {:?}; listed as RFC 4475 override: {overridden}\n  {:?}",
                c.index, c.description, c.expects_exception, result, c.case
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} NIST cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

#[test]
fn case_counts_match_the_readme() {
    let cases = load_cases();
    let messages = cases
        .iter()
        .filter(|c| matches!(c.case, Case::Message(_)))
        .count();
    let headers = cases
        .iter()
        .filter(|c| matches!(c.case, Case::Header(_)))
        .count();
    let urls = cases
        .iter()
        .filter(|c| matches!(c.case, Case::Url(_)))
        .count();
    let rejects = cases.iter().filter(|c| c.expects_exception).count();
    assert_eq!((messages, headers, urls, rejects), (374, 16, 10, 33));
}
