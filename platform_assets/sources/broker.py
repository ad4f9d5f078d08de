"""The message broker an event stream is pushed through, as far as the platform reads it.

Only what observing a stream needs: the depth of its queue (messages waiting, not yet
delivered), read with a passive ``queue_declare`` (AMQP 0-9-1: no management plugin, no
side effect, the queue is never created). The consumer that lands events is its own
process. The URL may hold a password: it is named (``url_env``) and read at run time.
"""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from platform_assets.redaction import redact, url_secrets

CONNECT_TIMEOUT_S = 5.0


class BrokerError(RuntimeError):
    """The broker could not be asked (down, refused, no such queue); free of secrets."""


class EventBroker(dg.ConfigurableResource):
    """A RabbitMQ broker (``amqp://user:password@host:5672/vhost``); ``url`` empty: none is
    configured (the embedded default), and queue depths are unknown."""

    url: str = Field(default="", description="The AMQP URL, or empty: no broker configured.")
    url_env: str = Field(
        default="PLATFORM_RABBITMQ_URL",
        description="The variable holding url: named in messages, never the URL.",
    )

    @property
    def configured(self) -> bool:
        return bool(self.url)

    def queue_depth(self, queue: str) -> int:
        """Messages ready in ``queue`` now (delivered but unacknowledged ones not counted)."""
        import pika  # only processes that watch a broker pay for it

        if not self.configured:
            raise BrokerError(f"no broker configured ({self.url_env} is not set)")
        params = pika.URLParameters(self.url)
        params.socket_timeout = params.blocked_connection_timeout = CONNECT_TIMEOUT_S
        try:
            with pika.BlockingConnection(params) as connection:
                frame = connection.channel().queue_declare(queue=queue, passive=True)
                return int(frame.method.message_count)
        except pika.exceptions.AMQPError as exc:
            reason = redact(f"{type(exc).__name__}: {exc}", url_secrets(self.url))
            raise BrokerError(
                f"queue {queue!r} on the broker in {self.url_env}: {reason}"
            ) from None
