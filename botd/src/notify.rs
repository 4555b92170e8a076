//! The notification loop: waits for linkd's events, tells the allowed chats about the kinds
//! listed in `NOTIFY`, then acknowledges them. Delivery is at least once; while linkd is
//! unreachable the loop backs off and tries again.

use std::{sync::Arc, time::Duration};

use teloxide::{types::ChatId, Bot};

use crate::{linkd::CallError, messages, telegram, App};

/// The consumer name botd's events are kept under in linkd.
pub const CONSUMER: &str = "botd";
/// How long one `next_events` call waits for something to happen, milliseconds.
const WAIT_MS: u32 = 25_000;
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Runs until the surrounding task is dropped.
pub async fn run(bot: Bot, app: Arc<App>) {
    let mut backoff = Duration::from_millis(250);
    loop {
        let events = app
            .linkd
            .call_within(
                Duration::from_millis(u64::from(WAIT_MS) + 10_000),
                |c, ctx| async move { c.next_events(ctx, CONSUMER.to_string(), WAIT_MS).await },
            )
            .await;
        let events = match events {
            Ok(ev) => {
                backoff = Duration::from_millis(250);
                ev
            }
            Err(e) => {
                match &e {
                    CallError::Unreachable(_) => {
                        tracing::debug!(error = %e, "events: linkd unreachable; retrying in {backoff:?}")
                    }
                    CallError::Api(_) => {
                        tracing::warn!(error = %e, "events: linkd refused; retrying in {backoff:?}")
                    }
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        let Some(last) = events.last().map(|e| e.id) else {
            continue;
        };
        for event in &events {
            let Some(reply) = messages::event(
                event,
                app.linkd.now(),
                app.config.time_zone,
                app.config.notify,
            ) else {
                continue;
            };
            for chat in &app.config.allowed_chat_ids {
                // A chat that cannot be reached must not hold up the others or the ack.
                let _ = telegram::send(&bot, ChatId(*chat), &reply).await;
            }
        }
        let acked = app
            .linkd
            .call(|c, ctx| async move { c.ack_events(ctx, CONSUMER.to_string(), last).await })
            .await;
        if let Err(e) = acked {
            tracing::warn!(error = %e, last, "events: could not acknowledge; they may be announced again");
        }
    }
}
