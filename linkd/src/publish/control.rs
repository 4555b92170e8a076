//! Stopping a publisher whose key was rotated, through the media server's control API
//! (`MEDIA_CONTROL_URL`): nginx-rtmp's `rtmp_control` module,
//! `GET {url}/drop/publisher?app=APP&name=NAME`, which answers the number of sessions it
//! dropped. nginx-rtmp also asks `on_update` (when configured), which re-checks the key.

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

/// Asks the media server at `control_url` to stop `publisher`; true when it says it did.
pub async fn stop(control_url: &str, publisher: &Publisher) -> bool {
    let Publisher::NginxRtmp { app, name, .. } = publisher else {
        tracing::info!("the media server has no control API linkd uses; the old publisher goes on until it reconnects");
        return false;
    };
    let url = format!(
        "{}/drop/publisher?app={}&name={}",
        control_url.trim_end_matches('/'),
        escape(app),
        escape(name)
    );
    let client: Client<HttpConnector, Empty<Bytes>> =
        Client::builder(TokioExecutor::new()).build(HttpConnector::new());
    let Ok(uri) = url.parse::<http::Uri>() else {
        return false;
    };
    let ask = async {
        let r = client.get(uri).await.map_err(|e| e.to_string())?;
        let ok = r.status().is_success();
        let body = r.into_body().collect().await.map_err(|e| e.to_string())?;
        let n: u32 = String::from_utf8_lossy(&body.to_bytes())
            .trim()
            .parse()
            .unwrap_or(0);
        Ok::<_, String>(ok && n > 0)
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
