"""`make run`'s provider secrets for the local stand-ins: random per data folder.

Made once with `secrets.token_urlsafe`, kept in `<data dir>/local-secrets.json` (mode 0600)
and reused on restart, so localstripe's and the local Twilio's state stay valid. Nothing else
supplies a default secret: a deploy that forgets one is refused at start-up.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from pathlib import Path

SECRETS_FILE = "local-secrets.json"
# Variable -> prefix: localstripe accepts only `sk_` keys; Stripe's secrets read `whsec_`.
STRIPE = {"STRIPE_WEBHOOK_SECRET": "whsec_", "PAYMENTS_STRIPE_API_KEY": "sk_test_"}
TWILIO = {"TWILIO_AUTH_TOKEN": ""}


def _read(path: Path) -> dict[str, str]:
    with contextlib.suppress(FileNotFoundError, ValueError):
        stored = json.loads(path.read_text())
        if isinstance(stored, dict):
            return {str(k): str(v) for k, v in stored.items() if v}
    return {}


def _write(path: Path, values: dict[str, str]) -> None:
    partial = path.with_suffix(".tmp")
    with contextlib.suppress(FileNotFoundError):
        partial.unlink()
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(values, f, indent=2)
    os.replace(partial, path)


def local_secrets(data_dir: Path, wanted: dict[str, str]) -> dict[str, str]:
    """`wanted` (variable -> prefix) from the data folder's file, made there when missing."""
    path = data_dir / SECRETS_FILE
    stored = _read(path)
    made = {
        name: prefix + secrets.token_urlsafe(32)
        for name, prefix in wanted.items()
        if not stored.get(name)
    }
    if made:
        data_dir.mkdir(parents=True, exist_ok=True)
        _write(path, {**stored, **made})
    os.chmod(path, 0o600)  # also a file an older run or a copy left readable
    return {name: {**stored, **made}[name] for name in wanted}
