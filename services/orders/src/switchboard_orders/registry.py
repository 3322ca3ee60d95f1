"""The one registry of orders' handlers; the handler modules register on it."""

from switchboard_shared.messagebus import HandlerRegistry

registry = HandlerRegistry()
