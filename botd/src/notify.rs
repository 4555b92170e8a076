//! The notification loop: waits for linkd's events, tells the allowed chats (those that did
//! not say `/notify off`) about the kinds listed in `NOTIFY`, then acknowledges them.
//!
//! A link opened on a new device is announced at once. A stream change goes through [`Debounce`]: it is
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

use chrono_tz::Tz;
use teloxide::types::InlineKeyboardButton;

use crate::{
    commands::Callback,
    debounce::Debounce,
    linkd::CallError,
    messages::{clock, escape, Reply},
    telegram, App,
};

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
            if event.from_media_server {
                // The media server's own word, not a guess of the probe: no need to wait.
                stream.confirmed();
            }
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
        tell(
            bot,
            app,
            &Event {
                id: 0,
                at,
                kind,
                from_media_server: false,
            },
        )
        .await;
    }
}

/// Sends one event to every allowed chat that wants notifications.
async fn tell(bot: &Bot, app: &App, what: &Event) {
    let Some(reply) = event(
        what,
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

/// `/notify`: whether this chat gets notifications, and which kinds the bot sends.
pub fn notify_setting(on: bool, kinds: crate::config::Notify) -> Reply {
    let mut what = Vec::new();
    if kinds.live || kinds.offline {
        what.push("when the stream goes live or offline");
    }
    if kinds.opened {
        what.push("when a link is opened on a new device");
    }
    let text = match (on, what.is_empty()) {
        (_, true) => "This bot sends no notifications (NOTIFY is empty in its settings).".into(),
        (true, false) => format!(
            "🔔 Notifications are on in this chat: I write {}. /notify off silences them.",
            what.join(" and ")
        ),
        (false, false) => "🔕 Notifications are off in this chat until /notify on (or until the bot restarts; NOTIFY in its settings applies to every chat).".into(),
    };
    Reply::text(text)
}

/// A notification, or `None` for a kind the operator did not ask for.
pub fn event(e: &Event, now: i64, tz: Tz, notify: crate::config::Notify) -> Option<Reply> {
    match &e.kind {
        EventKind::StreamLive if notify.live => Some(Reply::text(format!(
            "🔴 The stream is live (since {}).",
            clock(e.at, now, tz)
        ))),
        EventKind::StreamOffline if notify.offline => Some(Reply::text(format!(
            "⚫ The stream went offline ({}).",
            clock(e.at, now, tz)
        ))),
        EventKind::LinkOpened {
            link_id,
            note,
            devices,
        } if notify.opened => {
            let who = if note.is_empty() {
                String::new()
            } else {
                format!(" · {}", escape(note))
            };
            let button = InlineKeyboardButton::callback(
                format!("⛔ Disable #{link_id}"),
                Callback::Off(*link_id).data(),
            );
            let how = match devices {
                0 | 1 => "for the first time".to_string(),
                n => format!("on another device ({n} devices so far)"),
            };
            Some(Reply::inline(
                format!(
                    "👀 <b>Link #{link_id}</b>{who} was opened {how} ({}).",
                    clock(e.at, now, tz)
                ),
                vec![vec![button]],
            ))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::UTC;

    // 2024-05-01 16:30:00 UTC.
    const T: i64 = 1_714_581_000;

    #[test]
    fn events_follow_notify() {
        use crate::config::Notify;
        let all = Notify {
            live: true,
            offline: true,
            opened: true,
        };
        let live = Event {
            id: 1,
            at: T,
            kind: EventKind::StreamLive,
            from_media_server: false,
        };
        assert!(event(&live, T, UTC, all).unwrap().text.contains("live"));
        assert_eq!(event(&live, T, UTC, Notify::default()), None);
        let opened = Event {
            id: 2,
            at: T,
            kind: EventKind::LinkOpened {
                link_id: 4,
                note: "x".into(),
                devices: 1,
            },
            from_media_server: false,
        };
        let r = event(&opened, T, UTC, all).unwrap();
        assert!(
            r.text
                .contains("Link #4</b> · x was opened for the first time"),
            "{}",
            r.text
        );
        let second = Event {
            kind: EventKind::LinkOpened {
                link_id: 4,
                note: "x".into(),
                devices: 2,
            },
            ..opened
        };
        let r = event(&second, T, UTC, all).unwrap();
        assert!(
            r.text
                .contains("was opened on another device (2 devices so far)"),
            "{}",
            r.text
        );
    }
}
