"""A REST API source: one connection (URL, auth, limits) and the tables read from it.

The vocabulary is dlt's ``rest_api`` where it fits (paginator types, ``records`` as its
``data_selector``, auth types), so its users feel at home. Secrets are named, never written:
``token_env: SHOP_API_TOKEN`` becomes a ``dg.EnvVar``, read when a run starts.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

import dagster as dg
from pydantic import Field, field_validator, model_validator

from platform_assets.components.common import (
    ConfigError,
    ContractTable,
    Located,
    PlatformComponent,
    env_name,
)
from platform_assets.components.raw_asset import ExtractRequest, RawSource, build_raw_asset
from platform_assets.contracts import Contract
from platform_assets.home import platform_home
from platform_assets.sources.pagination import (
    CursorPagination,
    Endpoint,
    JsonLinkPagination,
    LinkHeaderPagination,
    OffsetPagination,
    PageNumberPagination,
    Pagination,
    SinglePage,
)
from platform_assets.sources.rest import RestApi

if TYPE_CHECKING:
    import pandas as pd

PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
WINDOW_PLACEHOLDERS = ("start", "end")
WINDOW_FORMATS = {"date": "%Y-%m-%d", "timestamp": "%Y-%m-%dT%H:%M:%SZ"}


class Auth(dg.Resolvable, dg.Model):
    """How requests authenticate. Secrets are environment variable *names*."""

    type: Literal["none", "bearer", "api_key", "http_basic"] = "none"
    token_env: str | None = Field(
        default=None, description="bearer, api_key: the variable holding the token or key."
    )
    header: str = Field(default="X-API-Key", description="api_key: the header carrying it.")
    query_param: str | None = Field(
        default=None, description="api_key: send the key as this query parameter instead."
    )
    username: str | None = Field(default=None, description="http_basic: the user name.")
    password_env: str | None = Field(
        default=None, description="http_basic: the variable holding the password."
    )

    @field_validator("token_env", "password_env")
    @classmethod
    def _names(cls, value: str | None) -> str | None:
        return env_name(value, "token_env / password_env")

    @model_validator(mode="after")
    def _complete(self) -> Auth:
        if self.type in ("bearer", "api_key") and not self.token_env:
            raise ValueError(f"auth type {self.type} needs token_env")
        if self.type == "http_basic" and not (self.username and self.password_env):
            raise ValueError("auth type http_basic needs username and password_env")
        return self


class Timeouts(dg.Resolvable, dg.Model):
    connect_s: float = Field(default=5.0, description="Seconds to connect.")
    read_s: float = Field(default=30.0, description="Seconds to wait for a response.")


class Retries(dg.Resolvable, dg.Model):
    """Transient faults (5xx, 429, timeouts) retry with full-jitter backoff and honour
    Retry-After; permanent ones (4xx, a broken body) fail at once."""

    max_attempts: int = Field(default=6, description="Attempts per request (1: none).")
    backoff_base_s: float = Field(default=0.5)
    backoff_max_s: float = Field(default=30.0)
    max_retry_after_s: float = Field(default=120.0)
    budget: int = Field(default=50, description="Retries per run, across all requests.")


class RateLimit(dg.Resolvable, dg.Model):
    per_second: float = Field(default=0.0, description="Requests per second; 0: none.")
    burst: int = Field(default=1)
    store: str = Field(
        default="",
        description="Where the token bucket lives, shared by every process: a SQLite file "
        "(default: ratelimit.sqlite in the platform home).",
    )
    store_env: str | None = Field(
        default=None,
        description="A variable holding a postgresql:// URL for the bucket instead (shared "
        "by every machine); used when set.",
    )

    @field_validator("store_env")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        return env_name(value, "store_env")

    def location(self) -> Any:
        if self.store_env and os.environ.get(self.store_env):
            return dg.EnvVar(self.store_env)
        return self.store or str(platform_home() / "ratelimit.sqlite")


class Connection(dg.Resolvable, dg.Model):
    base_url: str = Field(description="e.g. https://api.example.com (`{{ env.MY_API_URL }}`).")
    auth: Auth = Auth()
    timeouts: Timeouts = Timeouts()
    retries: Retries = Retries()
    rate_limit: RateLimit = RateLimit()
    concurrency: int = Field(
        default=1, description="Pages fetched in parallel when the total is known."
    )
    page_size: int = Field(default=1000, description="Records asked for per page.")


class Paginator(dg.Resolvable, dg.Model):
    """How to get the next page. Parameters that do not apply to a type are ignored."""

    type: Literal["offset", "page_number", "cursor", "header_link", "json_link", "single_page"]
    offset_param: str = Field(default="offset", description="offset")
    limit_param: str | None = Field(
        default="limit", description="offset, cursor, header_link, json_link; null: not sent"
    )
    page_param: str = Field(default="page", description="page_number")
    size_param: str | None = Field(default="per_page", description="page_number; null: not sent")
    base_page: int = Field(default=1, description="page_number: the first page's number")
    cursor_path: str | None = Field(
        default=None, description="cursor: dotted path of the next cursor in the body"
    )
    cursor_header: str | None = Field(
        default=None, description="cursor: the response header holding the next cursor"
    )
    cursor_param: str = Field(default="cursor", description="cursor: the query parameter")
    rel: str = Field(default="next", description="header_link: the Link relation to follow")
    next_url_path: str = Field(
        default="next", description="json_link: dotted path of the next page's URL in the body"
    )

    @model_validator(mode="after")
    def _cursor_source(self) -> Paginator:
        if self.type == "cursor" and (self.cursor_path is None) == (self.cursor_header is None):
            raise ValueError("a cursor paginator needs exactly one of cursor_path, cursor_header")
        return self

    def build(self) -> Pagination:
        if self.type == "offset":
            return OffsetPagination(self.offset_param, self.limit_param or "limit")
        if self.type == "page_number":
            return PageNumberPagination(self.page_param, self.size_param, self.base_page)
        if self.type == "cursor":
            return CursorPagination(
                self.cursor_path, self.cursor_param, self.limit_param, self.cursor_header
            )
        if self.type == "header_link":
            return LinkHeaderPagination(self.rel, self.limit_param)
        if self.type == "json_link":
            return JsonLinkPagination(self.next_url_path, self.limit_param)
        return SinglePage()


class Total(dg.Resolvable, dg.Model):
    """Where the API announces the number of records (progress, parallel pages)."""

    body: str | None = Field(default=None, description="Dotted path in the body.")
    header: str | None = Field(default=None, description="A response header.")


class Window(dg.Resolvable, dg.Model):
    """How ``{start}`` and ``{end}`` in params render the partition's day."""

    format: str = Field(
        default="date",
        description="date (2026-03-10), timestamp (2026-03-10T00:00:00Z), or a strftime "
        "pattern such as '%Y%m%d'.",
    )
    end: Literal["exclusive", "inclusive"] = Field(
        default="exclusive",
        description="exclusive: end is the next day's start; inclusive: the last day (date) "
        "or the last second (other formats) of the partition.",
    )

    def render(self, start: datetime, end: datetime) -> dict[str, str]:
        pattern = WINDOW_FORMATS.get(self.format, self.format)
        if self.end == "inclusive":
            end -= timedelta(days=1) if self.format == "date" else timedelta(seconds=1)
        return {"start": start.strftime(pattern), "end": end.strftime(pattern)}


class Table(ContractTable):
    path: str = Field(description="Path under base_url, e.g. /v2/tickets.")
    params: dict[str, str | int | float | bool] = Field(
        default_factory=dict,
        description="Query parameters; `{start}` and `{end}` in a value render the "
        "partition window (see window).",
    )
    window: Window = Window()
    paginator: Paginator = Paginator(type="single_page")
    records: str = Field(
        default="data", description="Dotted path of the records in the body; `$`: the body."
    )
    total: Total = Total()
    page_size: int | None = Field(default=None, description="Overrides the connection's.")
    max_pages: int = Field(default=100_000, description="Guard against endless paging.")

    def endpoint(self) -> Endpoint:
        return Endpoint(
            self.path,
            self.paginator.build(),
            records=None if self.records == "$" else self.records,
            total_field=self.total.body,
            total_header=self.total.header,
            page_size=self.page_size,
            max_pages=self.max_pages,
        )

    def placeholders(self) -> set[str]:
        return {m for v in self.params.values() for m in PLACEHOLDER.findall(str(v))}

    def render_params(self, request: ExtractRequest) -> dict[str, Any]:
        if not self.placeholders():
            return dict(self.params)
        values = self.window.render(*request.window)
        rendered = {}
        for name, value in self.params.items():
            text = str(value)
            for placeholder, replacement in values.items():
                text = text.replace(f"{{{placeholder}}}", replacement)
            rendered[name] = text
        return rendered


class RestApiSource(PlatformComponent):
    """A REST API and the tables read from it: one asset per table, daily-partitioned when
    its contract has a partition column, gated by the checks its contract implies."""

    connection: Connection
    tables: list[Table] = Field(min_length=1)

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        here = Located(context)
        assets = []
        for index, table in enumerate(self.tables):
            contract = self._contract(here, table, index)
            assets.append(
                build_raw_asset(contract, self._source(here, table, contract), here.catalog)
            )
        return dg.Definitions(assets=assets, resources={here.name: self._resource()})

    def _contract(self, here: Located, table: Table, index: int) -> Contract:
        contract = here.contract(table.contract, f"tables[{index}].contract")
        unknown = table.placeholders() - set(WINDOW_PLACEHOLDERS)
        if unknown:
            raise ConfigError(
                f"{here.where(f'tables[{index}].params')}: unknown placeholder(s) "
                f"{sorted(unknown)}; allowed: {{start}}, {{end}}"
            )
        if table.placeholders() and not contract.is_partitioned:
            raise ConfigError(
                f"{here.where(f'tables[{index}].params')}: {{start}}/{{end}} need a partitioned "
                f"table; {contract.source_file} has no partition_column"
            )
        return contract

    def _source(self, here: Located, table: Table, contract: Contract) -> RawSource:
        endpoint = table.endpoint()
        sent = [c.name for c in contract.columns if c.derive is None]  # fast decoding

        def extract(api: RestApi, request: ExtractRequest) -> Iterator[pd.DataFrame]:
            return api.pages(endpoint, table.render_params(request), request.log, sent)

        return RawSource("api", here.name, extract, source_tag=here.name)

    def _resource(self) -> RestApi:
        c = self.connection
        auth = c.auth
        return RestApi(
            base_url=c.base_url,
            auth={"http_basic": "basic"}.get(auth.type, auth.type),
            token=dg.EnvVar(auth.token_env) if auth.token_env else None,
            api_key_header=auth.header,
            api_key_param=auth.query_param,
            username=auth.username,
            password=dg.EnvVar(auth.password_env) if auth.password_env else None,
            connect_timeout_s=c.timeouts.connect_s,
            read_timeout_s=c.timeouts.read_s,
            page_size=c.page_size,
            max_attempts=c.retries.max_attempts,
            backoff_base_s=c.retries.backoff_base_s,
            backoff_max_s=c.retries.backoff_max_s,
            max_retry_after_s=c.retries.max_retry_after_s,
            retry_budget=c.retries.budget,
            rate_limit_per_s=c.rate_limit.per_second,
            rate_limit_burst=c.rate_limit.burst,
            rate_limit_store=c.rate_limit.location(),
            max_workers=c.concurrency,
        )
