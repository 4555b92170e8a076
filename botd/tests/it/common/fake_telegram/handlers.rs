//! The fake Bot API's request handling: routing `POST /bot<TOKEN>/<method>`, the JSON
//! answers and errors, and what `getUpdates`, `sendMessage`, the edits and `deleteMessage`
//! do to its state.

use super::*;

fn ok(result: Value) -> Response<Full<Bytes>> {
    respond(StatusCode::OK, json!({"ok": true, "result": result}))
}

fn fail(status: StatusCode, description: &str) -> Response<Full<Bytes>> {
    respond(
        status,
        json!({"ok": false, "error_code": status.as_u16(), "description": description}),
    )
}

fn respond(status: StatusCode, body: Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("valid response")
}

pub(super) async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_string();
    let Some((token, method)) = path.strip_prefix("/bot").and_then(|p| p.split_once('/')) else {
        return Ok(fail(StatusCode::NOT_FOUND, "Not Found"));
    };
    if token != shared.token {
        return Ok(fail(StatusCode::UNAUTHORIZED, "Unauthorized"));
    }
    // Method names are case-insensitive (teloxide sends `GetMe`); keep the documented spelling.
    let method = canonical(method);
    let bytes = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return Ok(fail(
                StatusCode::BAD_REQUEST,
                "Bad Request: unreadable body",
            ))
        }
    };
    let body: Value = if bytes.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice(&bytes) {
            Ok(v) => v,
            Err(_) => {
                return Ok(fail(
                    StatusCode::BAD_REQUEST,
                    "Bad Request: body is not JSON",
                ))
            }
        }
    };
    if method == "getUpdates" {
        return Ok(match get_updates(&shared, &body).await {
            Ok(v) => ok(v),
            Err((status, d)) => fail(status, &d),
        });
    }
    let outcome = match method.as_str() {
        "getMe" => Ok(json!({
            "id": BOT_ID, "is_bot": true, "first_name": "tempstream", "username": "tempstream_bot",
            "can_join_groups": true, "can_read_all_group_messages": false,
            "supports_inline_queries": false, "can_connect_to_business": false,
            "has_main_web_app": false,
        })),
        "getWebhookInfo" => {
            Ok(json!({"url": "", "has_custom_certificate": false, "pending_update_count": 0}))
        }
        "deleteWebhook" | "setMyCommands" | "answerCallbackQuery" => Ok(json!(true)),
        "sendMessage" => send_message(&shared, &body),
        "editMessageText" | "editMessageReplyMarkup" => edit_message(&shared, &method, &body),
        "deleteMessage" => delete_message(&shared, &body),
        _ => Err((
            StatusCode::NOT_FOUND,
            "Not Found: method not found".to_string(),
        )),
    };
    {
        let mut s = lock(&shared.state);
        let seq = s.calls.len();
        let result = outcome.as_ref().map_or(Value::Null, Clone::clone);
        s.calls.push(Call {
            seq,
            method: method.clone(),
            body,
            result,
        });
    }
    shared.called.notify_waiters();
    Ok(match outcome {
        Ok(v) => ok(v),
        Err((status, d)) => fail(status, &d),
    })
}

const METHODS: &[&str] = &[
    "getMe",
    "getUpdates",
    "getWebhookInfo",
    "deleteWebhook",
    "setMyCommands",
    "answerCallbackQuery",
    "sendMessage",
    "editMessageText",
    "editMessageReplyMarkup",
    "deleteMessage",
];

fn canonical(method: &str) -> String {
    METHODS
        .iter()
        .find(|m| m.eq_ignore_ascii_case(method))
        .map_or_else(|| method.to_string(), |m| m.to_string())
}

type Outcome = Result<Value, (StatusCode, String)>;

fn bad(status: StatusCode, d: &str) -> Outcome {
    Err((status, d.to_string()))
}

async fn get_updates(shared: &Shared, body: &Value) -> Outcome {
    let offset = body["offset"].as_i64().unwrap_or(0);
    let timeout = Duration::from_secs(body["timeout"].as_u64().unwrap_or(0));
    let limit = body["limit"].as_u64().unwrap_or(100) as usize;
    let deadline = Instant::now() + timeout;
    loop {
        let notified = shared.updates_changed.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let ready: Vec<Value> = {
            let mut s = lock(&shared.state);
            // An offset confirms every update before it, as in the real API.
            s.updates
                .retain(|u| u["update_id"].as_i64().unwrap_or(0) >= offset);
            s.updates.iter().take(limit).cloned().collect()
        };
        let left = deadline.saturating_duration_since(Instant::now());
        if !ready.is_empty() || left.is_zero() {
            return Ok(Value::Array(ready));
        }
        let _ = tokio::time::timeout(left, notified).await;
    }
}

fn inline_only(markup: &Value) -> Option<Value> {
    markup.get("inline_keyboard").map(|_| markup.clone())
}

fn send_message(shared: &Shared, body: &Value) -> Outcome {
    let Some(chat_id) = body["chat_id"].as_i64() else {
        return bad(StatusCode::BAD_REQUEST, "Bad Request: chat_id is empty");
    };
    let Some(text) = body["text"].as_str().filter(|t| !t.is_empty()) else {
        return bad(
            StatusCode::BAD_REQUEST,
            "Bad Request: message text is empty",
        );
    };
    if text.encode_utf16().count() > 4096 * 2 {
        return bad(StatusCode::BAD_REQUEST, "Bad Request: message is too long");
    }
    let mut s = lock(&shared.state);
    if s.blocked.contains(&chat_id) {
        return bad(
            StatusCode::FORBIDDEN,
            "Forbidden: bot was blocked by the user",
        );
    }
    s.next_message_id += 1;
    let message_id = s.next_message_id;
    let mut message = json!({
        "message_id": message_id,
        "from": bot_user(),
        "chat": chat(chat_id),
        "date": unix_now(),
        "text": text,
    });
    if let Some(markup) = inline_only(&body["reply_markup"]) {
        message["reply_markup"] = markup;
    }
    s.messages.insert((chat_id, message_id), message.clone());
    Ok(message)
}

fn edit_message(shared: &Shared, method: &str, body: &Value) -> Outcome {
    let (Some(chat_id), Some(message_id)) = (body["chat_id"].as_i64(), body["message_id"].as_i64())
    else {
        return bad(
            StatusCode::BAD_REQUEST,
            "Bad Request: message identifier is not specified",
        );
    };
    let mut s = lock(&shared.state);
    let Some(message) = s.messages.get_mut(&(chat_id, message_id)) else {
        return bad(
            StatusCode::BAD_REQUEST,
            "Bad Request: message to edit not found",
        );
    };
    if method == "editMessageText" {
        message["text"] = body["text"].clone();
    }
    match inline_only(&body["reply_markup"]) {
        Some(markup) => message["reply_markup"] = markup,
        None => {
            if let Some(m) = message.as_object_mut() {
                m.remove("reply_markup");
            }
        }
    }
    message["edit_date"] = json!(unix_now());
    Ok(message.clone())
}

fn delete_message(shared: &Shared, body: &Value) -> Outcome {
    let (Some(chat_id), Some(message_id)) = (body["chat_id"].as_i64(), body["message_id"].as_i64())
    else {
        return bad(
            StatusCode::BAD_REQUEST,
            "Bad Request: message identifier is not specified",
        );
    };
    let mut s = shared.state.lock().unwrap_or_else(|p| p.into_inner());
    match s.messages.remove(&(chat_id, message_id)) {
        Some(_) => Ok(json!(true)),
        None => bad(
            StatusCode::BAD_REQUEST,
            "Bad Request: message to delete not found",
        ),
    }
}
