"""Command line: ``python -m platform_assets.demo {serve,seed,publish}`` (``platform-demo``).

``serve`` reads its config from ``PLATFORM_DEMO_*`` variables and the token from
``PLATFORM_DEMO_API_TOKEN`` (never from argv, where ``ps`` would show it). ``publish`` sends
shipment events to the broker in ``PLATFORM_RABBITMQ_URL`` (a URL with a password is never
taken from argv either).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from sqlalchemy.engine import make_url

from platform_assets.demo.api import make_server, serve
from platform_assets.demo.config import DemoConfig
from platform_assets.demo.drops import write_drops
from platform_assets.demo.events import EventMix, shipment_messages
from platform_assets.demo.process import OVERLAP_ENV, TOKEN_ENV
from platform_assets.demo.sql_source import seed_database

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def _env_flag(name: str) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if raw not in _TRUE | _FALSE:
        raise ValueError(f"{name} must be 1 or 0, got {raw!r}")
    return raw in _TRUE


def _day(raw: str) -> dt.date:
    try:
        return dt.date.fromisoformat(raw)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a YYYY-MM-DD date: {raw!r}") from exc


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m platform_assets.demo", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve_cmd = commands.add_parser("serve", help="run the HTTP JSON API until SIGTERM/SIGINT")
    serve_cmd.add_argument("--host", default="127.0.0.1")
    serve_cmd.add_argument("--port", type=int, default=0, help="0 picks a free port")
    serve_cmd.add_argument(
        "--overlap-pages",
        action="store_true",
        help=f"repeat the previous page's last order on each page (or {OVERLAP_ENV}=1)",
    )
    seed_cmd = commands.add_parser("seed", help="seed the SQL source and write CSV drops")
    seed_cmd.add_argument("--sql-url", help="SQLAlchemy URL of the customers database")
    seed_cmd.add_argument("--drops-dir", type=Path, help="directory for daily CSV drops")
    seed_cmd.add_argument("--first-day", type=_day, required=True)
    seed_cmd.add_argument("--last-day", type=_day, required=True)
    _publish_parser(commands)
    return parser


def _share(raw: str) -> float:
    value = float(raw)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"a share is between 0 and 1, got {raw!r}")
    return value


def _publish_parser(commands: argparse._SubParsersAction) -> None:
    cmd = commands.add_parser(
        "publish", help="publish shipment events to RabbitMQ (PLATFORM_RABBITMQ_URL)"
    )
    cmd.add_argument("--queue", default="shipment_events", help="durable quorum queue")
    cmd.add_argument("--count", type=int, default=1000, help="events (duplicates are extra)")
    cmd.add_argument("--rate", type=float, default=0.0, help="messages/s; 0: as fast as it goes")
    cmd.add_argument("--duplicate-share", type=_share, default=0.0, help="share sent twice")
    cmd.add_argument("--late-share", type=_share, default=0.0, help="share that occurred days ago")
    cmd.add_argument("--late-days", type=int, default=5, help="late events: 1..N days ago")
    cmd.add_argument(
        "--defect-share",
        type=_share,
        default=0.0,
        help="share malformed (bad JSON, no id: quarantined) or with a missing/mistyped field",
    )
    cmd.add_argument("--seed", type=int, default=None, help="same seed, same events (ids too)")


def _publish(args: argparse.Namespace) -> int:
    from platform_assets.demo.publish import publish
    from platform_assets.events.broker import BROKER_URL_ENV, broker_url, shown

    url = broker_url()
    if url is None:
        sys.stderr.write(f"error: {BROKER_URL_ENV} is not set (amqp://user:pass@host:5672/%2F)\n")
        return 2
    mix = EventMix(
        count=args.count,
        duplicate_share=args.duplicate_share,
        late_share=args.late_share,
        defect_share=args.defect_share,
        late_days=args.late_days,
        seed=args.seed,
    )
    kinds: dict[str, int] = {}

    def bodies() -> Iterator[bytes]:
        for message in shipment_messages(mix):
            kinds[message.kind] = kinds.get(message.kind, 0) + 1
            yield message.body

    stats = publish(url, args.queue, bodies(), rate=args.rate)
    detail = ", ".join(f"{kind} {n}" for kind, n in sorted(kinds.items()))
    print(
        f"published {stats.confirmed} messages to {args.queue} on {shown(url)} in "
        f"{stats.seconds:.1f} s, all confirmed ({detail})"
    )
    return 0


def _serve(args: argparse.Namespace) -> int:
    token = os.environ.get(TOKEN_ENV, "")
    if not token:
        sys.stderr.write(f"error: {TOKEN_ENV} is not set; the API refuses to run without a token\n")
        return 2
    overlap = args.overlap_pages or _env_flag(OVERLAP_ENV)
    server = make_server(args.host, args.port, DemoConfig.from_env(), token, overlap)
    serve(server)
    return 0


def _seed(args: argparse.Namespace) -> int:
    if args.sql_url is None and args.drops_dir is None:
        sys.stderr.write("error: give --sql-url and/or --drops-dir\n")
        return 2
    cfg = DemoConfig.from_env()
    if args.sql_url is not None:
        count = seed_database(args.sql_url, cfg, args.first_day, args.last_day)
        shown = make_url(args.sql_url).render_as_string(hide_password=True)
        print(f"seeded {count} customers into {shown}")
    if args.drops_dir is not None:
        written = write_drops(args.drops_dir, cfg, args.first_day, args.last_day)
        for path in written:
            print(f"wrote {path}")
        print(f"{len(written)} drop file(s) written to {args.drops_dir}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; configuration errors become a one-line message and exit code 2."""
    args = _parser().parse_args(argv)
    try:
        return {"serve": _serve, "seed": _seed, "publish": _publish}[args.command](args)
    except ValueError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2


if __name__ == "__main__":
    sys.exit(main())
