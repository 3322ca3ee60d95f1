"""Amazon SES through boto3 (`send_raw_email`), its errors turned into the kit's failure classes.

SES accepts a message for a bad recipient and reports the bounce later (SNS); what it refuses
at once (an unverified sender, a paused account) is a provider-4xx, never a suppression.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from email.message import Message
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError
from switchboard_shared.blips import retry_blips
from switchboard_shared.failures import ClassifiedError, FailureClass, ProviderError

from ..config import EmailSettings
from .base import Deferred

RETRIED_CODES = {"Throttling", "ThrottlingException", "ServiceUnavailable", "InternalFailure"}


class SesMailer:
    def __init__(self, settings: EmailSettings, client: Any = None) -> None:
        self.client = client or boto3.client(
            "ses",
            region_name=settings.ses_region,
            endpoint_url=settings.ses_endpoint_url or None,
            config=Config(
                connect_timeout=settings.smtp_timeout,
                read_timeout=settings.smtp_timeout,
                retries={"max_attempts": 1},
            ),
        )

    @retry_blips()
    def send(self, message: Message) -> None:
        try:
            # No `Destinations`: SES takes the recipients from the To header, as SMTP does here.
            self.client.send_raw_email(
                Source=str(message["From"]), RawMessage={"Data": message.as_bytes()}
            )
        except ClientError as exc:
            raise _classified(exc) from exc
        except EndpointConnectionError as exc:
            raise ClassifiedError(
                f"SES unreachable: {exc}", failure_class=FailureClass.NETWORK
            ) from exc
        except BotoCoreError as exc:
            raise ClassifiedError(f"SES: {exc}", failure_class=FailureClass.NETWORK) from exc

    @contextmanager
    def session(self) -> Iterator[SesMailer]:
        yield self  # one HTTPS client (with its own connection pool) serves the whole batch


def _classified(exc: ClientError) -> ClassifiedError:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 500))
    text = f"SES {code}: {error.get('Message', '')}"
    if code in RETRIED_CODES or status >= 500 or status == 429:
        return Deferred(text)
    return ProviderError(text, status=status if 400 <= status < 500 else 400)
