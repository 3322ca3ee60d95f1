"""One Flower per service, scoped to that service's workers and never open by accident.

`python -m switchboard_shared.flower payments` (what `make flower SERVICE=payments` runs):
basic auth from `PAYMENTS_FLOWER_BASIC_AUTH` or `FLOWER_BASIC_AUTH`, required unless
`--standalone` on a loopback address; `/metrics` sits behind the same auth (flower#1342).
"""
