//! `linkctl stream-key show|rotate`: the key OBS publishes with. It is printed only here,
//! on request; linkd never logs it.

use crate::{call, out, Failure};
use proto::{LinkApiClient, StreamKey, StreamKeyRotation};

/// `linkctl stream-key ...`
#[derive(clap::Subcommand)]
pub enum StreamKeyCommand {
    /// Print the RTMP server, the stream key and the full publish URL (for OBS).
    Show,
    /// Make a new key: the old one stops working at once, and a publisher live with it is
    /// stopped where the media server allows (MEDIA_CONTROL_URL).
    Rotate,
}

/// Runs `linkctl stream-key ...`: what it prints, or why linkd refused.
pub async fn execute(
    client: &LinkApiClient,
    json: bool,
    cmd: &StreamKeyCommand,
) -> Result<String, Failure> {
    match cmd {
        StreamKeyCommand::Show => {
            let k = call(client, |c, ctx| async move { c.stream_key(ctx).await }).await?;
            Ok(out(json, &k, key_text))
        }
        StreamKeyCommand::Rotate => {
            let r = call(
                client,
                |c, ctx| async move { c.rotate_stream_key(ctx).await },
            )
            .await?;
            Ok(out(json, &r, rotation_text))
        }
    }
}

/// What OBS needs, for a person.
pub fn key_text(k: &StreamKey) -> String {
    let mut s = format!(
        "server:      {}\nstream key:  {}\npublish URL: {}\n",
        k.server_url, k.stream_key, k.publish_url
    );
    if k.static_pair_accepted {
        s.push_str(
            "the earlier static publish password is accepted too, until the first rotation\n",
        );
    }
    s
}

/// A rotation, for a person.
pub fn rotation_text(r: &StreamKeyRotation) -> String {
    let stopped = match r.publisher_stopped {
        true => "the publisher using the old key was stopped\n",
        false => "the old key is refused from now on (a publisher already live goes on until it reconnects, unless the media server stops it)\n",
    };
    format!("new stream key\n{}{stopped}", key_text(&r.key))
}
