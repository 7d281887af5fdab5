//! Reading Authorization headers: which one is ours, and what is malformed.

use super::*;

#[test]
fn a_request_without_authorization_has_no_credentials() {
    assert_eq!(authenticator().credentials(&register(&[])), Ok(None));
}

#[test]
fn rfc4475_regaut01_unknown_scheme_has_no_credentials() {
    let bytes =
        include_bytes!("../../../../sip/testdata/conformance/rfc4475/messages/regaut01.dat");
    let request = match sip::parse_message(bytes.to_vec().into()) {
        Ok(SipMessage::Request(r)) => r,
        other => panic!("regaut01 should parse: {other:?}"),
    };
    assert_eq!(authenticator().credentials(&request), Ok(None));
}

#[test]
fn credentials_for_another_realm_are_not_ours() {
    let line = "Digest username=\"alice\", realm=\"elsewhere\", nonce=\"n\", uri=\"sip:x\", \
                response=\"6629fae49393a05397450978507c4ef1\"";
    assert_eq!(credentials_of(&authenticator(), line), Ok(None));
}

#[test]
fn our_realm_is_picked_among_several_authorization_headers() {
    let auth = authenticator();
    let client = Client::answering(
        nonce_of(&auth.challenges(T0, false)[0]),
        DigestAlgorithm::Md5,
    );
    let other_realm = "Digest username=\"bob\", realm=\"elsewhere\", nonce=\"n\", uri=\"sip:x\", \
                       response=\"6629fae49393a05397450978507c4ef1\"";
    let request = register(&[
        "NoOneKnowsThisScheme opaque-data=here",
        other_realm,
        &client.header(),
    ]);
    match auth.credentials(&request) {
        Ok(Some(c)) => assert_eq!((c.username.as_str(), c.realm.as_str()), ("alice", REALM)),
        other => panic!("expected alice's credentials: {other:?}"),
    }
}

#[test]
fn the_scheme_is_matched_case_insensitively() {
    let auth = authenticator();
    let client = Client::answering(
        nonce_of(&auth.challenges(T0, false)[0]),
        DigestAlgorithm::Md5,
    );
    let line = client.header().replacen("Digest", "dIGEST", 1);
    assert!(matches!(credentials_of(&auth, &line), Ok(Some(_))));
}

#[test]
fn credentials_without_a_realm_are_an_error() {
    let line = "Digest username=\"alice\", nonce=\"n\", uri=\"sip:x\", response=\"00\"";
    assert_eq!(
        credentials_of(&authenticator(), line),
        Err(DigestError::Missing("realm"))
    );
}

#[test]
fn each_required_parameter_is_reported_when_missing() {
    let auth = authenticator();
    let full = [
        ("username", "username=\"alice\""),
        ("nonce", "nonce=\"abc\""),
        ("uri", "uri=\"sip:switchboard.example\""),
        ("response", "response=\"6629fae49393a05397450978507c4ef1\""),
    ];
    for (missing, _) in full {
        let params: Vec<&str> = full
            .iter()
            .filter(|(name, _)| *name != missing)
            .map(|(_, p)| *p)
            .collect();
        let line = format!("Digest realm=\"{REALM}\", {}", params.join(", "));
        assert_eq!(
            credentials_of(&auth, &line),
            Err(DigestError::Missing(missing)),
            "{line}"
        );
    }
}

fn alice_line(extra: &str) -> String {
    format!(
        "Digest username=\"alice\", realm=\"{REALM}\", nonce=\"abc\", uri=\"sip:x\", \
         response=\"6629fae49393a05397450978507c4ef1\"{extra}"
    )
}

#[test]
fn the_algorithm_defaults_to_md5_and_is_case_insensitive() {
    let auth = authenticator();
    let Ok(Some(c)) = credentials_of(&auth, &alice_line("")) else {
        panic!("should parse");
    };
    assert_eq!(c.algorithm, DigestAlgorithm::Md5);
    let Ok(Some(c)) = credentials_of(&auth, &alice_line(", algorithm=md5")) else {
        panic!("should parse");
    };
    assert_eq!(c.algorithm, DigestAlgorithm::Md5);
}

#[test]
fn sess_and_unknown_algorithms_are_unsupported() {
    let auth = authenticator();
    for algorithm in ["MD5-sess", "SHA-256-sess", "SHA-512-256", "AKAv1-MD5"] {
        assert_eq!(
            credentials_of(&auth, &alice_line(&format!(", algorithm={algorithm}"))),
            Err(DigestError::UnsupportedAlgorithm(algorithm.to_owned()))
        );
    }
}

#[test]
fn an_algorithm_we_did_not_offer_is_unsupported() {
    let auth = DigestAuthenticator::new(config(vec![DigestAlgorithm::Sha256]));
    assert_eq!(
        credentials_of(&auth, &alice_line("")),
        Err(DigestError::UnsupportedAlgorithm("MD5".to_owned()))
    );
}

#[test]
fn nc_must_be_eight_hex_digits() {
    let auth = authenticator();
    for nc in ["1", "0000000g", "000000001", "\"\""] {
        assert!(
            matches!(
                credentials_of(&auth, &alice_line(&format!(", nc={nc}"))),
                Err(DigestError::Invalid { name: "nc", .. })
            ),
            "nc={nc}"
        );
    }
    let Ok(Some(c)) = credentials_of(&auth, &alice_line(", nc=0000001f")) else {
        panic!("should parse");
    };
    assert_eq!(c.nc, Some(31));
}

#[test]
fn a_response_of_the_wrong_length_is_invalid() {
    let auth = authenticator();
    // 32 hex digits is an MD5 length, not SHA-256's.
    assert!(matches!(
        credentials_of(&auth, &alice_line(", algorithm=SHA-256")),
        Err(DigestError::Invalid {
            name: "response",
            ..
        })
    ));
    let line = format!(
        "Digest username=\"alice\", realm=\"{REALM}\", nonce=\"abc\", uri=\"sip:x\", response=\"xyz\""
    );
    assert!(matches!(
        credentials_of(&auth, &line),
        Err(DigestError::Invalid {
            name: "response",
            ..
        })
    ));
}
