//! botd's integration tests, one binary with a module per area, all on `common`: a fake
//! Telegram Bot API server, a tiny HLS origin and the real linkd.

mod common;

mod binary;
mod bot;
mod bot_audit;
mod bot_key;
mod bot_notify;
mod bot_sharing;
mod parsing;
mod upgrade;
