//! The media server's questions and linkd's answers, whatever server asks.
//!
//! MediaMTX (`authMethod: http`) posts JSON: `user`, `password`, `token`, `ip`, `action`
//! (`publish`, `read`, `playback`, `api`, `metrics`, `pprof`), `path`, `protocol`, `id`,
//! `query`; any 2xx allows. nginx-rtmp (`on_publish`, `on_play`, `on_publish_done`,
//! `on_update`) posts a form: `call`, `app`, `name`, `addr`, `clientid`, ... and the fields
//! of the RTMP URL's query (`key=...`); 2xx allows, a 4xx without redirect refuses.
//!
//! Publishing on the stream path takes the stream key: as `key=` (the form OBS is told to
//! use: Stream Key `stream?key=KEY`), as `pass=` in the query, or as the password; or, until
//! the first rotation, an earlier setup's static pair. Reading takes linkd's reader
//! credential. MediaMTX's control API (`api`) takes the credential linkd makes at each start
//! for its own calls (stopping a publisher whose key was rotated). Everything else is
//! refused.

use super::key::{same, StreamKeys};
use serde::Deserialize;

/// A MediaMTX authentication request, as its `authHTTPAddress` receives it.
#[derive(Default, Deserialize)]
#[serde(default)]
pub struct MediaMtxAsk {
    /// User given by the client.
    pub user: String,
    /// Password given by the client.
    pub password: String,
    /// Bearer token given by the client.
    pub token: String,
    /// The client's address.
    pub ip: String,
    /// `publish`, `read`, `playback`, `api`, `metrics` or `pprof`.
    pub action: String,
    /// The path, e.g. `live/stream`.
    pub path: String,
    /// `rtmp`, `rtsp`, `hls`, `webrtc`, `srt`.
    pub protocol: String,
    /// The session's id (a UUID), or null.
    pub id: Option<String>,
    /// The raw query of the client's URL.
    pub query: String,
}

/// A form (nginx-rtmp's callbacks), decoded; later fields win over earlier ones.
#[derive(Default)]
pub struct Form(Vec<(String, String)>);

impl Form {
    /// Decodes `application/x-www-form-urlencoded` text.
    pub fn parse(text: &str) -> Form {
        Form(
            text.split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    (decode(k), decode(v))
                })
                .collect(),
        )
    }

    /// The value of `name`, or "".
    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }
}

/// Percent-decoding with `+` as space; bad escapes are kept as they are.
fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// Who published, so a rotation can stop that very publisher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Publisher {
    /// Admitted by nginx-rtmp: its application, stream name and client id.
    NginxRtmp {
        /// `live`
        app: String,
        /// `stream`
        name: String,
        /// nginx-rtmp's `clientid`.
        client: String,
    },
    /// Admitted by MediaMTX: its session id, if it sent one, and the protocol it came by.
    MediaMtx {
        /// The `id` of the request.
        id: Option<String>,
        /// `rtmp`, `rtsp`, `srt`, `webrtc`.
        protocol: String,
    },
}

/// What an answer changes besides allowing or refusing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Nothing.
    None,
    /// A publisher was admitted: the stream is going live.
    Live(Publisher),
    /// nginx-rtmp's publisher `client` stopped.
    Offline {
        /// Its `clientid`.
        client: String,
    },
}

/// linkd's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// 2xx or 403.
    pub allow: bool,
    /// Why, for the log line and the refusal's body (never a credential).
    pub why: &'static str,
    /// What it changes.
    pub effect: Effect,
}

fn refuse(why: &'static str) -> Decision {
    Decision {
        allow: false,
        why,
        effect: Effect::None,
    }
}

fn allow(why: &'static str, effect: Effect) -> Decision {
    Decision {
        allow: true,
        why,
        effect,
    }
}

/// What linkd checks the questions against.
pub struct Authority<'a> {
    /// The stream key.
    pub keys: &'a StreamKeys,
    /// The stream's path, `live/stream`.
    pub stream_path: &'a str,
    /// linkd's reader credential.
    pub reader: Option<(&'a str, &'a str)>,
    /// The credential linkd itself calls MediaMTX's control API with (made at each start,
    /// never shown): the only one admitted for the `api` action.
    pub control: (&'a str, &'a str),
}

impl Authority<'_> {
    /// Whether one of the ways to give the key holds it, or the static pair is given.
    fn publisher_ok(&self, user: &str, password: &str, query: &Form) -> bool {
        let given = [query.get("key"), query.get("pass"), password];
        given.iter().any(|k| !k.is_empty() && self.keys.is_key(k))
            || self.keys.is_static_pair(user, password)
            || self
                .keys
                .is_static_pair(query.get("user"), query.get("pass"))
    }

    fn reader_ok(&self, user: &str, password: &str) -> bool {
        self.reader
            .is_some_and(|(u, p)| same(user, u) & same(password, p))
    }

    /// Answers MediaMTX.
    pub fn mediamtx(&self, ask: &MediaMtxAsk) -> Decision {
        let query = Form::parse(&ask.query);
        let on_stream = ask.path == self.stream_path;
        match ask.action.as_str() {
            "publish" if !on_stream => refuse("publish on another path"),
            "publish" if self.publisher_ok(&ask.user, &ask.password, &query) => allow(
                "publisher with the stream key",
                Effect::Live(Publisher::MediaMtx {
                    id: ask.id.clone(),
                    protocol: ask.protocol.clone(),
                }),
            ),
            "publish" => refuse("publish without the stream key"),
            "read" if !on_stream => refuse("read on another path"),
            "read" if self.reader_ok(&ask.user, &ask.password) => {
                allow("linkd's reader", Effect::None)
            }
            "read" => refuse("read by someone other than linkd"),
            "api" if same(&ask.user, self.control.0) & same(&ask.password, self.control.1) => {
                allow("linkd's own control call", Effect::None)
            }
            _ => refuse("action not allowed"),
        }
    }

    /// Answers nginx-rtmp.
    pub fn nginx_rtmp(&self, form: &Form) -> Decision {
        let (app, name) = (form.get("app"), form.get("name"));
        let on_stream = format!("{app}/{name}") == self.stream_path;
        let client = form.get("clientid").to_string();
        match form.get("call") {
            "publish" | "update_publish" if !on_stream => refuse("publish on another path"),
            "publish" if self.publisher_ok(form.get("user"), form.get("pass"), form) => allow(
                "publisher with the stream key",
                Effect::Live(Publisher::NginxRtmp {
                    app: app.to_string(),
                    name: name.to_string(),
                    client,
                }),
            ),
            "update_publish" if self.publisher_ok(form.get("user"), form.get("pass"), form) => {
                allow("publisher with the stream key", Effect::None)
            }
            "publish" | "update_publish" => refuse("publish without the stream key"),
            "play" | "update_play" if !on_stream => refuse("read on another path"),
            "play" | "update_play" if self.reader_ok(form.get("user"), form.get("pass")) => {
                allow("linkd's reader", Effect::None)
            }
            "play" | "update_play" => refuse("read by someone other than linkd"),
            "publish_done" => allow("publisher stopped", Effect::Offline { client }),
            "play_done" | "done" => allow("reader stopped", Effect::None),
            _ => refuse("call not allowed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_decode_as_nginx_rtmp_writes_them() {
        let f = Form::parse("app=live&name=str%65am&tcurl=rtmp%3A%2F%2Fh%2Flive&x=a+b&bad=%zz&call=publish&key=k1&key=k2&end=%4");
        assert_eq!(f.get("name"), "stream");
        assert_eq!(f.get("tcurl"), "rtmp://h/live");
        assert_eq!(f.get("x"), "a b");
        assert_eq!(f.get("bad"), "%zz");
        assert_eq!(f.get("key"), "k2");
        assert_eq!(f.get("end"), "%4");
        assert_eq!(f.get("missing"), "");
    }
}
