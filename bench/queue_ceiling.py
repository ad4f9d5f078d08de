"""The ceiling of ``bench.queue``: a bare pika client that consumes and acknowledges.

Same broker, same queue contents, same prefetch and acknowledgement pattern as the
consumer (``multiple=True`` every ``batch`` messages), but lands nothing: what the broker
and the client library can do at best. Prints one JSON line: events, seconds (first
delivery to last acknowledgement).

    python -m bench.queue_ceiling URL QUEUE COUNT [BATCH PREFETCH]
"""

from __future__ import annotations

import json
import sys
import time

import pika


def main(argv: list[str]) -> int:
    url, queue, count = argv[0], argv[1], int(argv[2])
    batch = int(argv[3]) if len(argv) > 3 else 1000
    prefetch = int(argv[4]) if len(argv) > 4 else 2 * batch
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    channel.basic_qos(prefetch_count=prefetch)
    got, first, tag = 0, 0.0, 0
    for method, _, _ in channel.consume(queue, inactivity_timeout=30):
        if method is None:
            raise SystemExit(f"ceiling: {got} of {count} messages, then 30 s of nothing")
        if got == 0:
            first = time.perf_counter()
        got, tag = got + 1, method.delivery_tag
        if got % batch == 0 or got == count:
            channel.basic_ack(tag, multiple=True)
        if got == count:
            break
    seconds = time.perf_counter() - first
    channel.cancel()
    connection.close()
    print(json.dumps({"events": got, "seconds": seconds}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
