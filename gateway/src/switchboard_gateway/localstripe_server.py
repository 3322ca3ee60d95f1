"""localstripe, the local stand-in for Stripe, with its disk persistence deferred and its
lists indexed.

localstripe pickles its whole store to /tmp/localstripe.pickle on every write, so a write
costs more the more it holds (3 ms at first, ~95 ms after a thousand orders; 78% of its
profile in bench/order_flow.py), and every localstripe on the machine shares that one file.
This launcher runs the same server (same HTTP API and webhooks; clients still use the real
stripe SDK) but writes its store to its own state file at most once per `--persist-seconds`,
from the server's event loop, and once more on exit:

    python -m switchboard_gateway.localstripe_server --port 8420 \
        [--from-scratch] [--state-file PATH] [--persist-seconds 2]

`--persist-seconds 0` never writes (benches and tests that start from scratch anyway).

With `PAYMENTS_STRIPE_API_KEY` in its environment (`make run` generates one per data folder
and gives the same one to payments) it accepts that secret key only; localstripe alone takes
any `sk_…` key.

localstripe also lists a type by scanning its whole store, and it lists a charge's refunds
each time it renders the charge (several times per payment): a payment cost more the more
the store held (half its CPU after a thousand orders). `TypeIndex` keeps each type's objects
apart, in the store's order, so a list reads only its own type.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import hmac
import os
import pickle
import sys
from pathlib import Path
from typing import Any

# In the data folder, never a shared /tmp: the state file is unpickled at start, so whoever
# can write it runs code in localstripe.
DEFAULT_STATE_FILE = Path(os.environ.get("SWITCHBOARD_DATA_DIR", "var")) / "localstripe.pickle"
API_KEY_ENV = "PAYMENTS_STRIPE_API_KEY"


class DeferredPersistence:
    """Loads the store once; after a write, saves it at most once per interval."""

    def __init__(self, state_file: Path, interval: float) -> None:
        self.state_file = state_file
        self.interval = interval
        self.store: dict[str, Any] | None = None
        self._pending = False

    def load(self, store: dict[str, Any]) -> None:
        if self.state_file.exists():
            with self.state_file.open("rb") as f:
                saved = pickle.load(f)  # noqa: S301  (our own file, written by save() below)
            dict.clear(store)
            dict.update(store, saved)

    def changed(self, store: dict[str, Any]) -> None:
        self.store = store
        if self.interval <= 0 or self._pending:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # a write outside the server's loop: save now
            self.save()
            return
        self._pending = True
        loop.call_later(self.interval, self.save)

    def save(self) -> None:
        self._pending = False
        if self.store is None or self.interval <= 0:
            return
        partial = self.state_file.with_suffix(".tmp")
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        with os.fdopen(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:
            pickle.dump(self.store, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(partial, self.state_file)


class TypeIndex:
    """The store's objects by type (`charge:ch_1` is a `charge`), in the store's order."""

    def __init__(self) -> None:
        self.by_type: dict[str, dict[str, Any]] = {}

    def added(self, key: str, value: Any) -> None:
        if ":" in key:
            self.by_type.setdefault(key.split(":", 1)[0], {})[key] = value

    def removed(self, key: str) -> None:
        self.by_type.get(key.split(":", 1)[0], {}).pop(key, None)

    def rebuild(self, store: dict[str, Any]) -> None:
        self.by_type = {}
        for key, value in store.items():
            self.added(key, value)

    def of(self, object_type: str) -> list[Any]:
        return list(self.by_type.get(object_type, {}).values())


def install(persistence: DeferredPersistence, index: TypeIndex | None = None) -> None:
    """Route localstripe's per-write dump and its start-up load through `persistence`, and
    its lists through `index`."""
    from localstripe import resources

    index = index or TypeIndex()
    store_set, store_del = resources.Store.__setitem__, resources.Store.__delitem__

    def setitem(store: dict[str, Any], key: str, value: Any) -> None:
        store_set(store, key, value)
        index.added(key, value)

    def delitem(store: dict[str, Any], key: str) -> None:
        store_del(store, key)
        index.removed(key)

    def list_all(
        cls: Any,
        url: str,
        limit: int | None = None,
        starting_after: str | None = None,
        **kwargs: Any,
    ) -> Any:
        # localstripe's own StripeObject._api_list_all, reading the index instead of the store.
        if kwargs:
            raise resources.UserError(400, "Unexpected " + ", ".join(kwargs.keys()))
        listed = resources.List(url, limit=limit, starting_after=starting_after)
        listed._list = index.of(cls.object)
        return listed

    def dump_to_disk(store: dict[str, Any]) -> None:
        persistence.changed(store)

    def try_load_from_disk(store: dict[str, Any]) -> None:
        persistence.load(store)
        index.rebuild(store)

    resources.Store.__setitem__ = setitem  # type: ignore[method-assign,assignment]
    resources.Store.__delitem__ = delitem  # type: ignore[method-assign,assignment]
    resources.StripeObject._api_list_all = classmethod(list_all)  # type: ignore[method-assign,assignment]

    resources.Store.dump_to_disk = dump_to_disk  # type: ignore[method-assign,assignment]
    resources.Store.try_load_from_disk = try_load_from_disk  # type: ignore[method-assign,assignment]
    atexit.register(persistence.save)


def accept_only(api_key: str) -> None:
    """Refuse (401) every secret key but `api_key`, as Stripe does."""
    from localstripe import server

    presented_key = server.get_api_key

    def get_api_key(request: Any) -> str | None:
        presented = presented_key(request)
        if presented is None or not hmac.compare_digest(presented.encode(), api_key.encode()):
            return None
        return str(presented)

    server.get_api_key = get_api_key


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8420)
    parser.add_argument("--from-scratch", action="store_true")
    parser.add_argument("--state-file", type=Path, default=DEFAULT_STATE_FILE)
    parser.add_argument("--persist-seconds", type=float, default=2.0)
    args = parser.parse_args(argv)
    install(DeferredPersistence(args.state_file, args.persist_seconds))
    if os.environ.get(API_KEY_ENV):
        accept_only(os.environ[API_KEY_ENV])
    from localstripe import server

    # localstripe's own start() parses the command line: hand it only its own options.
    sys.argv = [sys.argv[0], "--port", str(args.port)]
    if args.from_scratch:
        sys.argv.append("--from-scratch")
    server.start()


if __name__ == "__main__":
    main()
