"""The defect corpus through the REST path: the same records, paged as JSON by a real server.

A source sends text whatever its transport: the row drop's records (without the kinds only
CSV can carry) are served as JSON objects of strings, an empty field as null, 200 per page,
by an HTTP server on a local port, and extracted by the platform's ``RestApi`` with offset
pagination. The ground truth is the CSV drop's: a value must meet the same rules however
it arrived. On DuckDB and PostgreSQL.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import dagster as dg
import pytest

from platform_assets.components.raw_asset import ExtractRequest, RawSource
from platform_assets.sources.pagination import Endpoint, OffsetPagination
from platform_assets.sources.rest import RestApi
from platform_assets_tests.corpus.generator import (
    BATCH_ROWS,
    COLUMNS,
    DAY,
    ROW_KINDS,
    Drop,
    Kind,
    api_drop,
    json_record,
)
from platform_assets_tests.corpus.outcome import Landed, assert_kind, by_kind, emptied, materialize
from platform_assets_tests.outcomes import gate_verdicts, snapshot_entry, table_digest

RESOURCE = "corpus_api"
PATH = "/v1/spend"
ENDPOINT = Endpoint(PATH, OffsetPagination(), records="data", total_field="total")


class _Handler(BaseHTTPRequestHandler):
    """GET /v1/spend?day=YYYY-MM-DD&offset=N&limit=M: a page of the day's records."""

    records: list[dict[str, Any]] = []

    def do_GET(self) -> None:  # noqa: N802 - the http.server hook
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path != PATH or query.get("day") != DAY.isoformat():
            self.send_error(404, f"no records at {self.path}")
            return
        offset, limit = int(query["offset"]), int(query["limit"])
        page = self.records[offset : offset + limit]
        body = json.dumps({"data": page, "total": len(self.records)}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        """Quiet: the test's output is the assertions'."""


@pytest.fixture(scope="module")
def drop() -> Drop:
    return api_drop()


@pytest.fixture(scope="module")
def api_url(drop: Drop) -> Iterator[str]:
    handler = type(
        "CorpusHandler", (_Handler,), {"records": [json_record(p) for p in drop.records]}
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _extract(api: RestApi, request: ExtractRequest) -> Iterator[Any]:
    """What a configured REST table does (components/rest_api.py): pages for the day."""
    assert request.day is not None
    return api.pages(ENDPOINT, {"day": request.day.isoformat()}, request.log, list(COLUMNS))


@pytest.fixture(scope="module")
def landed(drop: Drop, api_url: str, warehouse_url: str, instance: dg.DagsterInstance) -> Landed:
    """The records, extracted through the REST client and loaded once per backend."""
    api = RestApi(base_url=api_url, auth="none", page_size=BATCH_ROWS, max_attempts=1)
    source = RawSource("api", RESOURCE, _extract, source_tag="corpus")
    result, loaded, quarantined = materialize(source, api, emptied(warehouse_url), instance)
    return Landed(drop, None, result, loaded, quarantined)


def test_every_record_was_extracted_and_is_accounted_for(landed: Landed) -> None:
    assert landed.metadata["rows_extracted"] == len(landed.drop.records) == 1_998
    rows_in = len(landed.drop.records)
    assert rows_in == len(landed.loaded) + landed.collapsed + len(landed.quarantined)


def test_every_clean_record_is_loaded_unaltered(landed: Landed) -> None:
    assert_kind(landed, [p for p in landed.drop.records if p.kind == "clean"])


API_KINDS = tuple(k for k in ROW_KINDS if not k.csv_only)


@pytest.mark.parametrize("kind", by_kind(API_KINDS))
def test_api_kind(landed: Landed, kind: Kind) -> None:
    assert_kind(landed, landed.drop.of_kind(kind.name))


def test_outcomes_match_the_committed_digest(landed: Landed) -> None:
    """Issue 14: no speed-up may change what is loaded, quarantined and why, or a gate's
    verdict (snapshots/outcomes.json; both backends must give the same digest)."""
    digest = table_digest(
        [[row[c] for c in COLUMNS] for row in landed.loaded],
        [(q["record"], q["reasons"]) for q in landed.quarantined],
    ) | {"gates": gate_verdicts(landed.result)}
    assert digest == snapshot_entry("corpus_api", digest)
