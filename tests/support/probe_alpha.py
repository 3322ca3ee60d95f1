"""The alpha probe service: `celery -A probe_alpha worker`."""

from probe_common import build

app, definition = build("alpha", subscribe_other_only=False)
