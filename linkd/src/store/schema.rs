//! The tables as diesel sees them, the same on SQLite and PostgreSQL (ids and Unix seconds
//! are 64-bit integers, flags 32-bit, keys bytes).

diesel::table! {
    watch_links (id) {
        id -> BigInt,
        token -> Text,
        enabled -> Integer,
        created_at -> BigInt,
        expires_at -> Nullable<BigInt>,
        disabled_at -> Nullable<BigInt>,
        note -> Text,
    }
}
diesel::table! {
    linkd_keys (name) {
        name -> Text,
        value -> Binary,
        created_at -> BigInt,
    }
}
diesel::table! {
    linkd_signing_keys (id) {
        id -> BigInt,
        value -> Binary,
        created_at -> BigInt,
        retired_at -> Nullable<BigInt>,
    }
}
diesel::table! {
    link_events (id) {
        id -> BigInt,
        at -> BigInt,
        kind -> Text,
        link_id -> Nullable<BigInt>,
        note -> Text,
        devices -> Integer,
    }
}
diesel::table! {
    link_audit (id) {
        id -> BigInt,
        at -> BigInt,
        link_id -> BigInt,
        kind -> Text,
        actor -> Nullable<Text>,
        expires_at -> Nullable<BigInt>,
        client -> Nullable<Text>,
        browser -> Nullable<Text>,
        device -> Nullable<Text>,
        seconds -> Nullable<BigInt>,
        bytes -> Nullable<BigInt>,
    }
}
diesel::table! {
    event_cursors (consumer) {
        consumer -> Text,
        last_id -> BigInt,
    }
}
diesel::table! {
    link_opens (link_id) {
        link_id -> BigInt,
        first_opened_at -> BigInt,
    }
}
diesel::table! {
    linkd_stream_key (id) {
        id -> BigInt,
        value -> Text,
        created_at -> BigInt,
        legacy_ok -> Integer,
    }
}
diesel::table! {
    link_greetings (link_id) {
        link_id -> BigInt,
        greeting -> Text,
    }
}
diesel::table! {
    linkd_presence (gate, link_id) {
        gate -> Text,
        link_id -> BigInt,
        viewers -> Integer,
        seen_at -> BigInt,
    }
}
