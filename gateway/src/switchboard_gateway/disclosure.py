"""What a reader is shown of stored messages: secrets never, personal data only to admin keys.

The contract marks say which fields are secret or personal (`contracts.sensitivity`);
provider payloads (Stripe's JSON, Twilio's form) carry personal data under the providers'
own names, listed here.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, urlencode

from switchboard_shared.contracts.sensitivity import HIDDEN, redact

PROVIDER_PERSONAL = frozenset(
    {
        "email",
        "receipt_email",
        "phone",
        "name",
        "address",
        "shipping",
        "billing_details",
        "to",
        "from",
        "body",  # an SMS's text
    }
)


def shown(value: Any, mask_personal: bool) -> Any:
    """An event's data or a dead letter's message, as this reader may see it."""
    return redact(value, mask_personal=mask_personal)


def shown_provider_body(provider: str, body: str, mask_personal: bool) -> str:
    """A provider's raw call: JSON and forms are masked field by field; anything else a
    read-only key cannot parse safely, so it is withheld whole."""
    if not mask_personal:
        return body
    if provider == "twilio":
        form = dict(parse_qsl(body, keep_blank_values=True))
        return urlencode(redact(form, mask_personal=True, personal_names=PROVIDER_PERSONAL))
    try:
        parsed = json.loads(body)
    except ValueError:
        return HIDDEN
    return json.dumps(redact(parsed, mask_personal=True, personal_names=PROVIDER_PERSONAL))
