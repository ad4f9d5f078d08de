"""SQL transforms: a table is a ``.sql`` file plus its contract; its dependencies are read
from the SQL, never listed by hand, and a SELECT that does not match the catalog stops the
code location with the file, the table and the fix."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from platform_assets.components.common import ConfigError
from platform_assets.components.sql_transforms import sql_dependencies
from platform_assets.contracts import catalog
from platform_assets.contracts.loader import DEFS_DIR
from platform_assets_tests.components.test_config_errors import DefsProject, forget, new_project

DEMO = catalog(DEFS_DIR)

# A new mart: signups per channel and day against the day's spend (a CTE and a JOIN).
MART_SQL = """\
WITH spend AS (
  SELECT "date", channel, spend_usd
  FROM "staging"."stg_marketing_spend"
  WHERE "date" = :partition
)
SELECT
  s."date",
  s.channel,
  count(c.customer_id) AS signups,
  s.spend_usd
FROM spend AS s
LEFT JOIN "staging"."stg_customers" AS c
  ON c.acquisition_channel = s.channel AND c.signup_date = s."date"
GROUP BY s."date", s.channel, s.spend_usd
"""

MART_CONTRACT = """\
table: channel_signups
layer: marts
description: New customers per channel and day, against that day's spend.
owner: team:growth
primary_key: [date, channel]
partition_column: date
freshness: {warn_after: 30h, fail_after: 48h}
columns:
  - {name: date, type: date, nullable: false, description: Day.,
     lineage: [stg_marketing_spend.date]}
  - {name: channel, type: string, nullable: false, description: Channel.,
     lineage: [stg_marketing_spend.channel]}
  - {name: signups, type: int64, nullable: false, description: New customers.,
     lineage: [stg_customers.customer_id]}
  - {name: spend_usd, type: decimal, nullable: false, description: Spend.,
     lineage: [stg_marketing_spend.spend_usd]}
"""


def demo_file(relative: str) -> str:
    return (DEFS_DIR / relative).read_text()


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[DefsProject]:
    """Two raw sources and their staging tables, copied from the demo; marts are the test's."""
    made = new_project(tmp_path, monkeypatch)
    for relative in (
        "agency_drops/defs.yaml",
        "agency_drops/marketing_spend.yaml",
        "storefront_db/defs.yaml",
        "storefront_db/customers.yaml",
        "staging/defs.yaml",
        "staging/stg_marketing_spend.sql",
        "staging/stg_marketing_spend.yaml",
        "staging/stg_customers.sql",
        "staging/stg_customers.yaml",
    ):
        made.write(relative, demo_file(relative))
    made.write("marts/defs.yaml", "type: platform_assets.components.SqlTransforms\n")
    yield made
    forget(made)


def parents(project: DefsProject) -> dict[str, set[str]]:
    graph = project.load().resolve_asset_graph()
    return {
        key.to_user_string(): {p.to_user_string() for p in graph.get(key).parent_keys}
        for key in graph.get_all_asset_keys()
        if key.path != ["quality_report"]  # the report reads every table
    }


def test_a_new_mart_gets_its_dependencies_from_its_sql(project: DefsProject) -> None:
    project.write("marts/channel_signups.sql", MART_SQL)
    project.write("marts/channel_signups.yaml", MART_CONTRACT)
    assert parents(project) == {
        "marketing_spend": set(),
        "customers": set(),
        "stg_marketing_spend": {"marketing_spend"},
        "stg_customers": {"customers"},
        "channel_signups": {"stg_marketing_spend", "stg_customers"},  # not the CTE `spend`
    }


def test_editing_the_sql_changes_the_dependencies(project: DefsProject) -> None:
    project.write(
        "marts/channel_signups.sql",
        'SELECT "date", channel, 0 AS signups, spend_usd FROM "staging"."stg_marketing_spend"\n',
    )
    project.write(
        "marts/channel_signups.yaml",
        MART_CONTRACT.replace(",\n     lineage: [stg_customers.customer_id]", ""),
    )
    assert parents(project)["channel_signups"] == {"stg_marketing_spend"}


def test_unknown_table_names_the_sql_file_and_the_table(project: DefsProject) -> None:
    project.write(
        "marts/channel_signups.sql",
        MART_SQL.replace('"staging"."stg_customers"', '"staging"."stg_customer"'),
    )
    project.write("marts/channel_signups.yaml", MART_CONTRACT)
    text = project.error()
    assert "defs/marts/channel_signups.sql: reads table 'staging.stg_customer', which no" in text
    assert "'staging.stg_customers'" in text  # the known tables, as they are written


def test_lineage_to_a_table_the_sql_does_not_read(project: DefsProject) -> None:
    project.write(
        "marts/channel_signups.sql",
        'SELECT "date", channel, 0 AS signups, spend_usd FROM "staging"."stg_marketing_spend"\n',
    )
    project.write("marts/channel_signups.yaml", MART_CONTRACT)
    text = project.error()
    assert (
        "defs/marts/channel_signups.sql: marts/channel_signups.yaml declares lineage "
        "signups <- stg_customers.customer_id, but the SQL reads only ['stg_marketing_spend']"
    ) in text


def test_a_column_the_sql_computes_from_an_undeclared_column(project: DefsProject) -> None:
    project.write("marts/channel_signups.sql", MART_SQL)
    project.write(
        "marts/channel_signups.yaml",
        MART_CONTRACT.replace(",\n     lineage: [stg_marketing_spend.spend_usd]", ""),
    )
    assert (
        "defs/marts/channel_signups.sql: the SQL computes spend_usd from "
        "stg_marketing_spend.spend_usd, which marts/channel_signups.yaml does not declare: add "
        "them to its lineage (lineage: [stg_marketing_spend.spend_usd])"
    ) in project.error()


def test_lineage_naming_a_column_the_sql_never_reads(project: DefsProject) -> None:
    project.write("marts/channel_signups.sql", MART_SQL)
    project.write(
        "marts/channel_signups.yaml",
        MART_CONTRACT.replace(
            "lineage: [stg_customers.customer_id]",
            "lineage: [stg_customers.customer_id, stg_customers.email]",
        ),
    )
    assert (
        "defs/marts/channel_signups.sql: marts/channel_signups.yaml declares lineage signups <- "
        "stg_customers.email, but the SQL never reads that column: fix the lineage"
    ) in project.error()


def test_the_chain_of_a_new_mart_reaches_the_raw_columns(project: DefsProject) -> None:
    project.write("marts/channel_signups.sql", MART_SQL)
    project.write("marts/channel_signups.yaml", MART_CONTRACT)
    specs = {s.key.to_user_string(): s for s in project.load().resolve_all_asset_specs()}
    columns = specs["channel_signups"].metadata["dagster/column_schema"].columns
    assert {c.name: c.description for c in columns}["signups"] == (
        "New customers. From stg_customers.customer_id <- customers.customer_id."
    )
    assert specs["channel_signups"].tags["platform/source.storefront_db"] == ""
    assert specs["channel_signups"].tags["platform/source.agency_drops"] == ""


def test_a_table_without_its_schema_fails_with_the_fix(project: DefsProject) -> None:
    sql = MART_SQL.replace('"staging"."stg_customers"', "stg_customers")
    project.write("marts/channel_signups.sql", sql)
    project.write("marts/channel_signups.yaml", MART_CONTRACT)
    text = project.error()
    assert (
        "defs/marts/channel_signups.sql: reads 'stg_customers'; write it with its schema: "
        '"staging"."stg_customers" (staging/stg_customers.yaml)'
    ) in text


def test_a_sql_file_without_a_contract_beside_it(project: DefsProject) -> None:
    project.write("marts/channel_signups.sql", MART_SQL)
    text = project.error()
    assert "defs/marts/channel_signups.sql: its contract channel_signups.yaml is missing" in text


# sql_dependencies, on the demo's catalog


def deps(sql: str) -> tuple[str, ...]:
    return sql_dependencies(sql, DEMO, "x.sql")


def test_cte_names_are_not_dependencies() -> None:
    # `orders` is also a contracted (raw) table: unqualified, it is the CTE.
    sql = """
        WITH orders AS (SELECT * FROM "staging"."stg_orders"),
             paid AS (SELECT order_id FROM "staging"."stg_payments")
        SELECT * FROM orders JOIN paid USING (order_id)
    """
    assert deps(sql) == ("stg_orders", "stg_payments")


def test_a_cte_and_the_contracted_table_of_the_same_name() -> None:
    sql = 'WITH orders AS (SELECT 1 AS x) SELECT * FROM orders, "raw"."orders"'
    assert deps(sql) == ("orders",)


def test_subqueries_are_read() -> None:
    sql = """
        SELECT o.order_id,
               (SELECT max(paid_at) FROM "staging"."stg_payments" p
                WHERE p.order_id = o.order_id) AS last_paid
        FROM (SELECT * FROM "staging"."stg_orders") AS o
        WHERE o.customer_id IN (SELECT customer_id FROM "staging"."stg_customers")
    """
    assert deps(sql) == ("stg_customers", "stg_orders", "stg_payments")


def test_every_branch_of_a_union_is_read() -> None:
    sql = """
        SELECT order_id AS id FROM "staging"."stg_orders"
        UNION ALL
        SELECT payment_id FROM "staging"."stg_payments"
        UNION
        SELECT customer_id FROM "staging"."stg_customers"
    """
    assert deps(sql) == ("stg_customers", "stg_orders", "stg_payments")


def test_unquoted_names_fold_to_lower_case_as_in_postgres() -> None:
    assert deps("SELECT * FROM Staging.Stg_Orders") == ("stg_orders",)
    with pytest.raises(ConfigError, match="reads table 'Staging.Stg_Orders'"):
        deps('SELECT * FROM "Staging"."Stg_Orders"')  # quoted: another name


def test_table_functions_are_not_tables() -> None:
    sql = 'SELECT d FROM generate_series(1, 3) AS g(d) JOIN "staging"."stg_orders" ON true'
    assert deps(sql) == ("stg_orders",)


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ('SELECT * FROM "raw"."nope"', "x.sql: reads table 'raw.nope', which no contract defines"),
        ("SELECT * FROM stg_orders", 'write it with its schema: "staging"."stg_orders"'),
        ('SELECT * FROM "raw"."stg_orders"', 'write it with its schema: "staging"."stg_orders"'),
        ("SELECT 1 AS x", "x.sql: reads no contracted table"),
        (
            'DELETE FROM "raw"."orders"',
            "x.sql: must hold one SELECT (the table's rows), got DELETE",
        ),
        ("SELECT 1; SELECT 2", "got 2 statements"),
        ("SELEC * FRM x", "x.sql: must hold one SELECT"),  # a typo parses as an expression
        ('SELECT * FROM ("raw"."orders"', "x.sql: not a SQL statement sqlglot can read"),
    ],
)
def test_what_sql_dependencies_refuses(sql: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        deps(sql)
    assert message in str(info.value)
