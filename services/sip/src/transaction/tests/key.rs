//! Transaction matching: RFC 3261 §17.1.3 (client), §17.2.3 (server) and the RFC 2543
//! fallback that RFC 4475's `inv2543` exercises.

use std::collections::HashSet;
use std::time::Instant;

use crate::header::HeaderName;
use crate::message::Response;
use crate::method::Method;
use crate::transaction::invite_client::build_ack;
use crate::transaction::{InviteServerTransaction, TransactionError, TransactionKey};

use super::{UDP, config, parse_request, request, response};

const INV2543: &[u8] = include_bytes!("../../../testdata/conformance/rfc4475/messages/inv2543.dat");

fn server_key(r: &crate::message::Request) -> TransactionKey {
    TransactionKey::from_request(r).expect("server key")
}

fn client_key(r: &crate::message::Request) -> TransactionKey {
    TransactionKey::for_client_request(r).expect("client key")
}

#[test]
fn server_key_matches_a_retransmission_and_the_ack_for_a_non_2xx() {
    let invite = request("INVITE", "z9hG4bKs1");
    let key = server_key(&invite);
    assert_eq!(key, server_key(&request("INVITE", "z9hG4bKs1")));
    assert_eq!(key, server_key(&request("ACK", "z9hG4bKs1")));
    assert_eq!(key.method(), &Method::Invite);
    assert_eq!(key.branch(), Some("z9hG4bKs1"));
    assert!(!key.is_client() && !key.is_rfc2543());
}

#[test]
fn server_key_differs_by_branch_sent_by_and_method() {
    let base = server_key(&request("OPTIONS", "z9hG4bKs1"));
    assert_ne!(base, server_key(&request("OPTIONS", "z9hG4bKs2")));
    assert_ne!(base, server_key(&request("INVITE", "z9hG4bKs1")));
    let mut other_host = request("OPTIONS", "z9hG4bKs1");
    if let Some(v) = other_host.headers.top_via_mut() {
        v.port = Some(5070);
    }
    assert_ne!(base, server_key(&other_host));
}

#[test]
fn server_key_compares_sent_by_host_names_case_insensitively() {
    let text = |host: &str| {
        format!(
            "OPTIONS sip:b@example.com SIP/2.0\r\nVia: SIP/2.0/UDP {host};branch=z9hG4bK1\r\n\
             From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>\r\nCall-ID: c\r\n\
             CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        )
    };
    let a = server_key(&parse_request(text("Proxy.Example.COM").as_bytes()));
    let b = server_key(&parse_request(text("proxy.example.com").as_bytes()));
    assert_eq!(a, b);
    assert_eq!(a.to_string(), "server z9hG4bK1 proxy.example.com OPTIONS");
}

#[test]
fn cancel_has_its_own_key_and_finds_the_invite_it_cancels() {
    let invite = server_key(&request("INVITE", "z9hG4bKs1"));
    let cancel = server_key(&request("CANCEL", "z9hG4bKs1"));
    assert_ne!(cancel, invite);
    assert_eq!(cancel.invite_key_for_cancel(), Some(invite.clone()));
    assert_eq!(invite.invite_key_for_cancel(), None);
    // The same holds for client keys, so a CANCEL's client transaction finds its INVITE.
    let client_cancel = client_key(&request("CANCEL", "z9hG4bKc1"));
    assert_eq!(
        client_cancel.invite_key_for_cancel(),
        Some(client_key(&request("INVITE", "z9hG4bKc1")))
    );
}

#[test]
fn client_key_of_a_response_is_its_branch_and_cseq_method() {
    let invite = request("INVITE", "z9hG4bKc1");
    let cancel = request("CANCEL", "z9hG4bKc1");
    let key = client_key(&invite);
    assert_eq!(
        TransactionKey::from_response(&response(&invite, 180)).expect("key"),
        key
    );
    let cancel_ok = TransactionKey::from_response(&response(&cancel, 200)).expect("key");
    assert_eq!(cancel_ok, client_key(&cancel));
    assert_ne!(cancel_ok, key);
    assert_eq!(key.to_string(), "client z9hG4bKc1 INVITE");
    assert!(key.is_client());
}

#[test]
fn client_and_server_keys_never_collide() {
    let invite = request("INVITE", "z9hG4bKx");
    let keys: HashSet<TransactionKey> = [client_key(&invite), server_key(&invite)].into();
    assert_eq!(keys.len(), 2);
}

#[test]
fn keys_need_a_via_and_client_keys_a_branch() {
    let mut no_via = request("OPTIONS", "z9hG4bKx");
    no_via.headers.remove(&HeaderName::Via);
    assert_eq!(
        TransactionKey::from_request(&no_via),
        Err(TransactionError::MissingHeader("Via"))
    );
    let mut no_branch = request("OPTIONS", "z9hG4bKx");
    if let Some(v) = no_branch.headers.top_via_mut() {
        v.params.remove("branch");
    }
    assert_eq!(
        TransactionKey::for_client_request(&no_branch),
        Err(TransactionError::MissingBranch)
    );
    let mut resp: Response = response(&request("OPTIONS", "z9hG4bKx"), 200);
    resp.headers.remove(&HeaderName::CSeq);
    assert_eq!(
        TransactionKey::from_response(&resp),
        Err(TransactionError::MissingHeader("CSeq"))
    );
}

#[test]
fn rfc2543_key_from_rfc4475_inv2543_matches_its_retransmission_only() {
    let invite = parse_request(INV2543);
    let key = server_key(&invite);
    assert!(key.is_rfc2543());
    assert_eq!(key.branch(), None);
    assert_eq!(key, server_key(&parse_request(INV2543)));
    assert_eq!(
        key.to_string(),
        "rfc2543 INVITE 56 call-id=inv2543.1717@ift.client.example.com from-tag=- to-tag=- \
         uri=sip:UserB@example.com via=iftgw.example.com"
    );
    let text = String::from_utf8_lossy(INV2543);
    let next = parse_request(text.replace("CSeq: 56", "CSeq: 57").as_bytes());
    assert_ne!(key, server_key(&next));
    let other_call = parse_request(text.replace("Call-ID: inv2543", "Call-ID: x").as_bytes());
    assert_ne!(key, server_key(&other_call));
}

#[test]
fn rfc2543_cancel_finds_the_invite_it_cancels() {
    let invite = parse_request(INV2543);
    let cancel = parse_request(
        String::from_utf8_lossy(INV2543)
            .replace("INVITE sip:", "CANCEL sip:")
            .replace("56 INVITE", "56 CANCEL")
            .as_bytes(),
    );
    let cancel_key = server_key(&cancel);
    assert_ne!(cancel_key, server_key(&invite));
    assert_eq!(
        cancel_key.invite_key_for_cancel(),
        Some(server_key(&invite))
    );
}

#[test]
fn rfc2543_ack_is_found_under_the_ack_key_once_the_final_is_sent() {
    let now = Instant::now();
    let invite = parse_request(INV2543);
    let mut tx =
        InviteServerTransaction::new(invite.clone(), config(), UDP, now).expect("transaction");
    let busy = Response::from_request(&invite, 486, Some("sb1"));
    tx.send_response(busy.clone(), now).expect("486");
    let ack = build_ack(&invite, &busy);
    let ack_key = server_key(&ack);
    assert_ne!(&ack_key, tx.key(), "the ACK carries the server's To tag");
    assert_eq!(ack_key, tx.ack_key());
    assert!(ack_key.to_string().contains("to-tag=sb1"));
    tx.on_request(ack, now);
    assert_eq!(tx.state(), crate::transaction::TransactionState::Confirmed);
}

#[test]
fn rfc2543_ack_key_keeps_a_to_tag_the_invite_already_had() {
    let text = String::from_utf8_lossy(INV2543).replace(
        "To: sip:+16505552222@ss1.example.net;user=phone",
        "To: <sip:+16505552222@ss1.example.net;user=phone>;tag=dlg",
    );
    let reinvite = parse_request(text.as_bytes());
    let now = Instant::now();
    let mut tx =
        InviteServerTransaction::new(reinvite.clone(), config(), UDP, now).expect("transaction");
    tx.send_response(Response::from_request(&reinvite, 491, Some("other")), now)
        .expect("491");
    assert_eq!(&tx.ack_key(), tx.key());
}
