"""The component reference and the worked examples cannot drift from the code.

docs/components.md is generated from the component types' pydantic models and must list
every field. docs/sources.md's examples (fenced blocks whose first line names their file) are
written into a scratch dg project beside the demo's folders and loaded; the mistakes its
error table shows are made there and must fail with the words the table quotes.
"""

from __future__ import annotations

import re
import shutil
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from platform_assets.components.reference import (
    DOCS_PATH,
    component_types,
    field_docs,
    render,
    type_string,
)
from platform_assets.contracts import catalog, use_defs_dir
from platform_assets.contracts.loader import DEFS_DIR
from platform_assets.definitions import build_definitions

SOURCES_MD = DOCS_PATH.with_name("sources.md")
EXAMPLE = re.compile(r"^```(?:yaml|sql)\n((?:#|--) (defs/\S+)\n.*?)^```$", re.M | re.S)
PYPROJECT = """\
[tool.dg]
directory_type = "project"

[tool.dg.project]
root_module = "{name}"
defs_module = "{name}.defs"
"""
EXAMPLE_ENV = {"HELPDESK_API_URL": "https://helpdesk.example.com"}
EXAMPLE_FILES = {
    "defs/helpdesk_api/defs.yaml",
    "defs/helpdesk_api/tickets.yaml",
    "defs/helpdesk_api/agents.yaml",
    "defs/billing_db/defs.yaml",
    "defs/billing_db/accounts.yaml",
    "defs/billing_db/invoices.yaml",
    "defs/billing_db/refunds.yaml",
    "defs/logistics_drops/defs.yaml",
    "defs/logistics_drops/shipments.yaml",
    "defs/marts/payment_mix_by_day.sql",
    "defs/marts/payment_mix_by_day.yaml",
}
# The assets the examples add, and what each depends on (read from contracts and SQL).
EXAMPLE_DEPS = {
    "tickets": {"agents"},
    "agents": set(),
    "accounts": {"customers"},
    "invoices": {"accounts"},
    "refunds": {"invoices"},
    "shipments": set(),
    "payment_mix_by_day": {"stg_payments"},
}
# Fields without a description (a nested model's docstring counts). Describe them to shrink
# this set; a new field must come with Field(description=...).
UNDESCRIBED = frozenset(
    {
        "FileDropSource: tables",
        "FileDropSource: tables[].dialect",
        "FileDropSource: tables[].dialect.delimiter",
        "FileDropSource: tables[].dialect.quotechar",
        "FileDropSource: tables[].dialect.encoding",
        "FileDropSource: tables[].sensor",
        "FileDropSource: tables[].sensor.max_runs_per_tick",
        "RestApiSource: connection",
        "RestApiSource: connection.auth.type",
        "RestApiSource: connection.timeouts",
        "RestApiSource: connection.retries.backoff_base_s",
        "RestApiSource: connection.retries.backoff_max_s",
        "RestApiSource: connection.retries.max_retry_after_s",
        "RestApiSource: connection.rate_limit",
        "RestApiSource: connection.rate_limit.burst",
        "RestApiSource: tables",
        "RestApiSource: tables[].paginator.type",
        "SqlDatabaseSource: tables",
    }
)


def test_committed_reference_is_current() -> None:
    assert DOCS_PATH.read_text() == render(), (
        "docs/components.md is stale: run python -m platform_assets.components.reference"
    )


def _schema_fields(schema: dict[str, Any]) -> set[str]:
    """Every property name in a JSON schema and its definitions."""
    models = [schema, *schema.get("$defs", {}).values()]
    return {name for model in models for name in model.get("properties", {})}


@pytest.mark.parametrize("component", component_types(), ids=lambda c: c.__name__)
def test_every_field_is_in_the_reference(component: type) -> None:
    text = DOCS_PATH.read_text()
    assert f"type: {type_string(component)}" in text
    paths = [doc.path for doc in field_docs(component)]
    for path in paths:
        assert f"| `{path}` |" in text, f"{component.__name__}: {path} is not documented"
    # Checked against pydantic's own view of the models, not only the reference's walk.
    leaves = {re.split(r"[.\]]", path)[-1] for path in paths}
    assert _schema_fields(component.model_json_schema()) <= leaves


def test_new_fields_come_with_a_description() -> None:
    undescribed = {
        f"{component.__name__}: {doc.path}"
        for component in component_types()
        for doc in field_docs(component)
        if not doc.description
    }
    assert not undescribed - UNDESCRIBED, "give these fields Field(description=...)"


def examples() -> dict[str, str]:
    """docs/sources.md's example files: path inside the package -> text."""
    return {m.group(2): m.group(1) for m in EXAMPLE.finditer(SOURCES_MD.read_text())}


def message_chain(exc: BaseException) -> str:
    messages = []
    current: BaseException | None = exc
    while current is not None:
        messages.append(str(current))
        current = current.__cause__ or current.__context__
    return "\n".join(messages)


@pytest.fixture
def load_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[dict[str, str]], dg.Definitions]]:
    """Loads a scratch dg project: the demo's defs folder plus the given files."""
    monkeypatch.setenv("PLATFORM_HOME", str(tmp_path / "home"))
    for name, value in EXAMPLE_ENV.items():
        monkeypatch.setenv(name, value)
    packages: list[str] = []

    def load(files: dict[str, str]) -> dg.Definitions:
        name = f"docs_example_{uuid.uuid4().hex[:8]}"
        packages.append(name)
        root = tmp_path / name
        package = root / name
        shutil.copytree(DEFS_DIR, package / "defs", ignore=shutil.ignore_patterns("__pycache__"))
        (package / "__init__.py").write_text("")
        (root / "pyproject.toml").write_text(PYPROJECT.format(name=name))
        for relative, text in files.items():
            path = package / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        monkeypatch.syspath_prepend(str(root))
        return build_definitions(dg.ComponentTree.for_project(root))

    yield load
    use_defs_dir(DEFS_DIR)  # build_definitions points the process at the scratch project
    for module in [m for m in sys.modules if m.split(".")[0] in packages]:
        del sys.modules[module]


def test_sources_examples_load_with_their_assets(load_project: Callable) -> None:
    files = examples()
    assert set(files) == EXAMPLE_FILES
    defs = load_project(files)
    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert keys - set(catalog(DEFS_DIR)) - {"quality_report"} == set(EXAMPLE_DEPS)
    for table, deps in EXAMPLE_DEPS.items():
        node = graph.get(dg.AssetKey(table))
        assert {p.to_user_string() for p in node.parent_keys} == deps, table
    partitioned = {t for t in EXAMPLE_DEPS if graph.get(dg.AssetKey(t)).partitions_def}
    assert partitioned == {"tickets", "invoices", "refunds", "shipments", "payment_mix_by_day"}
    tickets_checks = {c.name for c in graph.get(dg.AssetKey("tickets")).check_keys}
    assert "foreign_key_assignee_id" in tickets_checks
    assert graph.get(dg.AssetKey("payment_mix_by_day")).group_name == "marts"
    assert "shipments_drop_sensor" in {s.name for s in defs.sensors or []}


# (file, text in the example, the mistake, words of the error): each row of the docs'
# error table, made for real.
MISTAKES = [
    (
        "defs/billing_db/defs.yaml",
        "url_env: BILLING_DB_URL",
        "url_env: postgresql://etl:s3cret@billing-db/billing",
        "must name an environment variable (e.g. MY_API_TOKEN) that holds the value, not the "
        "value itself (it is not repeated here)",
    ),
    (
        "defs/billing_db/defs.yaml",
        "window_column: issued_at",
        "windw_column: issued_at",
        "unknown field 'windw_column' (did you mean 'window_column'?); allowed here: contract, "
        "db_schema, incremental, key, query, table, window_column",
    ),
    (
        "defs/helpdesk_api/defs.yaml",
        "contract: tickets.yaml",
        "contract: ticket.yaml",
        "defs/helpdesk_api/defs.yaml: attributes.tables[0].contract: no contract file "
        "'ticket.yaml' in defs/helpdesk_api; contracts found: [",
    ),
    (
        "defs/helpdesk_api/defs.yaml",
        "records: agents",
        'records: agents\n      params: {since: "{start}"}',
        "defs/helpdesk_api/defs.yaml: attributes.tables[1].params: {start}/{end} need a "
        "partitioned table; helpdesk_api/agents.yaml has no partition_column",
    ),
    (
        "defs/helpdesk_api/defs.yaml",
        '"{end}"',
        '"{stop}"',
        "defs/helpdesk_api/defs.yaml: attributes.tables[0].params: unknown placeholder(s) "
        "['stop']; allowed: {start}, {end}",
    ),
    (
        "defs/billing_db/defs.yaml",
        "      window_column: issued_at\n",
        "",
        "defs/billing_db/defs.yaml: attributes.tables[1]: billing_db/invoices.yaml is "
        "partitioned: give window_column (or a query binding :start and :end)",
    ),
    (
        "defs/logistics_drops/defs.yaml",
        "outbound/acme_shipments_{date}.csv",
        "outbound/{date}/shipments.csv",
        "defs/logistics_drops/defs.yaml: attributes.tables[0].pattern: drop pattern "
        "'outbound/{date}/shipments.csv': the file name must hold {date} once",
    ),
    (
        "defs/helpdesk_api/tickets.yaml",
        "derive: utc_date(created_at)",
        "derive: utc_date(ticket_id)",
        "helpdesk_api/tickets.yaml: columns (created_date).derive: 'ticket_id' must be a "
        "declared timestamp column",
    ),
    (
        "defs/helpdesk_api/tickets.yaml",
        "references: agents.agent_id",
        "references: agent.agent_id",
        "helpdesk_api/tickets.yaml: columns (assignee_id).references: 'agent.agent_id' names "
        "no contracted table column",
    ),
    (
        "defs/marts/payment_mix_by_day.sql",
        'FROM "staging"."stg_payments"',
        "FROM stg_payments",
        "defs/marts/payment_mix_by_day.sql: reads 'stg_payments'; write it with its schema: "
        '"staging"."stg_payments"',
    ),
    (
        "defs/marts/payment_mix_by_day.sql",
        'FROM "staging"."stg_payments"',
        'FROM "staging"."stg_refunds"',
        "defs/marts/payment_mix_by_day.sql: reads table 'staging.stg_refunds', which no "
        "contract defines; known tables: [",
    ),
    (
        "defs/marts/payment_mix_by_day.yaml",
        "lineage: [stg_payments.method]",
        "lineage: [stg_orders.status]",
        "defs/marts/payment_mix_by_day.sql: marts/payment_mix_by_day.yaml declares lineage "
        "method <- stg_orders.status, but the SQL reads only ['stg_payments']",
    ),
    (
        "defs/marts/payment_mix_by_day.yaml",
        "lineage: [stg_payments.method]",
        "lineage: [stg_payments.paid_at]",
        "defs/marts/payment_mix_by_day.sql: marts/payment_mix_by_day.yaml declares lineage "
        "method <- stg_payments.paid_at, but the SQL never reads that column: fix the lineage",
    ),
    (
        "defs/marts/payment_mix_by_day.yaml",
        "lineage: [stg_payments.amount_usd]",
        "lineage: []",
        "defs/marts/payment_mix_by_day.sql: the SQL computes captured_usd from "
        "stg_payments.amount_usd, which marts/payment_mix_by_day.yaml does not declare: add "
        "them to its lineage (lineage: [stg_payments.amount_usd])",
    ),
]


@pytest.mark.parametrize(("file", "right", "wrong", "words"), MISTAKES)
def test_documented_mistakes_fail_as_documented(
    load_project: Callable, file: str, right: str, wrong: str, words: str
) -> None:
    table = SOURCES_MD.read_text()
    assert words in table, "the error table of docs/sources.md must quote it"
    files = examples()
    assert right in files[file]
    files[file] = files[file].replace(right, wrong, 1)
    with pytest.raises(Exception) as failure:  # noqa: B017 - Dagster wraps the cause
        load_project(files)
    assert words in message_chain(failure.value)


def test_an_unset_template_variable_is_named(
    load_project: Callable, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HELPDESK_API_URL")
    words = "environment variable HELPDESK_API_URL is not set (and no default given)"
    assert words in SOURCES_MD.read_text()
    with pytest.raises(Exception) as failure:  # noqa: B017 - Dagster wraps the cause
        load_project(examples())
    assert words in message_chain(failure.value)
