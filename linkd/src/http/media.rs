//! The `MEDIA_AUTH_ADDR` listener: the media server's authentication calls and go-live hooks.
//!
//! | method | path                  | from                                   | answer                      |
//! |--------|-----------------------|----------------------------------------|-----------------------------|
//! | POST   | `/mediamtx/auth`      | MediaMTX `authHTTPAddress` (JSON)      | 200 allowed, 403 refused    |
//! | POST   | `/mediamtx/ready`     | MediaMTX `runOnReady` (curl/wget)      | 200, the stream is live     |
//! | POST   | `/mediamtx/not-ready` | MediaMTX `runOnNotReady`               | 200, the stream is offline  |
//! | POST   | `/nginx-rtmp`         | nginx-rtmp `on_publish`, `on_play`, `on_publish_done`, `on_update` (form) | 200 allowed, 403 refused |
//! | any    | anything else         |                                        | 404 (405 for another method) |
//!
//! Each answer is logged with what was asked and why it was allowed or refused, never with
//! a key, password, token or query.

use super::{text, Body};
use crate::publish::{self, auth};
use crate::Shared;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use std::net::SocketAddr;
use std::time::Duration;

/// Largest body accepted (MediaMTX's and nginx-rtmp's are a few hundred bytes).
const MAX_BODY: usize = 16 * 1024;
/// How long a body may take to arrive.
const BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// The answer to a request on the media listener.
pub(super) async fn answer(
    shared: &Shared,
    req: Request<Incoming>,
    peer: SocketAddr,
) -> Response<Body> {
    let path = req.uri().path().to_string();
    let known = matches!(
        path.as_str(),
        "/mediamtx/auth" | "/mediamtx/ready" | "/mediamtx/not-ready" | "/nginx-rtmp"
    );
    if !known {
        return text(StatusCode::NOT_FOUND, "not found");
    }
    if req.method() != Method::POST {
        return text(StatusCode::METHOD_NOT_ALLOWED, "use POST");
    }
    let body = match read(req).await {
        Ok(b) => b,
        Err(status) => return text(status, "unreadable or too large body"),
    };
    let decision = match path.as_str() {
        "/mediamtx/ready" | "/mediamtx/not-ready" => {
            let live = path == "/mediamtx/ready";
            tracing::info!(live, client = %peer.ip(), "media server hook");
            publish::hook(shared, live).await;
            return text(StatusCode::OK, "ok");
        }
        "/mediamtx/auth" => match serde_json::from_slice::<auth::MediaMtxAsk>(&body) {
            Ok(ask) => {
                let d = authority(shared, |a| a.mediamtx(&ask));
                tracing::info!(server = "mediamtx", action = %ask.action, path = %ask.path,
                    protocol = %ask.protocol, ip = %ask.ip, allow = d.allow, why = d.why, "media auth");
                d
            }
            Err(_) => return text(StatusCode::BAD_REQUEST, "not a MediaMTX auth request"),
        },
        _ => {
            let form = auth::Form::parse(&String::from_utf8_lossy(&body));
            let d = authority(shared, |a| a.nginx_rtmp(&form));
            tracing::info!(
                server = "nginx-rtmp",
                call = form.get("call"),
                app = form.get("app"),
                name = form.get("name"),
                addr = form.get("addr"),
                allow = d.allow,
                why = d.why,
                "media auth"
            );
            d
        }
    };
    let allow = decision.allow;
    let why = decision.why;
    publish::apply(shared, decision.effect).await;
    match allow {
        true => text(StatusCode::OK, "ok"),
        false => {
            let mut r = text(StatusCode::FORBIDDEN, "refused");
            *r.body_mut() = super::full(format!("refused: {why}"));
            r
        }
    }
}

fn authority(
    shared: &Shared,
    ask: impl FnOnce(&auth::Authority) -> auth::Decision,
) -> auth::Decision {
    let cfg = &shared.config;
    let reader = match (&cfg.mediamtx_read_user, &cfg.mediamtx_read_password) {
        (Some(u), Some(p)) => Some((u.as_str(), p.expose())),
        _ => None,
    };
    let path = crate::config::stream_path(&cfg.mediamtx_hls_base_url);
    ask(&auth::Authority {
        keys: &shared.media.keys,
        stream_path: &path,
        reader,
        control: shared.media.control(),
    })
}

async fn read(req: Request<Incoming>) -> Result<bytes::Bytes, StatusCode> {
    let body = Limited::new(req.into_body(), MAX_BODY);
    match tokio::time::timeout(BODY_TIMEOUT, body.collect()).await {
        Ok(Ok(b)) => Ok(b.to_bytes()),
        Ok(Err(_)) => Err(StatusCode::PAYLOAD_TOO_LARGE),
        Err(_) => Err(StatusCode::REQUEST_TIMEOUT),
    }
}
