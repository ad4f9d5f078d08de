"""RabbitMQ: where the broker is, how to connect, the queue we declare, and its depth.

The broker URL may hold a password: it is read from ``PLATFORM_RABBITMQ_URL`` when needed
and only ever shown through ``without_password``.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pika
import yaml
from pika.adapters.blocking_connection import BlockingChannel

from platform_assets.redaction import without_password

BROKER_URL_ENV = "PLATFORM_RABBITMQ_URL"
LOCAL_BROKER_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"
LOCAL_BROKER_ADDRESS = ("127.0.0.1", 5672)
QUEUE_ENV = "PLATFORM_EVENTS_QUEUE"  # the queue (and landing stream) consumed by default
EVENT_STREAM_TYPE = "EventStreamSource"
# A quorum queue is replicated (Raft) and durable: a broker restart keeps every message that
# was confirmed to the publisher. A stream would also do, but its consumers track offsets
# themselves; a queue lets the broker redeliver what a dead consumer never acknowledged.
QUEUE_ARGUMENTS = {"x-queue-type": "quorum"}
HEARTBEAT_S = 30
CONNECT_TIMEOUT_S = 5.0


def broker_url(env: Mapping[str, str] = os.environ) -> str | None:
    """PLATFORM_RABBITMQ_URL, or None when no broker is configured."""
    return env.get(BROKER_URL_ENV) or None


def declared_streams(defs_dir: Path | None = None) -> list[str]:
    """The streams the project's EventStreamSource components declare: each stream's queue
    and landing table are named after its contract's table."""
    from platform_assets.contracts.loader import DEFS_DIR, load_contract

    streams = []
    for component in sorted((defs_dir or DEFS_DIR).rglob("defs.yaml")):
        for spec in yaml.safe_load_all(component.read_text()):  # a file may hold several
            if not str((spec or {}).get("type", "")).endswith(EVENT_STREAM_TYPE):
                continue
            for stream in spec.get("attributes", {}).get("streams", []):
                streams.append(load_contract(component.parent / stream["contract"]).table)
    return streams


def events_queues(env: Mapping[str, str] = os.environ, defs_dir: Path | None = None) -> list[str]:
    """PLATFORM_EVENTS_QUEUE, else every stream the project declares."""
    return [env[QUEUE_ENV]] if env.get(QUEUE_ENV) else declared_streams(defs_dir)


def events_queue(env: Mapping[str, str] = os.environ, defs_dir: Path | None = None) -> str:
    """The one queue a consumer reads when none is named: PLATFORM_EVENTS_QUEUE, else the
    one stream the project declares."""
    queues = events_queues(env, defs_dir)
    if len(queues) != 1:
        raise ValueError(
            f"{len(queues)} event streams declared in defs/ ({', '.join(queues) or 'none'}): "
            f"name the queue with --queue or {QUEUE_ENV}"
        )
    return queues[0]


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


def queue_depth(url: str, queue: str) -> QueueDepth:
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
