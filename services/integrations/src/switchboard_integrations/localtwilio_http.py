"""The HTTP face of the local Twilio Messages API (see `localtwilio`)."""

from __future__ import annotations

import json
import re
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl

ACCOUNT = re.compile(r"^/2010-04-01/Accounts/(?P<account>AC\w+)(?P<rest>.*)$")
MESSAGE = re.compile(r"^/Messages/(?P<sid>SM\w+)\.json$")


class TwilioHandler(BaseHTTPRequestHandler):
    server_version = "LocalTwilio/1"

    def log_message(self, *args: Any) -> None:
        pass

    @property
    def twilio(self) -> Any:
        return self.server.twilio  # type: ignore[attr-defined]

    def reply(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def route(self) -> tuple[str, str] | None:
        """(account sid, rest of the path) once authenticated; None after answering an error."""
        match = ACCOUNT.match(self.path.split("?", 1)[0])
        if match is None:
            self.reply(404, {"code": 20404, "message": "not found", "status": 404})
            return None
        if not self.twilio.authorized(self.headers.get("authorization")) or (
            match["account"] != self.twilio.account_sid
        ):
            self.reply(401, {"code": 20003, "message": "Authenticate", "status": 401})
            return None
        return match["account"], match["rest"]

    def do_GET(self) -> None:
        routed = self.route()
        if routed is None:
            return
        account, rest = routed
        if rest == ".json":
            self.reply(200, {"sid": account, "status": "active", "friendly_name": "local"})
            return
        found = MESSAGE.match(rest)
        message = self.twilio.messages.get(found["sid"]) if found else None
        if message is None:
            self.reply(404, {"code": 20404, "message": "not found", "status": 404})
            return
        self.reply(200, message)

    def do_POST(self) -> None:
        routed = self.route()
        if routed is None:
            return
        length = int(self.headers.get("content-length") or 0)
        form = dict(parse_qsl(self.rfile.read(length).decode(), keep_blank_values=True))
        if routed[1] != "/Messages.json":
            self.reply(404, {"code": 20404, "message": "not found", "status": 404})
            return
        status, body = self.twilio.create_message(form)
        self.reply(status, body)
