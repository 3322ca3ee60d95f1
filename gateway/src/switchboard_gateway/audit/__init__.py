"""The audit log of admin actions: who (an API key's id), what, on which target, the outcome."""
