"""A mistake in the configuration stops the code location with a message a user can act on.

Each test writes a small dg project whose ``defs/`` holds one kind of mistake, loads it the
way the code location does (``build_definitions(ComponentTree.for_project(...))``), and
asserts that the error names the file (and line where Dagster knows it), the path inside the
file, and what is allowed there. Dagster wraps a component's error in its own
(``ComponentTreeException``), so the assertions read the whole chain, as a user's terminal
shows it.
"""

from __future__ import annotations

import re
import sys
import traceback
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest

from platform_assets.contracts import use_defs_dir
from platform_assets.contracts.loader import DEFS_DIR
from platform_assets.definitions import build_definitions

SPEND = (DEFS_DIR / "agency_drops" / "marketing_spend.yaml").read_text()
CUSTOMERS = (DEFS_DIR / "storefront_db" / "customers.yaml").read_text()
# Without its foreign key to customers, so the REST folder stands alone.
ORDERS_API = (
    (DEFS_DIR / "storefront_api" / "orders.yaml")
    .read_text()
    .replace(" references: customers.customer_id,", "")
)

DROPS_YAML = """\
type: platform_assets.components.FileDropSource
attributes:
  landing_dir: {landing_dir}
  tables:
    - contract: marketing_spend.yaml
{table_extra}"""

DB_YAML = """\
type: platform_assets.components.SqlDatabaseSource
attributes:
  connection:
{connection}
  tables:
    - contract: {contract}
      table: customers
"""

# More tables of a database another folder connects to: `connection: <that folder>`.
SHARED_DB_YAML = """\
type: platform_assets.components.SqlDatabaseSource
attributes:
  connection: {name}
  tables:
    - contract: crm_customers.yaml
      table: customers
"""

API_YAML = """\
type: platform_assets.components.RestApiSource
attributes:
  connection:
{connection}
  tables:
    - contract: orders.yaml
      path: /v1/orders
      params: {{date: "{{start}}"}}
{table_extra}"""


@dataclass
class DefsProject:
    """A dg project in a temporary folder; its package name is new, since Python caches
    imported modules by name."""

    root: Path
    package: str

    @property
    def defs(self) -> Path:
        return self.root / self.package / "defs"

    def write(self, relative: str, text: str) -> Path:
        path = self.defs / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def load(self) -> dg.Definitions:
        return build_definitions(dg.ComponentTree.for_project(self.root))

    def error(self) -> str:
        """What a user reads when loading fails: every exception of the chain."""
        with pytest.raises(Exception) as info:
            self.load()
        return "".join(traceback.format_exception(info.value))

    def file(self, relative: str) -> str:
        """How Dagster names a file of defs/ in its messages (with :line appended)."""
        return str(self.defs / relative)


def new_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> DefsProject:
    package = f"cfg_{uuid.uuid4().hex[:12]}"
    root = tmp_path / "proj"
    (root / package / "defs").mkdir(parents=True)
    (root / "pyproject.toml").write_text(
        f'[tool.dg]\ndirectory_type = "project"\n\n[tool.dg.project]\n'
        f'root_module = "{package}"\ndefs_module = "{package}.defs"\n'
    )
    (root / package / "__init__.py").write_text("")
    (root / package / "defs" / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.setenv("PLATFORM_HOME", str(tmp_path))
    return DefsProject(root, package)


def forget(project: DefsProject) -> None:
    """build_definitions made the project's defs folder the process's: give it back."""
    use_defs_dir(DEFS_DIR)
    for name in [m for m in sys.modules if m.split(".")[0] == project.package]:
        del sys.modules[name]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[DefsProject]:
    made = new_project(tmp_path, monkeypatch)
    yield made
    forget(made)


def drops(project: DefsProject, table_extra: str = "", landing_dir: str = "/tmp/landing") -> None:
    project.write("drops/marketing_spend.yaml", SPEND)
    project.write(
        "drops/defs.yaml", DROPS_YAML.format(landing_dir=landing_dir, table_extra=table_extra)
    )


def db(project: DefsProject, connection: str, folder: str = "db", table: str = "customers"):
    project.write(
        f"{folder}/{table}.yaml", CUSTOMERS.replace("table: customers", f"table: {table}")
    )
    text = DB_YAML.format(connection=connection, contract=f"{table}.yaml")
    project.write(f"{folder}/defs.yaml", text)


def crm_customers(project: DefsProject, connection: str) -> None:
    """Folder crm: a table of the database another folder (``connection``) connects to."""
    text = CUSTOMERS.replace("table: customers", "table: crm_customers")
    project.write("crm/crm_customers.yaml", text)
    project.write("crm/defs.yaml", SHARED_DB_YAML.format(name=connection))


def api(project: DefsProject, connection: str, table_extra: str = "") -> None:
    project.write("api/orders.yaml", ORDERS_API)
    project.write("api/defs.yaml", API_YAML.format(connection=connection, table_extra=table_extra))


def test_the_fixture_loads_a_valid_project(project: DefsProject) -> None:
    assert "references" not in ORDERS_API
    drops(project)
    db(project, "    url_env: SRC_URL")
    api(project, "    base_url: http://127.0.0.1:1")
    defs = project.load()
    keys = {a.key.to_user_string() for a in defs.assets or []}
    assert keys == {"marketing_spend", "customers", "orders", "quality_report"}  # + the report


# (a) unknown fields


def test_unknown_table_field_names_line_path_and_the_allowed_fields(project: DefsProject) -> None:
    drops(project, table_extra='      patern: "spend_{date}.csv"\n')
    text = project.error()
    assert f"{project.file('drops/defs.yaml')}:6" in text  # the line of `patern:`
    assert "attributes.tables.0.patern" in text
    assert "unknown field 'patern' (did you mean 'pattern'?)" in text
    assert "allowed here: contract, dialect, pattern, sensor" in text
    # Dagster's schema also accepts a template string for every field: no noise about it.
    assert "valid string" not in text and "tables.str" not in text


def test_unknown_connection_field_lists_the_connection_fields(project: DefsProject) -> None:
    db(project, "    urll_env: SRC_URL")
    text = project.error()
    assert f"{project.file('db/defs.yaml')}:4" in text
    assert "attributes.connection.urll_env" in text
    assert "did you mean 'url_env'?" in text
    assert "allowed here: chunk_size, default_url, url_env" in text
    missing = r"attributes\.connection\.url_env at .*db/defs\.yaml:\d+`\s+Field required"
    assert re.search(missing, text)
    assert "ConnectionModel" not in text  # union tags of Dagster's schema are no place in a file


def test_unknown_nested_field_names_its_parent(project: DefsProject) -> None:
    drops(project, table_extra="      sensor: {intervall_s: 60}\n")
    text = project.error()
    assert "attributes.tables.0.sensor.intervall_s" in text
    assert "allowed here: interval_s, lookback_days, max_runs_per_tick, min_age_s" in text


def test_unknown_rest_fields(project: DefsProject) -> None:
    api(project, "    bse_url: http://127.0.0.1:1", table_extra="      paginatr: {type: offset}\n")
    text = project.error()
    assert f"{project.file('api/defs.yaml')}:4" in text
    assert "unknown field 'bse_url' (did you mean 'base_url'?)" in text
    assert "attributes.tables.0.paginatr" in text
    assert "did you mean 'paginator'?" in text


# (b) a value outside its choices


def test_unknown_paginator_type_lists_the_types(project: DefsProject) -> None:
    api(project, "    base_url: http://127.0.0.1:1", table_extra="      paginator: {type: pages}\n")
    text = project.error()
    assert f"{project.file('api/defs.yaml')}:9" in text
    assert "attributes.tables.0.paginator" in text
    for allowed in ("offset", "page_number", "cursor", "header_link", "json_link", "single_page"):
        assert f"'{allowed}'" in text


# (c) names that point nowhere


def test_foreign_key_to_a_table_no_contract_defines(project: DefsProject) -> None:
    spend = SPEND.replace(
        "description: Paid marketing channel.",
        "references: channels.channel\n    description: Paid marketing channel.",
    )
    drops(project)
    project.write("drops/marketing_spend.yaml", spend)
    text = project.error()
    assert "drops/marketing_spend.yaml: columns (channel).references: 'channels.channel'" in text
    assert "names no contracted table column" in text


def test_a_shared_connection_is_read_from_the_folder_it_names(project: DefsProject) -> None:
    db(project, "    url_env: SRC_URL")
    crm_customers(project, "db")
    defs = project.load()
    needs = {a.key.to_user_string(): a.required_resource_keys for a in defs.assets or []}
    assert needs == {
        "customers": {"db", "warehouse", "io_manager"},
        "crm_customers": {"db", "warehouse", "io_manager"},
        "quality_report": {"alerting", "warehouse", "io_manager"},  # every project's report
    }
    assert "crm" not in (defs.resources or {})


@pytest.mark.parametrize("name", ["nope", "drops", "crm"])
def test_a_connection_naming_no_sql_source_folder(project: DefsProject, name: str) -> None:
    """Unknown, not a SQL source, or itself borrowing one: the folders that qualify are listed."""
    drops(project)
    db(project, "    url_env: SRC_URL")
    crm_customers(project, name)
    text = project.error()
    assert (
        f"defs/crm/defs.yaml: attributes.connection: {name!r} is no folder of defs/ with a "
        "SqlDatabaseSource connection of its own; those are: ['db']"
    ) in text


def test_an_asset_reading_a_connection_no_folder_defines(project: DefsProject) -> None:
    """Python beside the YAML can still name a resource; check_connections stops it."""
    drops(project)
    project.write(
        "extra/crm_accounts.py",
        "import dagster as dg\n\n\n"
        '@dg.asset(required_resource_keys={"crm"})\n'
        "def crm_accounts() -> None: ...\n",
    )
    text = project.error()
    assert "crm_accounts reads connection 'crm', which no folder of defs/ defines" in text
    assert "connections: ['drops']" in text


# (d) templates


def test_unset_variable_names_the_variable_file_and_line(
    project: DefsProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NOT_SET_XYZ", raising=False)
    drops(project, landing_dir='"{{ env.NOT_SET_XYZ }}"')
    text = project.error()
    assert f"{project.file('drops/defs.yaml')}:3 - attributes.landing_dir" in text
    assert "environment variable NOT_SET_XYZ is not set (and no default given)" in text


def test_a_default_makes_an_unset_variable_fine(
    project: DefsProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NOT_SET_XYZ", raising=False)
    drops(project, landing_dir="\"{{ env('NOT_SET_XYZ', '/srv/landing') }}\"")
    assert project.load().resources["drops"].path == "/srv/landing"


# (e) SQL


def test_sql_naming_an_unknown_table(project: DefsProject) -> None:
    drops(project)
    project.write("staging/defs.yaml", "type: platform_assets.components.SqlTransforms\n")
    project.write("staging/stg_spend.sql", 'SELECT "date", channel FROM "raw"."marketing_spnd"\n')
    project.write(
        "staging/stg_spend.yaml",
        (DEFS_DIR / "staging" / "stg_marketing_spend.yaml")
        .read_text()
        .replace("table: stg_marketing_spend", "table: stg_spend"),
    )
    text = project.error()
    assert "defs/staging/stg_spend.sql: reads table 'raw.marketing_spnd', which no contract" in text
    assert "known tables: ['raw.marketing_spend', 'staging.stg_spend']" in text


# (f) contract files


def test_contract_file_that_does_not_exist(project: DefsProject) -> None:
    drops(project)
    text = DROPS_YAML.format(landing_dir="/x", table_extra="")
    project.write("drops/defs.yaml", text.replace("marketing_spend.yaml", "marketing_spnd.yaml"))
    text = project.error()
    assert (
        "defs/drops/defs.yaml: attributes.tables[0].contract: no contract file "
        "'marketing_spnd.yaml' in defs/drops; contracts found: ['drops/marketing_spend.yaml']"
    ) in text


def test_a_broken_contract_is_not_blamed_on_another_folder(project: DefsProject) -> None:
    """Every component reads the one catalog of contracts; the first to load it must not be
    named as the culprit of a mistake in another folder's contract."""
    drops(project)  # "drops" loads before "tickets"
    spend = SPEND.replace("table: marketing_spend", "table: tickets")
    project.write("tickets/tickets.yaml", spend.replace("type: int64", "type: integer", 1))
    project.write("tickets/defs.yaml", DROPS_YAML.format(landing_dir="/x", table_extra=""))
    text = project.error()
    assert "tickets/tickets.yaml: columns[3] (impressions).type: must be one of [" in text
    assert "got 'integer'" in text
    assert "definitions for drops" not in text  # Dagster's "Error while building ... for"


# (g) secrets where a variable name belongs: refused, never repeated

SECRET = "s3cr3t-9f2c"


def test_a_url_with_a_password_in_url_env_is_refused_unrepeated(project: DefsProject) -> None:
    db(project, f'    url_env: "postgresql://etl:{SECRET}@db.internal/shop"')
    text = project.error()
    assert f"{project.file('db/defs.yaml')}:4" in text
    assert "attributes.connection.url_env" in text
    assert "must name an environment variable (e.g. MY_API_TOKEN)" in text
    assert SECRET not in text


def test_a_secret_under_an_unknown_field_is_not_repeated(project: DefsProject) -> None:
    db(project, f'    url: "postgresql://etl:{SECRET}@db.internal/shop"')
    text = project.error()
    assert "unknown field 'url' (did you mean 'url_env'?)" in text
    assert SECRET not in text  # neither the field's value nor the mapping holding it


def test_a_token_in_token_env_is_refused_unrepeated(project: DefsProject) -> None:
    api(
        project,
        f"    base_url: http://x\n    auth: {{type: bearer, token_env: 'abc-123:{SECRET}'}}",
    )
    text = project.error()
    assert "attributes.connection.auth.token_env" in text
    assert "must name an environment variable" in text
    assert SECRET not in text
