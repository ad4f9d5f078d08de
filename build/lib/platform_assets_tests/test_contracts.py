"""Contracts load, and an invalid one fails naming its file and field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from platform_assets.contracts import ContractError, contracts, load_contracts
from platform_assets.contracts.loader import DEFS_DIR

VALID = yaml.safe_load((DEFS_DIR / "storefront_api" / "orders.yaml").read_text())


def write(tmp_path: Path, name: str, body: dict) -> Path:
    (tmp_path / name).write_text(yaml.safe_dump(body))
    return tmp_path


def test_project_contracts_load_with_keys_partitions_and_owners() -> None:
    loaded = contracts()
    assert {c.layer for c in loaded.values()} == {"raw", "staging", "marts"}
    assert loaded["orders"].partition_column == "order_date"
    assert loaded["orders"].primary_key == ("order_id",)
    assert loaded["customers"].partition_column is None
    assert all(c.owner and c.description for c in loaded.values())


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda c: c["columns"][0].update(type="integer"), "columns[0] (order_id).type"),
        (lambda c: c.update(primary_key=["nope"]), "primary_key: 'nope' is not a declared column"),
        (lambda c: c.pop("owner"), "missing required field 'owner'"),
        (lambda c: c.update(partition_column="day"), "partition_column: 'day' is not a column"),
        (lambda c: c.update(freshness={"warn_after": "2x", "fail_after": "1h"}), "freshness"),
        (lambda c: c["columns"][0].update(colour="red"), "unknown field(s) ['colour']"),
        (lambda c: c.update(table="Orders; DROP"), "table: must be a lower-case SQL identifier"),
    ],
)
def test_invalid_contract_names_file_and_field(tmp_path: Path, mutate, message: str) -> None:
    body = yaml.safe_load(yaml.safe_dump(VALID))
    mutate(body)
    with pytest.raises(ContractError) as err:
        load_contracts(write(tmp_path, "broken.yaml", body))
    assert str(err.value).startswith("broken.yaml")
    assert message in str(err.value)


def test_reference_to_unknown_table_fails(tmp_path: Path) -> None:
    with pytest.raises(ContractError, match=r"orders.yaml: columns \(customer_id\).references"):
        load_contracts(write(tmp_path, "orders.yaml", VALID))  # customers.yaml is absent


def test_same_table_twice_fails(tmp_path: Path) -> None:
    body = {**VALID, "columns": [c for c in VALID["columns"] if "references" not in c]}
    write(tmp_path, "a.yaml", body)
    write(tmp_path, "b.yaml", body)
    with pytest.raises(ContractError, match="b.yaml: table 'orders' is already defined in a.yaml"):
        load_contracts(tmp_path)
