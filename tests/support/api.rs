//! Reading the server's HTTP API in tests: a page's body, and the event log of one call.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::Value;

use super::Server;

/// How long one HTTP request may take.
const HTTP_WAIT: Duration = Duration::from_secs(5);

/// `GET path`, which must answer 200; returns the body (panics with the server log otherwise).
pub fn get_ok(server: &Server, path: &str) -> String {
    let resp = server
        .http_get(path, HTTP_WAIT)
        .unwrap_or_else(|e| server.fail(&format!("GET {path} failed: {e}")));
    if resp.status != 200 {
        server.fail(&format!("GET {path} answered {}", resp.status_line));
    }
    match resp.rest.split_once("\r\n\r\n") {
        Some((_, body)) => body.to_owned(),
        None => server.fail(&format!("GET {path}: no body in {:?}", resp.rest)),
    }
}

/// `GET path` as JSON; the server must answer 200.
pub fn get_json(server: &Server, path: &str) -> Value {
    let body = get_ok(server, path);
    serde_json::from_str(&body)
        .unwrap_or_else(|e| server.fail(&format!("GET {path}: not JSON ({e}): {body}")))
}

/// Every event with this Call-ID in the event log, oldest first.
pub fn events_of(server: &Server, call_id: &str) -> Vec<Value> {
    let page = get_json(server, "/api/v1/events?since=0&limit=10000");
    page["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["call_id"] == call_id)
        .cloned()
        .collect()
}

/// `method path` with `body` (JSON, may be empty): the status and the body as JSON (null
/// when there is none).
pub fn request(server: &Server, method: &str, path: &str, body: &str) -> (u16, Value) {
    let addr = server.http_addr;
    let go = || -> std::io::Result<String> {
        let mut stream = TcpStream::connect_timeout(&addr, HTTP_WAIT)?;
        stream.set_read_timeout(Some(HTTP_WAIT))?;
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )?;
        let mut text = String::new();
        stream.read_to_string(&mut text)?;
        Ok(text)
    };
    let text = go().unwrap_or_else(|e| server.fail(&format!("{method} {path} failed: {e}")));
    let status = text
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| server.fail(&format!("{method} {path}: not HTTP: {text:?}")));
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}
