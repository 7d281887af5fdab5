//! WWW-Authenticate values: what is offered, and that it parses back.

use sip::Header;

use super::*;

#[test]
fn challenges_offer_each_algorithm_in_preference_order_with_one_nonce() {
    let auth = authenticator();
    let challenges = auth.challenges(T0, false);
    assert_eq!(challenges.len(), 2);
    let nonce = nonce_of(&challenges[0]);
    assert_eq!(
        challenges[0].to_string(),
        format!("Digest realm=\"{REALM}\", nonce=\"{nonce}\", algorithm=SHA-256, qop=\"auth\"")
    );
    assert_eq!(
        challenges[1].to_string(),
        format!("Digest realm=\"{REALM}\", nonce=\"{nonce}\", algorithm=MD5, qop=\"auth\"")
    );
    assert!(nonce.bytes().all(|c| c.is_ascii_hexdigit()));
}

#[test]
fn stale_challenges_say_so() {
    let challenges = authenticator().challenges(T0, true);
    assert!(
        challenges
            .iter()
            .all(|c| c.param("stale").as_deref() == Some("true"))
    );
    let fresh = authenticator().challenges(T0, false);
    assert!(fresh.iter().all(|c| c.param("stale").is_none()));
}

#[test]
fn challenges_survive_a_round_trip_through_the_sip_parser() {
    for challenge in authenticator().challenges(T0, true) {
        let line = format!("WWW-Authenticate: {challenge}");
        match Header::parse(line.as_bytes()) {
            Ok(Header::WwwAuthenticate(parsed)) => assert_eq!(parsed, challenge),
            other => panic!("challenge did not parse back: {other:?}"),
        }
    }
}

#[test]
fn a_realm_with_quotes_is_escaped_in_challenges() {
    let auth = DigestAuthenticator::new(DigestConfig {
        realm: "the \"main\" office".to_owned(),
        ..config(vec![DigestAlgorithm::Md5])
    });
    let challenge = &auth.challenges(T0, false)[0];
    assert!(
        challenge
            .to_string()
            .starts_with(r#"Digest realm="the \"main\" office""#)
    );
    assert_eq!(
        challenge.param("realm").as_deref(),
        Some("the \"main\" office")
    );
}

#[test]
fn each_challenge_gets_a_fresh_nonce_even_in_the_same_millisecond() {
    let auth = authenticator();
    assert_ne!(
        nonce_of(&auth.challenges(T0, false)[0]),
        nonce_of(&auth.challenges(T0, false)[0])
    );
}
