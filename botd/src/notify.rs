//! The notification loop: waits for linkd's events, tells the allowed chats (those that did
//! not say `/notify off`) about the kinds listed in `NOTIFY`, then acknowledges them.
//!
//! A first open is announced at once. A stream change goes through [`Debounce`]: it is
//! announced once the new state has held for `NOTIFY_DEBOUNCE`, and only if it differs from
//! what was announced last, so a restart of linkd while live (it reports "live" again) or an
//! encoder that drops for a few seconds sends nothing. Delivery of first opens is at least
//! once; while linkd is unreachable the loop backs off and tries again.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use proto::{Event, EventKind};
use teloxide::{types::ChatId, Bot};

use crate::{debounce::Debounce, linkd::CallError, messages, telegram, App};

/// The consumer name botd's events are kept under in linkd.
pub const CONSUMER: &str = "botd";
/// How long one `next_events` call waits for something to happen, milliseconds.
const WAIT_MS: u32 = 25_000;
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Runs until the surrounding task is dropped.
pub async fn run(bot: Bot, app: Arc<App>) {
    let mut backoff = Duration::from_millis(250);
    let mut stream = Debounce::new(app.config.notify_debounce);
    loop {
        // Wake up when a pending stream change becomes due, if that comes first.
        let wait_ms = stream.deadline().map_or(WAIT_MS, |due| {
            let left = due.saturating_duration_since(Instant::now()).as_millis();
            left.min(u128::from(WAIT_MS)) as u32
        });
        let events = app
            .linkd
            .call_within(
                Duration::from_millis(u64::from(wait_ms) + 10_000),
                |c, ctx| async move { c.next_events(ctx, CONSUMER.to_string(), wait_ms).await },
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
                // A change that held while linkd was away is still worth telling.
                announce_due(&bot, &app, &mut stream).await;
                continue;
            }
        };
        for event in &events {
            match event.kind {
                EventKind::StreamLive => stream.observe(true, event.at, Instant::now()),
                EventKind::StreamOffline => stream.observe(false, event.at, Instant::now()),
                EventKind::LinkOpened { .. } => tell(&bot, &app, event).await,
            }
        }
        announce_due(&bot, &app, &mut stream).await;
        let Some(last) = events.last().map(|e| e.id) else {
            continue;
        };
        let acked = app
            .linkd
            .call(|c, ctx| async move { c.ack_events(ctx, CONSUMER.to_string(), last).await })
            .await;
        if let Err(e) = acked {
            tracing::warn!(error = %e, last, "events: could not acknowledge; they may be announced again");
        }
    }
}

/// Announces the stream's state if a change has held long enough.
async fn announce_due(bot: &Bot, app: &App, stream: &mut Debounce) {
    if let Some((live, at)) = stream.due(Instant::now()) {
        let kind = if live {
            EventKind::StreamLive
        } else {
            EventKind::StreamOffline
        };
        tell(bot, app, &Event { id: 0, at, kind }).await;
    }
}

/// Sends one event to every allowed chat that wants notifications.
async fn tell(bot: &Bot, app: &App, event: &Event) {
    let Some(reply) = messages::event(
        event,
        app.linkd.now(),
        app.config.time_zone,
        app.config.notify,
    ) else {
        return;
    };
    for chat in &app.config.allowed_chat_ids {
        if !app.notify_on(ChatId(*chat)) {
            continue;
        }
        // A chat that cannot be reached must not hold up the others or the ack.
        let _ = telegram::send(bot, ChatId(*chat), &reply).await;
    }
}
