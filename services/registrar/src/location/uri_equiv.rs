//! URI equivalence (RFC 3261 §19.1.4 for sip/sips, RFC 3966 §4 for tel): whether a Contact in
//! a REGISTER names a binding that already exists.
//!
//! Escaped and unescaped forms of a character are the same; the user part and password
//! compare case-sensitively, everything else case-insensitively; parameter and header order
//! does not matter. `user`, `ttl`, `method`, `maddr` and `transport` must agree when present
//! in either URI, other parameters only when present in both; URI headers must all agree.

use sip::{Host, Param, Params, SipUri, TelUri, Uri, UriHeader, percent_decode};

/// Parameters that make two URIs differ when only one of them has it.
const SIGNIFICANT_PARAMS: [&str; 5] = ["user", "ttl", "method", "maddr", "transport"];

/// Whether `a` and `b` are equivalent.
pub(super) fn uri_equivalent(a: &Uri, b: &Uri) -> bool {
    match (a, b) {
        (Uri::Sip(a), Uri::Sip(b)) => sip_equivalent(a, b),
        (Uri::Tel(a), Uri::Tel(b)) => tel_equivalent(a, b),
        (
            Uri::Other {
                scheme: sa,
                rest: ra,
            },
            Uri::Other {
                scheme: sb,
                rest: rb,
            },
        ) => sa.eq_ignore_ascii_case(sb) && percent_decode(ra) == percent_decode(rb),
        _ => false,
    }
}

fn sip_equivalent(a: &SipUri, b: &SipUri) -> bool {
    // sip and sips never match; a port written as 5060 differs from no port at all.
    a.scheme == b.scheme
        && decoded_eq(a.user.as_deref(), b.user.as_deref())
        && decoded_eq(a.password.as_deref(), b.password.as_deref())
        && host_eq(&a.host, &b.host)
        && a.port == b.port
        && params_equivalent(&a.params, &b.params)
        && headers_equivalent(&a.headers, &b.headers)
}

/// Case-sensitive comparison after decoding escapes.
fn decoded_eq(a: Option<&str>, b: Option<&str>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => a == b || percent_decode(a) == percent_decode(b),
        _ => false,
    }
}

/// Case-insensitive comparison after decoding escapes.
fn decoded_eq_ignore_case(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b) || percent_decode(a).eq_ignore_ascii_case(&percent_decode(b))
}

/// A host name and an IP address never match, even if one resolves to the other.
fn host_eq(a: &Host, b: &Host) -> bool {
    match (a, b) {
        (Host::Domain(a), Host::Domain(b)) => a.eq_ignore_ascii_case(b),
        (Host::Ipv4(a), Host::Ipv4(b)) => a == b,
        (Host::Ipv6(a), Host::Ipv6(b)) => a == b,
        _ => false,
    }
}

fn find_param<'p>(params: &'p Params, name: &str) -> Option<&'p Param> {
    params
        .iter()
        .find(|p| decoded_eq_ignore_case(&p.name, name))
}

fn param_values_eq(a: &Param, b: &Param) -> bool {
    match (&a.value, &b.value) {
        (None, None) => true,
        (Some(a), Some(b)) => decoded_eq_ignore_case(a, b),
        _ => false,
    }
}

fn params_equivalent(a: &Params, b: &Params) -> bool {
    let significant = |p: &Param| {
        SIGNIFICANT_PARAMS
            .iter()
            .any(|n| decoded_eq_ignore_case(&p.name, n))
    };
    let one_way = |x: &Params, y: &Params| {
        x.iter().all(|p| match find_param(y, &p.name) {
            Some(q) => param_values_eq(p, q),
            None => !significant(p),
        })
    };
    one_way(a, b) && one_way(b, a)
}

fn headers_equivalent(a: &[UriHeader], b: &[UriHeader]) -> bool {
    let contained = |x: &[UriHeader], y: &[UriHeader]| {
        x.iter().all(|h| {
            y.iter().any(|g| {
                decoded_eq_ignore_case(&h.name, &g.name)
                    && decoded_eq_ignore_case(&h.value, &g.value)
            })
        })
    };
    a.len() == b.len() && contained(a, b) && contained(b, a)
}

/// RFC 3966 §4: numbers compare without visual separators; every parameter must agree.
fn tel_equivalent(a: &TelUri, b: &TelUri) -> bool {
    let digits = |n: &str| -> String {
        n.chars()
            .filter(|c| !matches!(c, '-' | '.' | '(' | ')'))
            .map(|c| c.to_ascii_lowercase())
            .collect()
    };
    let contained = |x: &Params, y: &Params| {
        x.iter()
            .all(|p| find_param(y, &p.name).is_some_and(|q| param_values_eq(p, q)))
    };
    digits(&a.number) == digits(&b.number)
        && a.params.0.len() == b.params.0.len()
        && contained(&a.params, &b.params)
        && contained(&b.params, &a.params)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn equivalent(a: &str, b: &str) -> bool {
        let a = Uri::parse(a).expect("test URI parses");
        let b = Uri::parse(b).expect("test URI parses");
        let forward = uri_equivalent(&a, &b);
        assert_eq!(forward, uri_equivalent(&b, &a), "equivalence is symmetric");
        forward
    }

    #[test]
    fn rfc3261_examples_that_are_equivalent() {
        assert!(equivalent(
            "sip:%61lice@atlanta.com;transport=TCP",
            "sip:alice@AtLanTa.CoM;Transport=tcp"
        ));
        assert!(equivalent(
            "sip:carol@chicago.com",
            "sip:carol@chicago.com;newparam=5"
        ));
        assert!(equivalent(
            "sip:carol@chicago.com;security=on",
            "sip:carol@chicago.com;newparam=5"
        ));
        assert!(equivalent(
            "sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
            "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com"
        ));
        assert!(equivalent(
            "sip:alice@atlanta.com?subject=project%20x&priority=urgent",
            "sip:alice@atlanta.com?priority=urgent&subject=project%20x"
        ));
    }

    #[test]
    fn rfc3261_examples_that_differ() {
        // User parts are case-sensitive.
        assert!(!equivalent(
            "SIP:ALICE@AtLanTa.CoM;Transport=udp",
            "sip:alice@AtLanTa.CoM;Transport=UDP"
        ));
        // A host name never matches an address.
        assert!(!equivalent("sip:bob@biloxi.com", "sip:bob@192.0.2.4"));
        // An explicit default port differs from none.
        assert!(!equivalent("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"));
        // transport present in one only.
        assert!(!equivalent(
            "sip:bob@biloxi.com",
            "sip:bob@biloxi.com;transport=udp"
        ));
        // Headers are never ignored.
        assert!(!equivalent(
            "sip:carol@chicago.com",
            "sip:carol@chicago.com?Subject=next%20meeting"
        ));
        assert!(!equivalent(
            "sip:carol@chicago.com;security=on",
            "sip:carol@chicago.com;security=off"
        ));
        assert!(!equivalent("sip:bob@biloxi.com", "sips:bob@biloxi.com"));
    }

    #[test]
    fn maddr_in_one_uri_only_makes_them_differ() {
        assert!(!equivalent(
            "sip:bob@biloxi.com;maddr=192.0.2.1",
            "sip:bob@biloxi.com"
        ));
        assert!(equivalent(
            "sip:bob@biloxi.com;maddr=192.0.2.1;lr",
            "sip:bob@biloxi.com;MADDR=192.0.2.1"
        ));
    }

    #[test]
    fn tel_numbers_compare_without_visual_separators() {
        assert!(equivalent("tel:+1-201-555-0123", "tel:+1.201.555.0123"));
        assert!(!equivalent("tel:+1-201-555-0123", "tel:+1-201-555-0124"));
        assert!(!equivalent(
            "tel:7042;phone-context=example.com",
            "tel:7042"
        ));
        assert!(!equivalent(
            "tel:+12015550123",
            "sip:+12015550123@example.com"
        ));
    }

    #[test]
    fn other_schemes_compare_as_text() {
        assert!(equivalent("urn:service:sos", "URN:service:sos"));
        assert!(!equivalent("urn:service:sos", "urn:service:police"));
    }
}
