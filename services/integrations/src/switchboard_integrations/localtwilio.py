"""A small local Twilio-compatible Messages API (Twilio has no emulator), for tests and `make run`.

    TWILIO_AUTH_TOKEN=… python -m switchboard_integrations.localtwilio --host 127.0.0.1 --port 8430

It checks and signs with `TWILIO_AUTH_TOKEN` (required: `make run` generates one per data
folder and hands the same one to the integrations service and the gateway).

The real `twilio` SDK talks to it (`client.api.base_url = "http://127.0.0.1:8430"`):

- `POST /2010-04-01/Accounts/<sid>/Messages.json` creates a message (HTTP Basic auth with the
  account SID and auth token; 401 otherwise) and answers it `queued`;
- `GET .../Messages/<message sid>.json` fetches it; `GET /2010-04-01/Accounts/<sid>.json` the account;
- the message's `StatusCallback` then receives `queued`, `sent`, `delivered` as form posts
  signed with the auth token exactly as Twilio signs them (`X-Twilio-Signature`: base64 of
  HMAC-SHA1 over the URL followed by each parameter name and value, sorted by name).

Magic numbers, after Twilio's test credentials: `To` +15005550001 (invalid, 21211),
+15005550002 (cannot route, 21612), +15005550004 (blocked, 21610) and +15005550009 (not
SMS-capable, 21614) are refused at once with 400; +15005550010 is accepted and then reported
`sent` → `undelivered` (error 30003) by its status callbacks.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import os
import threading
import time
import uuid
from datetime import UTC, datetime
from http.server import ThreadingHTTPServer
from typing import Any

import httpx
from switchboard_shared.required import refuse_to_start

from .localtwilio_http import TwilioHandler

REFUSED = {
    "+15005550001": (21211, "The 'To' number {to} is not a valid phone number."),
    "+15005550002": (21612, "The 'To' phone number: {to}, is not currently reachable."),
    "+15005550004": (21610, "Attempt to send to unsubscribed recipient"),
    "+15005550009": (21614, "'To' number is not a valid mobile number"),
}
UNDELIVERABLE = {"+15005550010": 30003}
API_VERSION = "2010-04-01"
LOCAL_ACCOUNT_SID = "AC00000000000000000000000000000000"  # not a secret: Twilio's test SID form


def twilio_signature(auth_token: str, url: str, params: dict[str, str]) -> str:
    """How Twilio signs a request to your server (written from Twilio's documentation)."""
    payload = url + "".join(name + params[name] for name in sorted(params))
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


class LocalTwilio:
    def __init__(
        self,
        auth_token: str,
        host: str = "127.0.0.1",
        port: int = 8430,
        account_sid: str = LOCAL_ACCOUNT_SID,
        callback_delay: float = 0.2,
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.callback_delay = callback_delay
        self.messages: dict[str, dict[str, Any]] = {}
        self.callbacks: list[tuple[str, dict[str, str], int]] = []
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer((host, port), TwilioHandler)
        self.server.daemon_threads = True
        self.server.twilio = self  # type: ignore[attr-defined]
        self.port = int(self.server.server_address[1])
        self.url = f"http://{host}:{self.port}"

    def start(self) -> LocalTwilio:
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def authorized(self, header: str | None) -> bool:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return header is not None and hmac.compare_digest(header, f"Basic {expected}")

    def create_message(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        to, sender = form.get("To", ""), form.get("From", "")
        if not to or not (form.get("Body") or form.get("MediaUrl")):
            return 400, error(21602, "Message body is required.", 400)
        if to in REFUSED:
            code, text = REFUSED[to]
            return 400, error(code, text.format(to=to), 400)
        sid = f"SM{uuid.uuid4().hex}"
        now = datetime.now(UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")
        message = {
            "sid": sid,
            "account_sid": self.account_sid,
            "to": to,
            "from": sender,
            "body": form.get("Body", ""),
            "status": "queued",
            "num_segments": "1",
            "direction": "outbound-api",
            "api_version": API_VERSION,
            "date_created": now,
            "date_updated": now,
            "date_sent": None,
            "error_code": None,
            "error_message": None,
            "price": None,
            "uri": f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}.json",
        }
        with self.lock:
            self.messages[sid] = message
        callback = form.get("StatusCallback")
        if callback:
            threading.Thread(target=self._report, args=(sid, callback), daemon=True).start()
        return 201, message

    def _report(self, sid: str, callback: str) -> None:
        message = self.messages[sid]
        failing = UNDELIVERABLE.get(message["to"])
        statuses = ["queued", "sent", "undelivered" if failing else "delivered"]
        for status in statuses:
            time.sleep(self.callback_delay)
            with self.lock:
                message["status"] = status
                if status == "undelivered":
                    message["error_code"] = failing
            self.send_callback(callback, message, status, failing)

    def send_callback(
        self, url: str, message: dict[str, Any], status: str, error_code: int | None = None
    ) -> int:
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": API_VERSION,
            "From": message["from"],
            "MessageSid": message["sid"],
            "MessageStatus": status,
            "SmsSid": message["sid"],
            "SmsStatus": status,
            "To": message["to"],
        }
        if error_code is not None:
            params["ErrorCode"] = str(error_code)
        headers = {"X-Twilio-Signature": twilio_signature(self.auth_token, url, params)}
        try:
            answer = httpx.post(url, data=params, headers=headers, timeout=10).status_code
        except httpx.HTTPError:
            answer = 0
        with self.lock:
            self.callbacks.append((status, params, answer))
        return answer


def error(code: int, message: str, status: int) -> dict[str, Any]:
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8430)
    parser.add_argument("--account-sid", default=os.environ.get("TWILIO_ACCOUNT_SID"))
    parser.add_argument("--callback-delay", type=float, default=0.5)
    args = parser.parse_args(argv)
    # The token from the environment only (a command line shows in the process list), and the
    # same one the integrations service and the gateway are given: no default.
    token = os.environ.get("TWILIO_AUTH_TOKEN", "")
    if not token:
        refuse_to_start("switchboard-localtwilio", ["TWILIO_AUTH_TOKEN"])
    sid = args.account_sid or LOCAL_ACCOUNT_SID
    twilio = LocalTwilio(token, args.host, args.port, sid, args.callback_delay)
    print(f"local Twilio Messages API on {twilio.url}", flush=True)
    try:
        twilio.server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        twilio.server.server_close()


if __name__ == "__main__":
    main()
