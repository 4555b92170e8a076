//! The publishing side's wire types: the stream key OBS publishes with.
//!
//! ```json
//! {"Request":{"context":{...},"id":3,"message":{"RotateStreamKey":{}}}}
//! {"request_id":3,"message":{"Ok":{"RotateStreamKey":{"Ok":{"key":{"key":"9f2c...",
//!   "server_url":"rtmp://watch.example.org:1935/live","stream_key":"stream?key=9f2c...",
//!   "publish_url":"rtmp://watch.example.org:1935/live/stream?key=9f2c...",
//!   "created_at":1795956279,"static_pair_accepted":false},"publisher_stopped":true}}}}}
//! ```

use serde::{Deserialize, Serialize};

/// The key OBS publishes with, and where. Its `Debug` never shows the key.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamKey {
    /// The key itself (hex, 192 bits).
    pub key: String,
    /// OBS's "Server": the RTMP URL up to the app, e.g. `rtmp://host:1935/live`.
    pub server_url: String,
    /// OBS's "Stream Key": the stream's name with the key, e.g. `stream?key=...`.
    pub stream_key: String,
    /// Both in one URL, for encoders that take a single URL (ffmpeg).
    pub publish_url: String,
    /// When the key was made, Unix seconds.
    pub created_at: i64,
    /// Whether an earlier setup's static `MEDIAMTX_PUBLISH_USER/PASSWORD` pair is still
    /// accepted too (until the first rotation).
    pub static_pair_accepted: bool,
}

impl std::fmt::Debug for StreamKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamKey")
            .field("server_url", &self.server_url)
            .field("created_at", &self.created_at)
            .field("static_pair_accepted", &self.static_pair_accepted)
            .finish_non_exhaustive()
    }
}

/// Answer to [`crate::LinkApi::rotate_stream_key`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamKeyRotation {
    /// The new key; the old one is refused from now on.
    pub key: StreamKey,
    /// Whether a publisher that was live with the old key was stopped through the media
    /// server's control API (`false` when none was live or the server has no control API).
    pub publisher_stopped: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rotation frames shown in the module docs are what the transport carries.
    #[test]
    fn documented_stream_key_frames_parse() {
        let request = r#"{"Request":{"context":{"deadline":{"secs":10,"nanos":0},
          "trace_context":{"trace_id":[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0],"span_id":0,
          "sampling_decision":"Unsampled"}},"id":3,"message":{"RotateStreamKey":{}}}}"#;
        let parsed: tarpc::ClientMessage<crate::LinkApiRequest> =
            serde_json::from_str(request).unwrap();
        assert!(matches!(
            parsed,
            tarpc::ClientMessage::Request(r) if matches!(r.message, crate::LinkApiRequest::RotateStreamKey {})
        ));
        let answer = r#"{"request_id":3,"message":{"Ok":{"RotateStreamKey":{"Ok":{"key":{"key":"9f2c",
          "server_url":"rtmp://watch.example.org:1935/live","stream_key":"stream?key=9f2c",
          "publish_url":"rtmp://watch.example.org:1935/live/stream?key=9f2c",
          "created_at":1795956279,"static_pair_accepted":false},"publisher_stopped":true}}}}}"#;
        let parsed: tarpc::Response<crate::LinkApiResponse> = serde_json::from_str(answer).unwrap();
        match parsed.message {
            Ok(crate::LinkApiResponse::RotateStreamKey(Ok(r))) => {
                assert!(r.publisher_stopped);
                assert_eq!(r.key.stream_key, "stream?key=9f2c");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn debug_never_shows_the_key() {
        let k = StreamKey {
            key: "secretsecret".into(),
            server_url: "rtmp://h:1935/live".into(),
            stream_key: "stream?key=secretsecret".into(),
            publish_url: "rtmp://h:1935/live/stream?key=secretsecret".into(),
            created_at: 1,
            static_pair_accepted: false,
        };
        let shown = format!(
            "{:?}",
            StreamKeyRotation {
                key: k,
                publisher_stopped: true
            }
        );
        assert!(!shown.contains("secret"), "{shown}");
    }
}
