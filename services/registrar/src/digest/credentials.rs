//! Reading Digest credentials out of a request's Authorization headers.

use sip::{AuthValue, Header, Request};

use super::hash::is_hex_of_len;
use super::{DigestAlgorithm, DigestError, DigestResponse};

/// The Digest credentials for `realm` among the request's Authorization headers.
///
/// A request may carry several (one per realm, RFC 3261 §22.3): the first Digest one for
/// `realm` is read. Other schemes and other realms are not ours to judge and are skipped; a
/// Digest header without a realm could be meant for us, so it is an error when nothing else
/// matches.
pub(super) fn find(
    request: &Request,
    realm: &str,
    offered: &[DigestAlgorithm],
) -> Result<Option<DigestResponse>, DigestError> {
    let mut realmless = false;
    for header in request.headers.iter() {
        let Header::Authorization(value) = header else {
            continue;
        };
        if !value.is_digest() {
            continue;
        }
        match value.param("realm") {
            Some(r) if r == realm => return read(value, offered).map(Some),
            Some(_) => {}
            None => realmless = true,
        }
    }
    if realmless {
        Err(DigestError::Missing("realm"))
    } else {
        Ok(None)
    }
}

fn read(value: &AuthValue, offered: &[DigestAlgorithm]) -> Result<DigestResponse, DigestError> {
    let required = |name: &'static str| value.param(name).ok_or(DigestError::Missing(name));
    let username = required("username")?;
    let realm = required("realm")?;
    let nonce = required("nonce")?;
    let uri = required("uri")?;
    let response = required("response")?;

    // Without `algorithm` the client means MD5 (RFC 2617 §3.2.1), which we may not offer.
    let written = value.param("algorithm");
    let algorithm = match &written {
        None => Some(DigestAlgorithm::Md5),
        Some(a) => DigestAlgorithm::from_token(a),
    }
    .filter(|a| offered.contains(a))
    .ok_or_else(|| {
        DigestError::UnsupportedAlgorithm(written.unwrap_or_else(|| "MD5".to_owned()))
    })?;
    let digits = algorithm.hex_len();
    if !is_hex_of_len(&response, digits) {
        return Err(DigestError::Invalid {
            name: "response",
            why: format!("expected {digits} hex digits for {}", algorithm.token()),
        });
    }
    let nc = value.param("nc").map(|nc| parse_nc(&nc)).transpose()?;

    Ok(DigestResponse {
        username,
        realm,
        nonce,
        uri,
        response,
        algorithm,
        cnonce: value.param("cnonce"),
        nc,
        qop: value.param("qop"),
        opaque: value.param("opaque"),
    })
}

/// `nc-value = 8LHEX` (RFC 2617 §3.2.2); upper case is tolerated, as the value is a number.
fn parse_nc(nc: &str) -> Result<u32, DigestError> {
    let invalid = || DigestError::Invalid {
        name: "nc",
        why: format!("{nc:?} is not 8 hex digits"),
    };
    if !is_hex_of_len(nc, 8) {
        return Err(invalid());
    }
    u32::from_str_radix(nc, 16).map_err(|_| invalid())
}
