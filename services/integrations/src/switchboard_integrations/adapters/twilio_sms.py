"""SMS through the real `twilio` SDK, pointed at Twilio or at the local Messages API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from switchboard_shared.failures import (
    ClassifiedError,
    FailureClass,
    ProviderError,
    register_classifier,
)
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client


@dataclass(frozen=True)
class SentMessage:
    sid: str
    status: str


class SmsRejected(Exception):
    """Twilio refused this message for good (a bad number, a blocked destination)."""

    def __init__(self, code: int | None, message: str) -> None:
        super().__init__(f"Twilio refused the message ({code}): {message}")
        self.code = code


class SmsProvider(Protocol):
    def send(self, to: str, body: str, status_callback: str) -> SentMessage: ...
    def check_credentials(self) -> None: ...


class TwilioSms:
    def __init__(
        self, account_sid: str, auth_token: str, base_url: str, sender: str, timeout: float
    ) -> None:
        self.sender = sender
        self.account_sid = account_sid
        self.client = Client(account_sid, auth_token, http_client=TwilioHttpClient(timeout=timeout))
        self.client.api.base_url = base_url.rstrip("/")

    def send(self, to: str, body: str, status_callback: str) -> SentMessage:
        try:
            message = self.client.messages.create(
                to=to, from_=self.sender, body=body, status_callback=status_callback
            )
        except TwilioRestException as exc:
            raise _translate(exc) from exc
        return SentMessage(sid=str(message.sid), status=str(message.status))

    def check_credentials(self) -> None:
        """Fetch the account: a wrong SID or token answers 401."""
        try:
            self.client.api.v2010.accounts(self.account_sid).fetch()
        except TwilioRestException as exc:
            raise _translate(exc) from exc


def _translate(exc: TwilioRestException) -> Exception:
    if exc.status == 400:
        return SmsRejected(exc.code, exc.msg)
    return ProviderError(f"Twilio answered {exc.status}: {exc.msg}", status=exc.status)


def _classify_twilio(exc: BaseException) -> FailureClass | None:
    if isinstance(exc, SmsRejected):
        return FailureClass.PROVIDER_4XX
    if isinstance(exc, ClassifiedError):
        return None
    name = type(exc).__module__
    if name.startswith(("requests", "urllib3")):
        return FailureClass.NETWORK
    return None


register_classifier(_classify_twilio)
