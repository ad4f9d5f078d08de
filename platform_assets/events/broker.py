"""RabbitMQ: where the broker is, how to connect, the queue we declare, and its depth.

The broker URL may hold a password: it is read from ``PLATFORM_RABBITMQ_URL`` when needed
and only ever shown through ``without_password``.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass

import pika
from pika.adapters.blocking_connection import BlockingChannel

from platform_assets.redaction import without_password

BROKER_URL_ENV = "PLATFORM_RABBITMQ_URL"
LOCAL_BROKER_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"
LOCAL_BROKER_ADDRESS = ("127.0.0.1", 5672)
DEFAULT_QUEUE = "shipment_events"
QUEUE_ENV = "PLATFORM_EVENTS_QUEUE"  # the queue (and landing stream) consumed by default
# A quorum queue is replicated (Raft) and durable: a broker restart keeps every message that
# was confirmed to the publisher. A stream would also do, but its consumers track offsets
# themselves; a queue lets the broker redeliver what a dead consumer never acknowledged.
QUEUE_ARGUMENTS = {"x-queue-type": "quorum"}
HEARTBEAT_S = 30
CONNECT_TIMEOUT_S = 5.0


def broker_url(env: Mapping[str, str] = os.environ) -> str | None:
    """PLATFORM_RABBITMQ_URL, or None when no broker is configured."""
    return env.get(BROKER_URL_ENV) or None


def events_queue(env: Mapping[str, str] = os.environ) -> str:
    return env.get(QUEUE_ENV) or DEFAULT_QUEUE


def shown(url: str) -> str:
    """The broker URL fit for a log line: its password hidden."""
    return without_password(url)


def broker_answers(address: tuple[str, int] = LOCAL_BROKER_ADDRESS, timeout_s: float = 1.0) -> bool:
    """Whether something accepts TCP connections at ``address`` (make dev's local broker)."""
    try:
        with socket.create_connection(address, timeout=timeout_s):
            return True
    except OSError:
        return False


def parameters(url: str, name: str) -> pika.URLParameters:
    """Connection parameters with a name the broker shows (rabbitmqctl list_connections)."""
    params = pika.URLParameters(url)
    params.client_properties = {"connection_name": name}
    params.heartbeat = HEARTBEAT_S
    params.socket_timeout = CONNECT_TIMEOUT_S
    params.blocked_connection_timeout = 60
    params.connection_attempts = 1
    return params


def declare_queue(channel: BlockingChannel, queue: str) -> int:
    """Declares the durable quorum queue (idempotent); returns the messages ready in it."""
    frame = channel.queue_declare(queue, durable=True, arguments=QUEUE_ARGUMENTS)
    return frame.method.message_count


@dataclass(frozen=True)
class QueueDepth:
    ready: int  # messages waiting for a consumer (not counting those delivered, unacked)
    consumers: int


def queue_depth(url: str, queue: str = DEFAULT_QUEUE) -> QueueDepth:
    """The queue's depth and consumer count, on a short connection of its own (for metrics).

    A missing queue raises ``pika.exceptions.ChannelClosedByBroker`` (404): the metric then
    fails loudly instead of reporting an empty queue that does not exist.
    """
    connection = pika.BlockingConnection(parameters(url, f"platform-depth:{queue}"))
    try:
        frame = connection.channel().queue_declare(queue, passive=True)
        return QueueDepth(frame.method.message_count, frame.method.consumer_count)
    finally:
        if connection.is_open:
            connection.close()
