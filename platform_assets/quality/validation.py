"""Row-level validation of extracted chunks against a contract.

Every extracted row ends up either in ``valid`` (typed, in contract column order) or in
``quarantined`` with the original record and every reason it failed, so the counts
always add up. Types are coerced here, value by value, because a failed coercion in
pandera hides the value checks of the same column; pandera then judges the typed rows.
"""

from __future__ import annotations

import json
import operator
import warnings
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import pandera.pandas as pa

from platform_assets.contracts import Column, Contract

PANDAS_DTYPES: dict[str, Any] = {
    "int64": "Int64",
    "float64": "Float64",
    "decimal": "Float64",
    "string": "str",
    "bool": "boolean",
    "date": "datetime64[us]",
    "timestamp": pd.DatetimeTZDtype("us", "UTC"),
}
COMPARATORS = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
SAMPLE_VALUE_CHARS = 200


class SchemaDriftError(ValueError):
    """The extracted data's columns do not match the contract and its policy says fail."""


@dataclass
class ValidatedChunk:
    valid: pd.DataFrame
    quarantined: list[dict[str, Any]] = field(default_factory=list)  # {"record", "reasons"}
    extra_columns: list[str] = field(default_factory=list)

    @property
    def extracted(self) -> int:
        return len(self.valid) + len(self.quarantined)


def _short(value: Any) -> Any:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= SAMPLE_VALUE_CHARS else text[:SAMPLE_VALUE_CHARS] + "..."


def _coerce_numeric(series: pd.Series, dtype: str) -> pd.Series:
    numbers = pd.to_numeric(series, errors="coerce")
    if dtype == "Int64":
        integral = numbers.isna() | (numbers == numbers.round())
        numbers = numbers.where(integral)
    return numbers.astype(dtype)


def _coerce_string(series: pd.Series) -> pd.Series:
    if pd.api.types.is_string_dtype(series.dtype) and series.dtype != object:
        return series
    is_text = series.map(lambda v: isinstance(v, str), na_action="ignore")
    return series.where(is_text.fillna(False).astype(bool)).astype("str")


def _coerce_bool(series: pd.Series) -> pd.Series:
    mapping = {True: True, False: False, "true": True, "false": False, "1": True, "0": False}
    return series.map(
        lambda v: mapping.get(v.lower() if isinstance(v, str) else v), na_action="ignore"
    ).astype("boolean")


def coerce_column(series: pd.Series, column: Column) -> pd.Series:
    """The series in the contract's dtype; values that cannot be converted become NA."""
    if column.type in ("int64", "float64", "decimal"):
        return _coerce_numeric(series, PANDAS_DTYPES[column.type])
    if column.type == "string":
        return _coerce_string(series)
    if column.type == "bool":
        return _coerce_bool(series)
    if column.type == "date":
        parsed = pd.to_datetime(series, errors="coerce", format="ISO8601", utc=True)
        return parsed.dt.tz_localize(None).dt.normalize().astype("datetime64[us]")
    if column.type == "timestamp":
        parsed = pd.to_datetime(series, errors="coerce", format="ISO8601", utc=True)
        return parsed.astype(PANDAS_DTYPES["timestamp"])
    raise ValueError(f"column {column.name!r}: unsupported type {column.type!r}")


def _column_checks(column: Column) -> list[pa.Check]:
    checks = []
    if column.min is not None:
        checks.append(pa.Check.ge(column.min))
    if column.max is not None:
        checks.append(pa.Check.le(column.max))
    if column.accepted_values is not None:
        checks.append(pa.Check.isin(list(column.accepted_values)))
    if column.pattern is not None:
        checks.append(pa.Check.str_matches(column.pattern))
    return checks


def pandera_schema(contract: Contract) -> pa.DataFrameSchema:
    """The pandera schema of a contract's typed rows (types are coerced beforehand)."""
    columns = {
        c.name: pa.Column(PANDAS_DTYPES[c.type], checks=_column_checks(c), nullable=c.nullable)
        for c in contract.columns
    }
    row_checks = [
        pa.Check(
            lambda df, r=rule: COMPARATORS[r.op](df[r.left], df[r.right]).fillna(True),
            name=str(rule),
        )
        for rule in contract.row_rules
    ]
    return pa.DataFrameSchema(
        columns,
        checks=row_checks,
        unique=list(contract.primary_key),
        report_duplicates="exclude_first",
        name=contract.table,
    )


def _check_drift(frame: pd.DataFrame, contract: Contract) -> list[str]:
    expected = contract.column_names
    missing = [c for c in expected if c not in frame.columns]
    extra = [c for c in frame.columns if c not in expected]
    if missing:
        raise SchemaDriftError(
            f"{contract.table}: columns {missing} required by contract "
            f"{contract.source_file} are missing from the extracted data "
            f"(got {list(frame.columns)})"
        )
    if extra and contract.drift_policy == "fail":
        raise SchemaDriftError(
            f"{contract.table}: unexpected columns {extra} not in contract "
            f"{contract.source_file} (drift_policy: fail)"
        )
    return extra


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def validate_chunk(
    frame: pd.DataFrame, contract: Contract, partition_value: pd.Timestamp | None = None
) -> ValidatedChunk:
    """Split one extracted chunk into typed valid rows and quarantined rows with reasons.

    Raises SchemaDriftError when columns are missing, or extra under policy ``fail``.
    """
    frame = frame.reset_index(drop=True)
    extra = _check_drift(frame, contract)
    reasons: dict[int, list[dict[str, Any]]] = defaultdict(list)
    typed = pd.DataFrame(index=frame.index)
    for column in contract.columns:
        typed[column.name] = coerce_column(frame[column.name], column)
        unparseable = typed[column.name].isna() & frame[column.name].notna()
        for idx in unparseable[unparseable].index:
            reasons[idx].append(
                {
                    "column": column.name,
                    "check": f"type({column.type})",
                    "value": _short(frame.at[idx, column.name]),
                }
            )
    if partition_value is not None and contract.partition_column is not None:
        outside = typed[contract.partition_column] != partition_value
        for idx in outside[outside.fillna(False).astype(bool)].index:
            value = typed.at[idx, contract.partition_column]
            reasons[idx].append(
                {
                    "column": contract.partition_column,
                    "check": f"in_partition({partition_value.date()})",
                    "value": _short(str(value)),
                }
            )
    candidates = typed.drop(index=list(reasons))
    try:
        pandera_schema(contract).validate(candidates, lazy=True)
    except pa.errors.SchemaErrors as exc:
        _collect_pandera_reasons(exc.failure_cases, contract, reasons)
    bad = sorted(reasons)
    original = _records(frame.loc[bad]) if bad else []
    quarantined = [
        {"record": record, "reasons": reasons[idx]}
        for idx, record in zip(bad, original, strict=True)
    ]
    return ValidatedChunk(valid=typed.drop(index=bad), quarantined=quarantined, extra_columns=extra)


def _collect_pandera_reasons(
    failures: pd.DataFrame, contract: Contract, reasons: dict[int, list[dict[str, Any]]]
) -> None:
    row_level = failures[failures["index"].notna()]
    schema_level = failures[failures["index"].isna()]
    if not schema_level.empty:
        raise SchemaDriftError(
            f"{contract.table}: contract {contract.source_file} violated for the whole chunk: "
            + "; ".join(
                f"{r.column}: {r.check} ({r.failure_case})" for r in schema_level.itertuples()
            )
        )
    rules = {str(rule): rule for rule in contract.row_rules}
    for row in row_level.itertuples():
        column, check, value = row.column, str(row.check), _short(row.failure_case)
        if check == "multiple_fields_uniqueness":
            check, column = "unique(primary_key)", ",".join(contract.primary_key)
        elif check in rules:  # a row rule fails once per row, not once per column
            column, value = f"{rules[check].left},{rules[check].right}", None
        entry = {"column": column, "check": check, "value": value}
        if entry not in reasons[int(row.index)]:
            reasons[int(row.index)].append(entry)


def reasons_json(reasons: list[dict[str, Any]]) -> str:
    return json.dumps(reasons, default=str)


def record_json(record: dict[str, Any]) -> str:
    return json.dumps(record, default=str, ensure_ascii=False)

