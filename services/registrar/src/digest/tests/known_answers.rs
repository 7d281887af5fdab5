//! Known-answer vectors from RFC 2617 §3.5 and RFC 7616 §3.9.1.

use super::*;

#[test]
fn rfc2617_section_3_5_md5_example() {
    let ha1 = ha1(
        DigestAlgorithm::Md5,
        "Mufasa",
        "testrealm@host.com",
        "Circle Of Life",
    );
    let response = ResponseInput {
        algorithm: DigestAlgorithm::Md5,
        ha1: &ha1,
        method: "GET",
        digest_uri: "/dir/index.html",
        nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093",
        nc: 1,
        cnonce: "0a4f113b",
        qop: "auth",
    };
    assert_eq!(response.digest(), "6629fae49393a05397450978507c4ef1");
}

fn rfc7616_example(algorithm: DigestAlgorithm) -> String {
    let ha1 = ha1(
        algorithm,
        "Mufasa",
        "http-auth@example.org",
        "Circle of Life",
    );
    ResponseInput {
        algorithm,
        ha1: &ha1,
        method: "GET",
        digest_uri: "/dir/index.html",
        nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
        nc: 1,
        cnonce: "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
        qop: "auth",
    }
    .digest()
}

#[test]
fn rfc7616_section_3_9_1_sha256_example() {
    assert_eq!(
        rfc7616_example(DigestAlgorithm::Sha256),
        "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
    );
}

#[test]
fn rfc7616_section_3_9_1_md5_example() {
    assert_eq!(
        rfc7616_example(DigestAlgorithm::Md5),
        "8ca523f5e9506fed4657c9700eebdbec"
    );
}

#[test]
fn rfc7616_credentials_parse_but_their_nonce_is_foreign() {
    let mut auth = DigestAuthenticator::new(DigestConfig {
        realm: "http-auth@example.org".to_owned(),
        ..config(vec![DigestAlgorithm::Sha256, DigestAlgorithm::Md5])
    });
    let line = "Digest username=\"Mufasa\", realm=\"http-auth@example.org\", \
        uri=\"/dir/index.html\", algorithm=SHA-256, \
        nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", nc=00000001, \
        cnonce=\"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ\", qop=auth, \
        response=\"753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1\", \
        opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"";
    let Ok(Some(c)) = credentials_of(&auth, line) else {
        panic!("RFC 7616 credentials should parse");
    };
    assert_eq!(c.username, "Mufasa");
    assert_eq!(c.algorithm, DigestAlgorithm::Sha256);
    assert_eq!(c.nc, Some(1));
    assert_eq!(c.qop.as_deref(), Some("auth"));
    assert_eq!(
        c.opaque.as_deref(),
        Some("FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS")
    );
    let ha1 = Ha1Set::from_password("Mufasa", "http-auth@example.org", "Circle of Life");
    let get = Method::from_token("GET");
    assert_eq!(auth.verify(&get, &c, &ha1, T0), Verification::ForeignNonce);
}

#[test]
fn ha1_set_holds_both_hashes_of_the_password() {
    let set = Ha1Set::from_password("Mufasa", "testrealm@host.com", "Circle Of Life");
    // RFC 2617 §3.5's HA1 (the MD5 of "Mufasa:testrealm@host.com:Circle Of Life").
    assert_eq!(set.md5, "939e7578ed9e3c518a452acee763bce9");
    assert_eq!(set.sha256.len(), 64);
    assert!(
        set.sha256
            .bytes()
            .all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
    );
}
