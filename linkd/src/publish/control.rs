//! Stopping a publisher whose key was rotated, through the media server's control API
//! (`MEDIA_CONTROL_URL`), chosen by the server that admitted it:
//!
//! - nginx-rtmp's `rtmp_control` module: `GET {url}/drop/publisher?app=APP&name=NAME`, which
//!   answers the number of sessions it dropped (nginx-rtmp also asks `on_update`, when
//!   configured, which re-checks the key);
//! - MediaMTX's API: `POST {url}/v3/{rtmpconns|rtspsessions|srtconns|webrtcsessions}/kick/{id}`
//!   with the session id of the admitted publisher, authenticated with linkd's own control
//!   credential (MediaMTX asks linkd about it like about any other request).

use super::auth::Publisher;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use std::time::Duration;

/// How long the control API may take.
const TIMEOUT: Duration = Duration::from_secs(3);

/// Query-string escaping of a name (nginx-rtmp names are plain words; anything else is
/// escaped).
fn escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The user of linkd's own calls to MediaMTX's API.
pub const CONTROL_USER: &str = "linkd-control";

/// Asks the media server at `control_url` to stop `publisher`; true when it says it did.
pub async fn stop(control_url: &str, publisher: &Publisher, control: (&str, &str)) -> bool {
    let base = control_url.trim_end_matches('/');
    let (method, url, auth) = match publisher {
        Publisher::NginxRtmp { app, name, .. } => (
            http::Method::GET,
            format!(
                "{base}/drop/publisher?app={}&name={}",
                escape(app),
                escape(name)
            ),
            None,
        ),
        Publisher::MediaMtx {
            id: Some(id),
            protocol,
        } => {
            let kind = match protocol.as_str() {
                "rtsp" | "rtsps" => "rtspsessions",
                "srt" => "srtconns",
                "webrtc" => "webrtcsessions",
                _ => "rtmpconns",
            };
            use base64::Engine as _;
            let basic = base64::engine::general_purpose::STANDARD
                .encode(format!("{}:{}", control.0, control.1));
            (
                http::Method::POST,
                format!("{base}/v3/{kind}/kick/{}", escape(id)),
                Some(format!("Basic {basic}")),
            )
        }
        Publisher::MediaMtx { id: None, .. } => return false,
    };
    let client: Client<HttpConnector, Empty<Bytes>> =
        Client::builder(TokioExecutor::new()).build(HttpConnector::new());
    let mut req = http::Request::builder().method(method).uri(url);
    if let Some(a) = auth {
        req = req.header(http::header::AUTHORIZATION, a);
    }
    let Ok(req) = req.body(Empty::new()) else {
        return false;
    };
    let nginx = matches!(publisher, Publisher::NginxRtmp { .. });
    let ask = async {
        let r = client.request(req).await.map_err(|e| e.to_string())?;
        let ok = r.status().is_success();
        let body = r.into_body().collect().await.map_err(|e| e.to_string())?;
        // nginx-rtmp answers how many sessions it dropped; MediaMTX an empty 200.
        let dropped = !nginx
            || String::from_utf8_lossy(&body.to_bytes())
                .trim()
                .parse::<u32>()
                .is_ok_and(|n| n > 0);
        Ok::<_, String>(ok && dropped)
    };
    match tokio::time::timeout(TIMEOUT, ask).await {
        Ok(Ok(stopped)) => stopped,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "cannot reach the media server's control API (MEDIA_CONTROL_URL)");
            false
        }
        Err(_) => {
            tracing::warn!("the media server's control API did not answer within 3 s");
            false
        }
    }
}
