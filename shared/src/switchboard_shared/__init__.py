"""Switchboard platform kit: what every service shares (contracts, bus, outbox/inbox, Celery factory)."""
