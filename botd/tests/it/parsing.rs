//! Property tests for what botd reads from Telegram: any message text and any button payload
//! parses without panicking, and a parsed command never invents a link id or a TTL that was
//! not in the text.

use botd::commands::{parse, Callback, Command};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_text_parses_without_panic(text in "\\PC{0,300}") {
        let _ = parse(&text);
    }

    #[test]
    fn commands_with_arbitrary_arguments(
        name in prop::sample::select(vec!["start", "help", "new", "newperm", "active", "status", "off", "offlast", "extend", "whoami", "bogus"]),
        args in "[ -~]{0,80}",
    ) {
        let text = format!("/{name} {args}");
        if let Ok(cmd) = parse(&text) {
            match cmd {
                Command::Off { id } => prop_assert!(text.contains(&id.to_string())),
                Command::Extend { id, ttl } => {
                    prop_assert!(text.contains(&id.to_string()));
                    prop_assert!(text.contains(&ttl));
                }
                Command::New { ttl: Some(ttl), .. } => prop_assert!(text.contains(&ttl)),
                _ => {}
            }
        }
    }

    #[test]
    fn any_button_payload_parses_without_panic(data in "\\PC{0,80}") {
        if let Some(cb) = Callback::parse(&data) {
            // What parses is what botd itself would have sent.
            prop_assert_eq!(Callback::parse(&cb.data()), Some(cb));
        }
    }
}
