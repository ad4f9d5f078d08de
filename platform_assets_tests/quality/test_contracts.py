"""Contracts: the new fields parse, invalid ones fail naming file and field, docs stay fresh."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from platform_assets.automation.partitions import daily_partitions
from platform_assets.contracts import ContractError, contracts, load_contracts
from platform_assets.contracts.docs import DOCS_PATH, main, render
from platform_assets.contracts.loader import DEFS_DIR, contract_files, parse_contract
from platform_assets.contracts.model import Volume
from platform_assets.quality.checks import check_specs


def raw_yaml(table: str) -> dict[str, Any]:
    [path] = [p for p in contract_files(DEFS_DIR) if p.stem == table]
    return yaml.safe_load(path.read_text())


def test_checks_severities_and_pii_are_derived_from_the_contracts() -> None:
    project = contracts()
    assert project["orders"].check_names == [
        "primary_key_unique_not_null",
        "accepted_values_and_ranges",
        "foreign_key_customer_id",
        "quarantine_rate",
        "volume_anomaly",
        "schema_drift",
    ]
    assert project["stg_customers"].check_names == [
        "primary_key_unique_not_null",
        "volume_anomaly",
        "schema_drift",
    ]
    assert project["orders"].quarantine_threshold == 0.1
    assert project["orders"].volume == Volume(1, 14, 5, 4.0)
    assert project["customers"].pii_columns == {"email", "full_name"}
    assert project["stg_customers"].pii_columns == {"email"}
    warned = {
        (table, name)
        for table, c in project.items()
        for name in c.check_names
        if c.severity(name) == "WARN"
    }
    assert warned == {
        ("stg_orders", "foreign_key_customer_id"),
        ("stg_payments", "foreign_key_order_id"),
    }


def test_check_specs_mirror_the_contract_and_only_error_ones_block() -> None:
    for contract in contracts().values():
        partitions = daily_partitions if contract.is_partitioned else None
        specs = check_specs(contract, contracts(), partitions)
        assert [s.name for s in specs] == contract.check_names
        assert [s.blocking for s in specs] == [contract.severity(s.name) == "ERROR" for s in specs]
        assert {s.partitions_def for s in specs} == {partitions}
    [fk] = [
        s
        for s in check_specs(contracts()["stg_payments"], contracts(), daily_partitions)
        if s.name.startswith("foreign")
    ]
    assert "Severity WARN" in fk.description and not fk.blocking


def _set(path: str, value: Any) -> Any:
    def edit(raw: dict[str, Any]) -> None:
        *parents, leaf = path.split(".")
        target: Any = raw
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        if value is _DELETE:
            del target[leaf]
        else:
            target[leaf] = value

    return edit


_DELETE = object()

INVALID = [
    ("orders", _set("volume", {"max_abs_z": 0}), "orders.yaml: volume.max_abs_z"),
    ("orders", _set("volume", {"min_history": 20}), "orders.yaml: volume.min_history"),
    ("orders", _set("volume", {"min_rows": -1}), "orders.yaml: volume.min_rows"),
    ("orders", _set("volume", {"lookback": 3}), "orders.yaml: volume: unknown field(s)"),
    ("customers", _set("volume", {"history_partitions": 3}), "customers.yaml: volume: "),
    ("orders", _set("quarantine_threshold", _DELETE), "orders.yaml: quarantine_threshold: req"),
    ("orders", _set("quarantine_threshold", 1.5), "orders.yaml: quarantine_threshold: must"),
    ("stg_orders", _set("quarantine_threshold", 0.1), "stg_orders.yaml: quarantine_threshold"),
    (
        "orders",
        _set("check_severity", {"no_such_check": "WARN"}),
        "orders.yaml: check_severity.no_such_check: names no check",
    ),
    (
        "orders",
        _set("check_severity", {"schema_drift": "INFO"}),
        "orders.yaml: check_severity.schema_drift: must be one of ['ERROR', 'WARN']",
    ),
    ("orders", _set("drift_policy", "sometimes"), "orders.yaml: drift_policy"),
    ("orders", _set("columns.0.pii", "yes"), "orders.yaml: columns[0] (order_id).pii"),
    ("orders", _set("columns.0.trim", "yes"), "orders.yaml: columns[0] (order_id).trim: must be"),
    (
        "orders",
        _set("columns.5.allow_non_finite", True),
        "orders.yaml: columns[5] (amount_cents).allow_non_finite: only float64 columns can hold "
        "inf (this one is int64)",
    ),
    ("orders", _set("quarantine_treshold", 0.1), "unknown field(s) ['quarantine_treshold']"),
]


@pytest.mark.parametrize(("table", "edit", "message"), INVALID, ids=[m for *_, m in INVALID])
def test_invalid_contracts_fail_naming_file_and_field(table, edit, message) -> None:
    raw = copy.deepcopy(raw_yaml(table))
    edit(raw)
    with pytest.raises(ContractError) as error:
        parse_contract(raw, f"{table}.yaml")
    assert message in str(error.value)


def test_an_invalid_file_stops_loading_the_directory(tmp_path: Path) -> None:
    for path in contract_files(DEFS_DIR):
        (tmp_path / path.name).write_text(path.read_text())
    broken = raw_yaml("payments")
    broken["check_severity"] = {"foreign_key_order_id": "LOUD"}
    (tmp_path / "payments.yaml").write_text(yaml.safe_dump(broken))
    with pytest.raises(ContractError, match=r"^payments.yaml: check_severity.foreign_key_order_id"):
        load_contracts(tmp_path)


def test_committed_contract_docs_are_up_to_date() -> None:
    assert DOCS_PATH.read_text() == render(), (
        "docs/contracts.md is stale: run python -m platform_assets.contracts.docs"
    )
    assert main(["--check"]) == 0


def test_docs_show_every_table_its_gates_and_pii() -> None:
    text = render()
    for contract in contracts().values():
        assert f"### {contract.table}\n" in text
    assert "| `email` | string | no | yes |" in text
    assert "`foreign_key_order_id` (WARN)" in text


def test_value_options_parse_with_explicit_defaults() -> None:
    raw = copy.deepcopy(raw_yaml("marketing_spend"))
    [spend] = [c for c in raw["columns"] if c["name"] == "spend_usd"]
    spend |= {"trim": True, "allow_non_finite": True}
    contract = parse_contract(raw, "marketing_spend.yaml")
    column = contract.column("spend_usd")
    assert (column.trim, column.allow_non_finite) == (True, True)
    assert (contract.column("clicks").trim, contract.column("clicks").allow_non_finite) == (
        False,
        False,
    )
