"""Publishes messages to a durable quorum queue, persistently, with publisher confirms.

A message counts as published only when the broker confirmed it (``basic.ack`` in confirm
mode: it is on disk, replicated for a quorum queue). Confirms are asynchronous, with up to
``window`` messages in flight: waiting for each confirm in turn caps a publisher near
1,000 messages/s here, a window lets it go as fast as the broker takes them. A ``nack``
or a lost connection fails loudly: what was not confirmed is reported, never assumed sent.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import pika
from pika.adapters.select_connection import SelectConnection

from platform_assets.events.broker import QUEUE_ARGUMENTS, parameters, shown

PERSISTENT = 2  # delivery_mode: written to disk by the broker
CONTENT_TYPE = "application/json"


class PublishError(RuntimeError):
    """The broker refused or lost messages before confirming them."""


@dataclass
class PublishStats:
    sent: int = 0
    confirmed: int = 0
    seconds: float = 0.0


class ConfirmedPublisher:
    """Drives one SelectConnection until every body is confirmed (or something fails)."""

    def __init__(
        self,
        url: str,
        queue: str,
        bodies: Iterable[bytes],
        rate: float = 0.0,
        window: int = 2000,
        exchange: str = "",
    ) -> None:
        self._url, self._queue, self._rate, self._window = url, queue, rate, window
        self._exchange = exchange  # "": straight to the queue; else routed by the exchange
        self._bodies: Iterator[bytes] = iter(bodies)
        self._exhausted = False
        self._unconfirmed: set[int] = set()
        self._next_tag = 1
        self._pump_scheduled = False
        self._error: str | None = None
        self._channel = None
        self._connection: SelectConnection | None = None
        self._started = 0.0
        self.stats = PublishStats()

    def run(self) -> PublishStats:
        self._started = time.monotonic()
        self._connection = SelectConnection(
            parameters(self._url, f"platform-publish:{self._queue}"),
            on_open_callback=self._on_open,
            on_open_error_callback=self._on_open_error,
            on_close_callback=self._on_closed,
        )
        self._connection.ioloop.start()
        self.stats.seconds = time.monotonic() - self._started
        if self._error is not None:
            raise PublishError(
                f"publishing to {self._queue} on {shown(self._url)} failed after "
                f"{self.stats.confirmed} confirmed of {self.stats.sent} sent: {self._error}"
            )
        return self.stats

    def _on_open(self, connection: SelectConnection) -> None:
        connection.channel(on_open_callback=self._on_channel)

    def _on_open_error(self, connection: SelectConnection, error: BaseException) -> None:
        self._error = f"cannot connect: {error!r}"
        connection.ioloop.stop()

    def _on_closed(self, connection: SelectConnection, reason: BaseException) -> None:
        if not self._done():
            self._error = f"connection closed: {reason!r}"
        connection.ioloop.stop()

    def _on_channel(self, channel) -> None:  # noqa: ANN001 - pika's Channel
        self._channel = channel
        channel.add_on_close_callback(self._on_channel_closed)
        channel.queue_declare(
            self._queue, durable=True, arguments=QUEUE_ARGUMENTS, callback=self._on_declared
        )

    def _on_channel_closed(self, channel, reason: BaseException) -> None:  # noqa: ANN001
        if not self._done():
            self._error = f"channel closed: {reason!r}"
        if self._connection is not None and self._connection.is_open:
            self._connection.close()

    def _on_declared(self, frame) -> None:  # noqa: ANN001
        self._channel.confirm_delivery(self._on_confirm, callback=lambda _: self._pump())

    def _on_confirm(self, frame) -> None:  # noqa: ANN001
        method = frame.method
        tags = (
            {t for t in self._unconfirmed if t <= method.delivery_tag}
            if method.multiple
            else {method.delivery_tag}
        )
        if isinstance(method, pika.spec.Basic.Nack):
            self._error = f"broker nacked {len(tags)} message(s)"
            self._connection.close()
            return
        self._unconfirmed -= tags
        self.stats.confirmed += len(tags)
        self._pump()

    def _pump(self) -> None:
        """Send while the window has room and the rate allows; close when all confirmed."""
        self._pump_scheduled = False
        while not self._exhausted and len(self._unconfirmed) < self._window:
            wait = self._rate_wait()
            if wait > 0:
                self._schedule(wait)
                return
            body = next(self._bodies, None)
            if body is None:
                self._exhausted = True
                break
            self._send(body)
        if self._done() and self._connection.is_open:
            self._connection.close()

    def _rate_wait(self) -> float:
        if self._rate <= 0:
            return 0.0
        due = self._started + self.stats.sent / self._rate
        return due - time.monotonic()

    def _schedule(self, delay: float) -> None:
        if not self._pump_scheduled:
            self._pump_scheduled = True
            self._connection.ioloop.call_later(delay, self._pump)

    def _send(self, body: bytes) -> None:
        properties = pika.BasicProperties(
            delivery_mode=PERSISTENT, content_type=CONTENT_TYPE, timestamp=int(time.time())
        )
        self._channel.basic_publish(self._exchange, self._queue, body, properties)
        self._unconfirmed.add(self._next_tag)
        self._next_tag += 1
        self.stats.sent += 1

    def _done(self) -> bool:
        return self._exhausted and not self._unconfirmed and self._error is None


def publish(
    url: str,
    queue: str,
    bodies: Iterable[bytes],
    rate: float = 0.0,
    window: int = 2000,
    exchange: str = "",
) -> PublishStats:
    """Publishes every body persistently to ``queue``; returns when all are confirmed."""
    return ConfirmedPublisher(url, queue, bodies, rate, window, exchange).run()
