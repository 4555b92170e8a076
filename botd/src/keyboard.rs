//! The keyboards: the reply keyboard under the phone's text field (with `/start` and
//! `/help`, and once per chat to replace an older one), and the `/new` lifetime choice.

use teloxide::types::{InlineKeyboardButton, KeyboardButton, KeyboardMarkup};

use crate::commands::{Callback, Choice, MENU};
use crate::messages::{escape, Markup, Reply};

/// The `/new` keyboard: one button per configured lifetime, then Permanent.
pub fn ttl_choice(options: &[String], note: Option<&str>, note_id: Option<u64>) -> Reply {
    let mut rows: Vec<Vec<InlineKeyboardButton>> = options
        .chunks(3)
        .map(|row| {
            row.iter()
                .map(|t| {
                    let cb = Callback::New {
                        choice: Choice::Ttl(t.clone()),
                        note_id,
                    };
                    InlineKeyboardButton::callback(t.clone(), cb.data())
                })
                .collect()
        })
        .collect();
    let perm = Callback::New {
        choice: Choice::Permanent,
        note_id,
    };
    rows.push(vec![InlineKeyboardButton::callback(
        "♾ Permanent",
        perm.data(),
    )]);
    let mut text = String::from("How long should the new link work?");
    if let Some(note) = note {
        text.push_str(&format!("\nNote: {}", escape(note)));
    }
    Reply::inline(text, rows)
}

/// `/start` and `/help`: what the bot does, its commands, and the reply keyboard.
pub fn help(ttl_options: &[String], default_ttl: Option<&str>) -> Reply {
    let mut text = String::from(
        "I make watch links for your live stream and switch them off again.\n\
         Send a link to the people you choose; it stops working when it expires or when you press <b>Disable</b>.\n",
    );
    for (name, description) in MENU {
        text.push_str(&format!("\n/{name} — {}", escape(description)));
    }
    if ttl_options.is_empty() {
        text.push_str("\n\n/new offers permanent links only.");
    } else {
        text.push_str(&format!(
            "\n\n/new without a lifetime offers {} and permanent. A lifetime is a duration like 30m, 1h30m or 2d.",
            escape(&ttl_options.join(", "))
        ));
    }
    Reply {
        text,
        markup: Markup::Keyboard(reply_keyboard(ttl_options, default_ttl)),
    }
}

/// The reply keyboard under the phone's text field: commands, so that what a button sends
/// reads the same as what the operator would type.
pub fn reply_keyboard(ttl_options: &[String], default_ttl: Option<&str>) -> KeyboardMarkup {
    let first_row = match (ttl_options.is_empty(), default_ttl) {
        (true, _) => vec![KeyboardButton::new("/newperm")],
        (false, Some(ttl)) => vec![
            KeyboardButton::new(format!("/new {ttl}")),
            KeyboardButton::new("/new"),
        ],
        (false, None) => vec![KeyboardButton::new("/new"), KeyboardButton::new("/newperm")],
    };
    KeyboardMarkup::new(vec![
        first_row,
        vec![
            KeyboardButton::new("/active"),
            KeyboardButton::new("/status"),
        ],
        vec![
            KeyboardButton::new("/offlast"),
            KeyboardButton::new("/help"),
        ],
    ])
    .resize_keyboard()
}

/// Sent after a reply that carries buttons of its own, the first time a chat is answered:
/// it puts the current reply keyboard in place of whatever the phone still shows.
pub fn keyboard_refresh(keyboard: KeyboardMarkup) -> Reply {
    Reply {
        text: "⌨️ The buttons under the text field are up to date; /help says what they do.".into(),
        markup: Markup::Keyboard(keyboard),
    }
}

/// The callback data of every button of `kb`, row by row (tests).
#[cfg(test)]
pub(crate) fn callback_data(kb: &teloxide::types::InlineKeyboardMarkup) -> Vec<String> {
    kb.inline_keyboard
        .iter()
        .flatten()
        .map(|b| {
            serde_json::to_value(b).unwrap()["callback_data"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_keyboard_has_options_and_permanent() {
        let r = ttl_choice(&["30m".into(), "1h".into()], Some("kids"), Some(5));
        let Markup::Inline(kb) = &r.markup else {
            panic!()
        };
        let data = callback_data(kb);
        assert_eq!(data, ["new:30m:5", "new:1h:5", "new:perm:5"]);
        let r = ttl_choice(&[], None, None);
        let Markup::Inline(kb) = &r.markup else {
            panic!()
        };
        assert_eq!(kb.inline_keyboard.len(), 1);
    }
}
