"""HTTP routes of the gateway, split by resource."""
