"""The beta probe service: `celery -A probe_beta worker`."""

from probe_common import build

app, definition = build("beta", subscribe_other_only=False)
