#!/usr/bin/env python3
"""A fake Telegram Bot API server for the end-to-end run, Python standard library only.

    python3 e2e/fake_telegram.py --port PORT --token TOKEN

botd talks to it as to api.telegram.org (TELEGRAM_API_URL=http://127.0.0.1:PORT): getMe,
getWebhookInfo, deleteWebhook, setMyCommands, answerCallbackQuery, sendMessage,
editMessageText/ReplyMarkup, and getUpdates with long polling. The test drives it on two
extra routes:

    POST /_say   {"chat_id": N, "text": "/extend 3 10m"}   a person sends the bot a message
    GET  /_sent  every text the bot sent or edited, in order, as a JSON list

Listens on 127.0.0.1 only.
"""
import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BOT = {"id": 7000001, "is_bot": True, "first_name": "tempstream", "username": "tempstream_bot"}


class State:
    def __init__(self, token):
        self.token = token
        self.cond = threading.Condition()
        self.updates = []
        self.next_update = 1000
        self.next_message = 1
        self.sent = []

    def say(self, chat_id, text):
        with self.cond:
            self.next_update += 1
            self.next_message += 1
            msg = {"message_id": self.next_message, "date": int(time.time()), "text": text,
                   "from": {"id": abs(chat_id), "is_bot": False, "first_name": "Person"},
                   "chat": {"id": chat_id, "type": "private", "first_name": "Person"}}
            if text.startswith("/"):
                msg["entities"] = [{"type": "bot_command", "offset": 0,
                                    "length": len(text.split()[0].encode("utf-16-le")) // 2}]
            self.updates.append({"update_id": self.next_update, "message": msg})
            self.cond.notify_all()

    def get_updates(self, body):
        offset = int(body.get("offset") or 0)
        deadline = time.monotonic() + min(float(body.get("timeout") or 0), 30)
        with self.cond:
            while True:
                self.updates = [u for u in self.updates if u["update_id"] >= offset]
                left = deadline - time.monotonic()
                if self.updates or left <= 0:
                    return self.updates[: int(body.get("limit") or 100)]
                self.cond.wait(left)

    def message(self, body, method):
        with self.cond:
            self.sent.append(body.get("text") or "")
            if method == "sendMessage":
                self.next_message += 1
            mid = body.get("message_id") or self.next_message
        chat_id = body.get("chat_id")
        return {"message_id": mid, "from": BOT, "date": int(time.time()), "text": body.get("text") or "",
                "chat": {"id": chat_id, "type": "private", "first_name": "Person"}}


def handler(state):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def reply(self, code, doc):
            data = json.dumps(doc).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def body(self):
            n = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(n) if n else b""
            try:
                return json.loads(raw) if raw else {}
            except ValueError:
                return {}

        def do_GET(self):
            if self.path == "/_sent":
                with state.cond:
                    return self.reply(200, list(state.sent))
            self.api()

        def do_POST(self):
            if self.path == "/_say":
                b = self.body()
                state.say(int(b["chat_id"]), b["text"])
                return self.reply(200, {"ok": True})
            self.api()

        def api(self):
            parts = self.path.split("?")[0].split("/")
            if len(parts) != 3 or parts[1] != "bot" + state.token:
                return self.reply(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
            method = parts[2].lower()
            body = self.body()
            if method == "getupdates":
                result = state.get_updates(body)
            elif method == "getme":
                result = dict(BOT, can_join_groups=True, can_read_all_group_messages=False,
                              supports_inline_queries=False, can_connect_to_business=False,
                              has_main_web_app=False)
            elif method == "getwebhookinfo":
                result = {"url": "", "has_custom_certificate": False, "pending_update_count": 0}
            elif method in ("deletewebhook", "setmycommands", "answercallbackquery"):
                result = True
            elif method == "sendmessage":
                result = state.message(body, "sendMessage")
            elif method in ("editmessagetext", "editmessagereplymarkup"):
                result = state.message(body, "edit")
            else:
                return self.reply(404, {"ok": False, "error_code": 404, "description": "Not Found"})
            self.reply(200, {"ok": True, "result": result})

    return Handler


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--token", required=True)
    a = ap.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", a.port), handler(State(a.token)))
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
