"""The gamma probe service: `celery -A probe_gamma worker`."""

from probe_common import build

app, definition = build("gamma", subscribe_other_only=True)
