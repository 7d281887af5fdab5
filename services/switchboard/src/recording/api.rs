//! Call recording over HTTP.
//!
//! * `POST /api/v1/calls/{call_id}/recording` with an optional body `{"mode": "stereo" |
//!   "mixed"}` starts recording the live call with that SIP Call-ID: 201 with the file, 404
//!   if no such call, 409 if it is being recorded already.
//! * `DELETE /api/v1/calls/{call_id}/recording` stops it: 202 with the file (its checksum and
//!   store row follow, with the `recording_stopped` event), 404 if it is not being recorded.
//! * `GET /api/v1/recordings[?call_id=…]`: the finished recordings in the store, all or of one
//!   call (a SIP Call-ID, or a `calls.id` uuid).
//!
//! Errors are `{"error":"…"}`.
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use media::recording::RecordingMode;
use serde::Deserialize;
use serde_json::json;
use store::Id;

use super::{ActiveCalls, RecordingTarget, StartError, StartRecording, StopRecording, parse_mode};

/// What the recording routes need (register as `web::Data<RecordingApi>`).
#[derive(Debug, Clone)]
pub struct RecordingApi {
    /// Where files go and the store they are listed in.
    pub target: RecordingTarget,
    /// The layout when the request names none.
    pub default_mode: RecordingMode,
}

impl Default for RecordingApi {
    fn default() -> Self {
        RecordingApi {
            target: RecordingTarget::default(),
            default_mode: RecordingMode::Stereo,
        }
    }
}

fn error(status: StatusCode, message: impl std::fmt::Display) -> HttpResponse {
    HttpResponse::build(status).json(json!({ "error": message.to_string() }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StartBody {
    mode: Option<String>,
}

async fn start(
    api: web::Data<RecordingApi>,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let call_id = path.into_inner();
    let mode = if body.iter().all(u8::is_ascii_whitespace) {
        api.default_mode
    } else {
        let parsed: StartBody = match serde_json::from_slice(&body) {
            Ok(b) => b,
            Err(e) => return error(StatusCode::BAD_REQUEST, format!("invalid body: {e}")),
        };
        match parsed.mode.as_deref().map(parse_mode) {
            None => api.default_mode,
            Some(Some(mode)) => mode,
            Some(None) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "mode must be \"stereo\" or \"mixed\"",
                );
            }
        }
    };
    let Some(endpoint) = ActiveCalls::global().get(&call_id) else {
        return error(StatusCode::NOT_FOUND, format!("no active call {call_id}"));
    };
    let asked = endpoint
        .start
        .send(StartRecording {
            mode,
            target: api.target.clone(),
        })
        .await;
    match asked {
        Ok(Ok(file)) => HttpResponse::Created().json(json!({
            "call_id": call_id,
            "file": file,
            "mode": super::mode_name(mode),
        })),
        Ok(Err(e @ StartError::AlreadyRecording(_))) => error(StatusCode::CONFLICT, e),
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
        Err(_) => error(StatusCode::NOT_FOUND, format!("no active call {call_id}")),
    }
}

async fn stop(path: web::Path<String>) -> HttpResponse {
    let call_id = path.into_inner();
    let not_recording = || {
        error(
            StatusCode::NOT_FOUND,
            format!("call {call_id} is not being recorded"),
        )
    };
    let Some(endpoint) = ActiveCalls::global().get(&call_id) else {
        return not_recording();
    };
    match endpoint.stop.send(StopRecording).await {
        Ok(Some(file)) => HttpResponse::Accepted().json(json!({
            "call_id": call_id,
            "file": file,
        })),
        _ => not_recording(),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    call_id: Option<String>,
}

async fn list(api: web::Data<RecordingApi>, query: web::Query<serde_json::Value>) -> HttpResponse {
    let query: ListQuery = match serde_json::from_value(query.into_inner()) {
        Ok(q) => q,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("invalid query: {e}")),
    };
    let Some(store) = &api.target.store else {
        return error(StatusCode::SERVICE_UNAVAILABLE, "no database");
    };
    let found = match query.call_id {
        None => store.list_recordings(None).await,
        // A SIP Call-ID may look like a uuid too: by `calls.id` first, then by Call-ID.
        Some(c) => match c.parse::<Id>() {
            Ok(id) => match store.list_recordings(Some(id)).await {
                Ok(found) if found.is_empty() => store.list_recordings_of_sip_call(&c).await,
                other => other,
            },
            Err(_) => store.list_recordings_of_sip_call(&c).await,
        },
    };
    match found {
        Ok(list) => HttpResponse::Ok().json(json!({ "recordings": list })),
        Err(e) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("cannot read recordings: {e}"),
        ),
    }
}

/// The recording routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/calls/{call_id}/recording", web::post().to(start))
        .route("/api/v1/calls/{call_id}/recording", web::delete().to(stop))
        .route("/api/v1/recordings", web::get().to(list));
}

#[cfg(test)]
mod tests {
    use actix_web::{App, test};

    use super::*;

    async fn call(req: test::TestRequest) -> (u16, serde_json::Value) {
        let app = test::init_service(
            App::new()
                .app_data(web::Data::new(RecordingApi::default()))
                .configure(configure),
        )
        .await;
        let resp = test::call_service(&app, req.to_request()).await;
        let status = resp.status().as_u16();
        (status, test::read_body_json(resp).await)
    }

    #[actix_web::test]
    async fn errors_are_json_with_a_message() {
        let path = "/api/v1/calls/no-such-call/recording";
        for (req, want) in [
            (test::TestRequest::post().uri(path), 404),
            (test::TestRequest::delete().uri(path), 404),
            (
                test::TestRequest::post()
                    .uri(path)
                    .set_payload("{\"mode\":\"quad\"}"),
                400,
            ),
            (
                test::TestRequest::post()
                    .uri(path)
                    .set_payload("{\"mode\":\"mixed\",\"x\":1}"),
                400,
            ),
            (test::TestRequest::get().uri("/api/v1/recordings"), 503),
            (
                test::TestRequest::get().uri("/api/v1/recordings?limit=1"),
                400,
            ),
        ] {
            let (status, body) = call(req).await;
            assert_eq!(status, want, "{body}");
            assert!(
                body["error"].as_str().is_some_and(|e| !e.is_empty()),
                "{body}"
            );
        }
    }
}
