//! Verdicts on credentials: right, wrong, stale, foreign, replayed, unusable; nonce-count memory.

use super::*;

#[test]
fn sha256_credentials_authenticate() {
    let mut auth = authenticator();
    let client = Client::answering(
        nonce_of(&auth.challenges(T0, false)[0]),
        DigestAlgorithm::Sha256,
    );
    assert_eq!(
        verify_at(&mut auth, &client, T0.plus_secs(1)),
        Verification::Authenticated
    );
}

#[test]
fn md5_credentials_authenticate() {
    let mut auth = authenticator();
    let client = Client::answering(
        nonce_of(&auth.challenges(T0, false)[1]),
        DigestAlgorithm::Md5,
    );
    assert_eq!(
        verify_at(&mut auth, &client, T0.plus_secs(1)),
        Verification::Authenticated
    );
}

#[test]
fn a_wrong_password_is_a_wrong_response() {
    let mut auth = authenticator();
    for algorithm in [DigestAlgorithm::Sha256, DigestAlgorithm::Md5] {
        let client = Client {
            password: "guess",
            ..Client::answering(nonce_of(&auth.challenges(T0, false)[0]), algorithm)
        };
        assert_eq!(
            verify_at(&mut auth, &client, T0),
            Verification::WrongResponse
        );
    }
}

#[test]
fn a_response_for_another_uri_or_method_is_wrong() {
    let mut auth = authenticator();
    let nonce = nonce_of(&auth.challenges(T0, false)[0]);
    let client = Client::answering(nonce, DigestAlgorithm::Sha256);
    let mut credentials = client.credentials(&auth);
    assert_eq!(
        auth.verify(&Method::Invite, &credentials, &alice(), T0),
        Verification::WrongResponse
    );
    credentials.uri = "sip:elsewhere.example".to_owned();
    assert_eq!(
        auth.verify(&Method::Register, &credentials, &alice(), T0),
        Verification::WrongResponse
    );
}

#[test]
fn the_response_compares_case_insensitively() {
    let mut auth = authenticator();
    let client = Client::answering(
        nonce_of(&auth.challenges(T0, false)[0]),
        DigestAlgorithm::Sha256,
    );
    let mut credentials = client.credentials(&auth);
    credentials.response = credentials.response.to_ascii_uppercase();
    assert_eq!(
        auth.verify(&Method::Register, &credentials, &alice(), T0),
        Verification::Authenticated
    );
}

#[test]
fn a_client_that_hashes_nc_in_upper_case_is_accepted() {
    let mut auth = authenticator();
    let nonce = nonce_of(&auth.challenges(T0, false)[1]);
    let client = Client {
        nc: 0xab,
        ..Client::answering(nonce, DigestAlgorithm::Md5)
    };
    let mut credentials = client.credentials(&auth);
    credentials.response = ResponseInput {
        algorithm: DigestAlgorithm::Md5,
        ha1: &alice().md5,
        method: "REGISTER",
        digest_uri: client.uri,
        nonce: &client.nonce,
        nc: 0xab,
        cnonce: "0a4f113b",
        qop: "auth",
    }
    .digest_with_nc("000000AB");
    assert_eq!(
        auth.verify(&Method::Register, &credentials, &alice(), T0),
        Verification::Authenticated
    );
}

#[test]
fn a_nonce_from_another_secret_is_foreign() {
    let other = DigestAuthenticator::new(DigestConfig {
        secret: [0x01; 32],
        ..config(vec![DigestAlgorithm::Sha256])
    });
    let mut auth = authenticator();
    let client = Client::answering(
        nonce_of(&other.challenges(T0, false)[0]),
        DigestAlgorithm::Sha256,
    );
    assert_eq!(
        verify_at(&mut auth, &client, T0),
        Verification::ForeignNonce
    );
}

#[test]
fn an_undecodable_nonce_is_foreign() {
    let mut auth = authenticator();
    for nonce in ["", "abc", "dcd98b7102dd2f0e8b11d0f600bfb0c093"] {
        let client = Client::answering(nonce.to_owned(), DigestAlgorithm::Sha256);
        assert_eq!(
            verify_at(&mut auth, &client, T0),
            Verification::ForeignNonce
        );
    }
}

#[test]
fn a_nonce_is_live_for_its_lifetime_then_stale() {
    let mut auth = authenticator();
    let nonce = nonce_of(&auth.challenges(T0, false)[0]);
    let mut client = Client::answering(nonce, DigestAlgorithm::Sha256);
    assert_eq!(
        verify_at(&mut auth, &client, T0.plus_ms(LIFETIME_MS)),
        Verification::Authenticated
    );
    client.nc = 2;
    assert_eq!(
        verify_at(&mut auth, &client, T0.plus_ms(LIFETIME_MS + 1)),
        Verification::Stale
    );
}

#[test]
fn an_expired_nonce_with_a_wrong_password_is_wrong_not_stale() {
    let mut auth = authenticator();
    let client = Client {
        password: "guess",
        ..Client::answering(
            nonce_of(&auth.challenges(T0, false)[0]),
            DigestAlgorithm::Sha256,
        )
    };
    assert_eq!(
        verify_at(&mut auth, &client, T0.plus_ms(LIFETIME_MS + 1)),
        Verification::WrongResponse
    );
}

#[test]
fn a_nonce_from_too_far_in_the_future_is_stale() {
    let mut auth = authenticator();
    let nonce = nonce_of(&auth.challenges(T0.plus_secs(60), false)[0]);
    let client = Client::answering(nonce, DigestAlgorithm::Sha256);
    assert_eq!(verify_at(&mut auth, &client, T0), Verification::Stale);
    // A little clock skew between registrars sharing the secret is tolerated.
    let nonce = nonce_of(&auth.challenges(T0.plus_secs(2), false)[0]);
    let client = Client::answering(nonce, DigestAlgorithm::Sha256);
    assert_eq!(
        verify_at(&mut auth, &client, T0),
        Verification::Authenticated
    );
}

#[test]
fn an_increasing_nonce_count_is_accepted() {
    let mut auth = authenticator();
    let mut client = Client::answering(
        nonce_of(&auth.challenges(T0, false)[0]),
        DigestAlgorithm::Sha256,
    );
    for (nc, at) in [(1, 0), (2, 10), (7, 20)] {
        client.nc = nc;
        assert_eq!(
            verify_at(&mut auth, &client, T0.plus_secs(at)),
            Verification::Authenticated,
            "nc={nc}"
        );
    }
}

#[test]
fn a_replayed_request_is_refused() {
    let mut auth = authenticator();
    let mut client = Client::answering(
        nonce_of(&auth.challenges(T0, false)[0]),
        DigestAlgorithm::Sha256,
    );
    client.nc = 5;
    assert_eq!(
        verify_at(&mut auth, &client, T0),
        Verification::Authenticated
    );
    // The very same request again, then an older count.
    assert_eq!(
        verify_at(&mut auth, &client, T0.plus_secs(1)),
        Verification::Replay
    );
    client.nc = 3;
    assert_eq!(
        verify_at(&mut auth, &client, T0.plus_secs(2)),
        Verification::Replay
    );
}

#[test]
fn a_failed_attempt_does_not_advance_the_nonce_count() {
    let mut auth = authenticator();
    let nonce = nonce_of(&auth.challenges(T0, false)[0]);
    let wrong = Client {
        password: "guess",
        nc: 9,
        ..Client::answering(nonce.clone(), DigestAlgorithm::Sha256)
    };
    assert_eq!(
        verify_at(&mut auth, &wrong, T0),
        Verification::WrongResponse
    );
    let right = Client::answering(nonce, DigestAlgorithm::Sha256);
    assert_eq!(
        verify_at(&mut auth, &right, T0),
        Verification::Authenticated
    );
}

#[test]
fn nonce_counts_are_separate_per_nonce() {
    let mut auth = authenticator();
    let first = Client::answering(
        nonce_of(&auth.challenges(T0, false)[0]),
        DigestAlgorithm::Sha256,
    );
    let second = Client::answering(
        nonce_of(&auth.challenges(T0, false)[0]),
        DigestAlgorithm::Sha256,
    );
    assert_eq!(
        verify_at(&mut auth, &first, T0),
        Verification::Authenticated
    );
    assert_eq!(
        verify_at(&mut auth, &second, T0),
        Verification::Authenticated
    );
}

fn usable_credentials(auth: &DigestAuthenticator) -> DigestResponse {
    Client::answering(
        nonce_of(&auth.challenges(T0, false)[0]),
        DigestAlgorithm::Sha256,
    )
    .credentials(auth)
}

#[test]
fn credentials_without_qop_auth_are_unusable() {
    let mut auth = authenticator();
    for qop in [None, Some("auth-int"), Some("token")] {
        let credentials = DigestResponse {
            qop: qop.map(str::to_owned),
            ..usable_credentials(&auth)
        };
        let verdict = auth.verify(&Method::Register, &credentials, &alice(), T0);
        assert!(
            matches!(verdict, Verification::Unusable(_)),
            "qop={qop:?}: {verdict:?}"
        );
    }
}

#[test]
fn qop_auth_without_cnonce_or_nc_is_unusable() {
    let mut auth = authenticator();
    let no_cnonce = DigestResponse {
        cnonce: None,
        ..usable_credentials(&auth)
    };
    let no_nc = DigestResponse {
        nc: None,
        ..usable_credentials(&auth)
    };
    for credentials in [no_cnonce, no_nc] {
        let verdict = auth.verify(&Method::Register, &credentials, &alice(), T0);
        assert!(matches!(verdict, Verification::Unusable(_)), "{verdict:?}");
    }
}

#[test]
fn credentials_for_another_realm_are_unusable() {
    let mut auth = authenticator();
    let credentials = DigestResponse {
        realm: "elsewhere".to_owned(),
        ..usable_credentials(&auth)
    };
    let verdict = auth.verify(&Method::Register, &credentials, &alice(), T0);
    assert_eq!(
        verdict,
        Verification::Unusable(format!("realm \"elsewhere\" is not ours ({REALM:?})"))
    );
}

#[test]
fn purge_forgets_the_counts_of_expired_nonces_only() {
    let mut auth = authenticator();
    let old = Client::answering(
        nonce_of(&auth.challenges(T0, false)[0]),
        DigestAlgorithm::Sha256,
    );
    let later = T0.plus_secs(200);
    let young = Client::answering(
        nonce_of(&auth.challenges(later, false)[0]),
        DigestAlgorithm::Sha256,
    );
    assert_eq!(verify_at(&mut auth, &old, T0), Verification::Authenticated);
    assert_eq!(
        verify_at(&mut auth, &young, later),
        Verification::Authenticated
    );
    assert_eq!(auth.tracked_nonces(), 2);

    auth.purge(T0.plus_ms(LIFETIME_MS));
    assert_eq!(
        auth.tracked_nonces(),
        2,
        "the old nonce is still live at its last instant"
    );
    let after_old_expiry = T0.plus_ms(LIFETIME_MS + 1);
    auth.purge(after_old_expiry);
    assert_eq!(auth.tracked_nonces(), 1);
    // Forgetting its count does not reopen the old nonce: it is stale, not replayable.
    assert_eq!(
        verify_at(&mut auth, &old, after_old_expiry),
        Verification::Stale
    );
    assert_eq!(
        verify_at(&mut auth, &young, after_old_expiry),
        Verification::Replay
    );
}

#[test]
fn the_count_table_evicts_the_oldest_nonce_when_full() {
    let mut auth = authenticator();
    auth.max_tracked = 2;
    let clients: Vec<Client<'_>> = (0..3)
        .map(|k| {
            let nonce = nonce_of(&auth.challenges(T0.plus_secs(k), false)[0]);
            Client::answering(nonce, DigestAlgorithm::Sha256)
        })
        .collect();
    for client in &clients {
        assert_eq!(
            verify_at(&mut auth, client, T0.plus_secs(5)),
            Verification::Authenticated
        );
    }
    assert_eq!(auth.tracked_nonces(), 2);
    // The newest two still remember their counts.
    assert_eq!(
        verify_at(&mut auth, &clients[2], T0.plus_secs(6)),
        Verification::Replay
    );
    assert_eq!(
        verify_at(&mut auth, &clients[1], T0.plus_secs(6)),
        Verification::Replay
    );
}

#[test]
fn debug_output_does_not_show_the_secret() {
    let auth = authenticator();
    let shown = format!("{auth:?}");
    assert!(shown.contains(REALM));
    assert!(!shown.contains("90, 90"), "{shown}");
    assert!(shown.contains("redacted"));
}
