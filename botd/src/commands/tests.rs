//! The command parser's tables: every command, its spellings and its usage errors.

use super::*;

fn new(ttl: Option<&str>, note: Option<&str>) -> Command {
    Command::New {
        ttl: ttl.map(Into::into),
        note: note.map(Into::into),
        limits: proto::Limits::default(),
    }
}

type Cases = Vec<(&'static str, Result<Command, ParseError>)>;

fn check(cases: Cases) {
    for (input, want) in cases {
        assert_eq!(parse(input), want, "{input:?}");
    }
}

#[test]
fn who_watched_commands() {
    use Command::*;
    check(vec![
        ("/log 7", Ok(Log { id: 7 })),
        ("/log #7", Ok(Log { id: 7 })),
        ("/log", Err(ParseError::Usage(USAGE_LOG))),
        ("/log 7 8", Err(ParseError::Usage(USAGE_LOG))),
        ("/viewers", Ok(Viewers)),
        ("/viewers@tempstream_bot", Ok(Viewers)),
    ]);
}

#[test]
fn parse_start_and_keyboard_buttons() {
    use Command::*;
    check(vec![
        ("/start", Ok(Start)),
        ("/start hello", Ok(Start)),
        ("/start off_12", Ok(Off { id: 12 })),
        ("/start off_x", Ok(Start)),
        ("/start disable_12", Ok(Off { id: 12 })),
        ("/start disable_", Ok(Start)),
        ("🟢 30 minutes", Ok(new(Some("30m"), None))),
        ("🟢 1 hour", Ok(new(Some("1h"), None))),
        ("🟢 3 hours", Ok(new(Some("3h"), None))),
        ("🟢 1h30m0s", Ok(new(Some("1h30m0s"), None))),
        ("🟢 soon", Err(ParseError::NotACommand)),
        ("🟢 x hours", Err(ParseError::NotACommand)),
        ("♾ Permanent", Ok(NewPerm { note: None })),
        ("♾\u{fe0f} Permanent", Ok(NewPerm { note: None })),
        ("📋 Active", Ok(Active)),
        ("📡 Status", Ok(Status)),
        ("⛔ Disable last", Ok(OffLast)),
        ("Menu", Ok(Start)),
        ("menu please", Err(ParseError::NotACommand)),
    ]);
}

#[test]
fn parse_link_creation() {
    use Command::*;
    check(vec![
        ("/help", Ok(Help)),
        ("/HELP@tempstream_bot", Ok(Help)),
        ("/new", Ok(new(None, None))),
        ("/new 90m", Ok(new(Some("90m"), None))),
        (
            "/new 1h30m grandma and grandpa",
            Ok(new(Some("1h30m"), Some("grandma and grandpa"))),
        ),
        ("/new grandma", Ok(new(None, Some("grandma")))),
        (
            "/new@tempstream_bot 2d  kids  ",
            Ok(new(Some("2d"), Some("kids"))),
        ),
        ("/new 5 x", Ok(new(Some("5"), Some("x")))),
        ("/newperm", Ok(NewPerm { note: None })),
        (
            "/newperm  the family ",
            Ok(NewPerm {
                note: Some("the family".into()),
            }),
        ),
    ]);
}

#[test]
fn parse_link_management() {
    use Command::*;
    check(vec![
        ("/active", Ok(Active)),
        ("/status", Ok(Status)),
        ("/off 7", Ok(Off { id: 7 })),
        ("/off #7", Ok(Off { id: 7 })),
        ("/off", Err(ParseError::Usage(USAGE_OFF))),
        ("/off seven", Err(ParseError::Usage(USAGE_OFF))),
        ("/off 0", Err(ParseError::Usage(USAGE_OFF))),
        ("/off 7 8", Err(ParseError::Usage(USAGE_OFF))),
        ("/offlast", Ok(OffLast)),
        (
            "/extend 3 2h",
            Ok(Extend {
                id: 3,
                ttl: "2h".into(),
            }),
        ),
        ("/extend 3", Err(ParseError::Usage(USAGE_EXTEND))),
        ("/extend x 2h", Err(ParseError::Usage(USAGE_EXTEND))),
        ("/extend 3 2h more", Err(ParseError::Usage(USAGE_EXTEND))),
    ]);
}

#[test]
fn parse_settings_and_unknowns() {
    use Command::*;
    check(vec![
        ("/whoami", Ok(WhoAmI)),
        ("/key", Ok(Key)),
        ("/KEY@tempstream_bot", Ok(Key)),
        ("/rotatekey", Ok(RotateKey)),
        (
            "/greet 7 Hello Grandma!",
            Ok(Greet {
                id: 7,
                text: Some("Hello Grandma!".into()),
            }),
        ),
        ("/greet 7", Ok(Greet { id: 7, text: None })),
        ("/greet", Err(ParseError::Usage(USAGE_GREET))),
        ("/notify", Ok(Notify { on: None })),
        ("/notify OFF", Ok(Notify { on: Some(false) })),
        ("/notify on", Ok(Notify { on: Some(true) })),
        ("/notify loud", Err(ParseError::Usage(USAGE_NOTIFY))),
        (
            "/frobnicate",
            Err(ParseError::Unknown("/frobnicate".into())),
        ),
        ("hello", Err(ParseError::NotACommand)),
        ("", Err(ParseError::NotACommand)),
    ]);
}

#[test]
fn callback_round_trip() {
    let cases = [
        (Callback::Off(42), "off:42"),
        (Callback::RotateKey(true), "rotatekey:yes"),
        (Callback::RotateKey(false), "rotatekey:no"),
        (Callback::OffAll(true), "offall:yes"),
        (Callback::OffAll(false), "offall:no"),
        (
            Callback::New {
                choice: Choice::Ttl("30m".into()),
                note_id: None,
            },
            "new:30m",
        ),
        (
            Callback::New {
                choice: Choice::Permanent,
                note_id: Some(3),
            },
            "new:perm:3",
        ),
    ];
    for (cb, data) in cases {
        assert_eq!(cb.data(), data);
        assert_eq!(Callback::parse(data), Some(cb));
    }
}

#[test]
fn foreign_callback_data_is_refused() {
    for data in [
        "",
        "off",
        "off:",
        "off:x",
        "off:-1",
        "off:1:2",
        "new",
        "new:",
        "new:soon",
        "new:1h:x",
        "x:1",
        "rotatekey",
        "rotatekey:maybe",
        "rotatekey:yes:1",
        "offall",
        "offall:maybe",
        "offall:yes:1",
    ] {
        assert_eq!(Callback::parse(data), None, "{data:?}");
    }
}

#[test]
fn menu_names_are_valid_bot_commands() {
    for (name, description) in MENU {
        assert!(name.chars().all(|c| c.is_ascii_lowercase()), "{name}");
        assert!((3..=256).contains(&description.len()), "{name}");
        assert!(parse(&format!("/{name} 1 1h")) != Err(ParseError::Unknown(format!("/{name}"))));
    }
}
