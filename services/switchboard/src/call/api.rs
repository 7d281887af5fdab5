//! Calls over HTTP.
//!
//! `POST /api/v1/calls` with `{"extension": "bob", "prompts": ["welcome.wav", ...],
//! "stop_on_digits": "#", "from": "Switchboard"}` places an announcement call
//! ([`crate::call::announce`]): the prompts (WAV files under `[media] prompts_dir`, named
//! relative to it) are loaded and checked first, so a file that is missing or cannot be played
//! is a 400 that names it and why; then 202 `{"call_id": "…"}`, and the call's progress is on
//! the event log under that Call-ID. Errors are `{"error": "…"}`; 503 while the SIP stack is
//! not running.

use std::path::{Component, Path, PathBuf};

use actix::Addr;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use media::dtmf::DtmfDigit;
use serde::Deserialize;
use serde_json::json;
use tracing::info;

use super::announce::Announce;
use crate::rtp::prompt_endpoint::load_prompts_blocking;
use crate::user_agent::UserAgent;

/// The most prompts one call may play.
const MAX_PROMPTS: usize = 32;

/// What the call routes need (register as `web::Data<CallsApi>`).
#[derive(Debug, Clone, Default)]
pub struct CallsApi {
    /// The user agent that places calls (none in tests without a SIP stack).
    pub user_agent: Option<Addr<UserAgent>>,
    /// Where prompt files are.
    pub prompts_dir: PathBuf,
}

fn error(status: StatusCode, message: impl std::fmt::Display) -> HttpResponse {
    HttpResponse::build(status).json(json!({ "error": message.to_string() }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AnnounceBody {
    extension: String,
    prompts: Vec<String>,
    #[serde(default)]
    stop_on_digits: String,
    from: Option<String>,
}

/// `name` under `dir`, when it is a plain relative path (no `..`, not absolute).
fn prompt_path(dir: &Path, name: &str) -> Result<PathBuf, String> {
    let relative = Path::new(name);
    let plain = !name.is_empty()
        && relative
            .components()
            .all(|c| matches!(c, Component::Normal(_)));
    if !plain {
        return Err(format!(
            "prompt {name:?} must be a path relative to the prompts directory, without '..'"
        ));
    }
    Ok(dir.join(relative))
}

async fn announce(api: web::Data<CallsApi>, body: web::Bytes) -> HttpResponse {
    let Some(user_agent) = api.user_agent.clone() else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the SIP stack is not running",
        );
    };
    let body: AnnounceBody = match serde_json::from_slice(&body) {
        Ok(body) => body,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("invalid body: {e}")),
    };
    if body.extension.trim().is_empty() {
        return error(StatusCode::BAD_REQUEST, "extension must not be empty");
    }
    if body.prompts.is_empty() || body.prompts.len() > MAX_PROMPTS {
        return error(
            StatusCode::BAD_REQUEST,
            format!("prompts must list 1 to {MAX_PROMPTS} files"),
        );
    }
    let mut stop_on_digits = Vec::new();
    for c in body.stop_on_digits.chars() {
        match DtmfDigit::from_char(c) {
            Some(d) => stop_on_digits.push(d),
            None => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("stop_on_digits: {c:?} is no DTMF digit (0-9, *, #, A-D)"),
                );
            }
        }
    }
    let mut paths = Vec::with_capacity(body.prompts.len());
    for name in &body.prompts {
        match prompt_path(&api.prompts_dir, name) {
            Ok(path) => paths.push(path),
            Err(why) => return error(StatusCode::BAD_REQUEST, why),
        }
    }
    let prompts = match load_prompts_blocking(paths).await {
        Ok(prompts) => prompts,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("prompt refused: {e}")),
    };
    let request = Announce {
        extension: body.extension.clone(),
        prompts,
        stop_on_digits,
        from_name: body.from.unwrap_or_else(|| "Switchboard".to_owned()),
    };
    match user_agent.send(request).await {
        Ok(call_id) => {
            info!(call_id = %call_id, extension = %body.extension, "announcement call placed");
            HttpResponse::Accepted().json(json!({ "call_id": call_id }))
        }
        Err(e) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the SIP stack did not answer: {e}"),
        ),
    }
}

/// Registers the call routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/calls", web::post().to(announce));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_names_stay_inside_the_prompts_directory() {
        let dir = Path::new("/data/prompts");
        assert_eq!(
            prompt_path(dir, "queue/welcome.wav"),
            Ok(PathBuf::from("/data/prompts/queue/welcome.wav"))
        );
        for bad in ["../secret.wav", "/etc/passwd", "", "a/../../b.wav"] {
            assert!(prompt_path(dir, bad).is_err(), "{bad}");
        }
    }
}
