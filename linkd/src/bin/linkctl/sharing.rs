//! linkctl's sharing-limit commands: `new --max-viewers N --once`, `kick`, `rotate` and
//! `off --all`.

use super::{call, link_table, out};
use proto::client::CallError as Failure;
use proto::{Limits, Link, LinkApiClient};

/// `new`, with or without limits: one call, so a link never exists without its limits.
pub async fn create(
    client: &LinkApiClient,
    json: bool,
    ttl: &Option<String>,
    permanent: bool,
    note: &Option<String>,
    limits: Limits,
) -> Result<String, Failure> {
    let link = call(client, |c, ctx| async move {
        c.create_limited_link(ctx, ttl.clone(), permanent, note.clone(), limits)
            .await
    })
    .await?;
    Ok(out(json, &link, |l| link_table(std::slice::from_ref(l))))
}

/// `kick ID`.
pub async fn kick(client: &LinkApiClient, json: bool, id: i64) -> Result<String, Failure> {
    let link = call(client, |c, ctx| async move { c.kick_link(ctx, id).await }).await?;
    Ok(out(json, &link, |l| {
        format!(
            "link {}: its viewers were cut off; it plays for whoever opens it next\n",
            l.id
        )
    }))
}

/// `rotate ID`: the new URL is the one place the new token is shown.
pub async fn rotate(client: &LinkApiClient, json: bool, id: i64) -> Result<String, Failure> {
    let link = call(client, |c, ctx| async move { c.rotate_link(ctx, id).await }).await?;
    Ok(out(json, &link, |l| {
        format!(
            "link {} has a new URL (the old one and its viewers stopped):\n{}\n",
            l.id, l.url
        )
    }))
}

/// `off --all`.
pub async fn off_all(client: &LinkApiClient, json: bool) -> Result<String, Failure> {
    let links = call(client, |c, ctx| async move { c.disable_all(ctx).await }).await?;
    Ok(out(json, &links, |l: &Vec<Link>| {
        let ids: Vec<String> = l.iter().map(|l| l.id.to_string()).collect();
        match l.len() {
            1 => format!("1 link disabled: {}\n", ids[0]),
            n => format!("{n} links disabled: {}\n", ids.join(", ")),
        }
    }))
}

/// The LIMITS column of the link table.
pub fn limits_text(l: &Limits) -> String {
    match (l.max_viewers, l.once) {
        (None, false) => "-".into(),
        (None, true) => "once".into(),
        (Some(n), false) => format!("max {n}"),
        (Some(n), true) => format!("once, max {n}"),
    }
}
