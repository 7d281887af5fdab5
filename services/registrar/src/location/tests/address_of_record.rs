//! The address-of-record of a REGISTER (RFC 3261 §10.3 step 5).

use super::*;

#[test]
fn address_of_record_is_the_unescaped_to_user() {
    let req = parse_request(
        "REGISTER sip:example.com SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK-1\r\n\
         From: <sip:al%69ce@example.com>;tag=1\r\n\
         To: <sip:al%69ce@example.com;user=phone>\r\n\
         Call-ID: x\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n",
    );
    assert_eq!(address_of_record(&req), Ok("alice".to_string()));
}

#[test]
fn address_of_record_without_a_user_part_is_404() {
    let req = parse_request(
        "REGISTER sip:example.com SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK-1\r\n\
         From: <sip:example.com>;tag=1\r\nTo: <sip:example.com>\r\n\
         Call-ID: x\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n",
    );
    let reply = address_of_record(&req).expect_err("no user part");
    assert_eq!(reply.status, 404);
    assert!(reply.reason.is_some_and(|r| r.contains("No such user")));
}

#[test]
fn address_of_record_of_a_tel_to_is_400() {
    let req = parse_request(
        "REGISTER sip:example.com SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK-1\r\n\
         From: <tel:+15551234567>;tag=1\r\nTo: <tel:+15551234567>\r\n\
         Call-ID: x\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n",
    );
    let reply = address_of_record(&req).expect_err("tel is no AOR here");
    assert_eq!(reply.status, 400);
    assert!(reply.reason.is_some_and(|r| r.contains("tel")));
}
