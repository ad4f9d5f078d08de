"""Row-level validation of extracted chunks against a contract.

Every extracted row ends up either in ``valid`` (typed, in contract column order) or in
``quarantined`` with the original record and every reason it failed, so the counts
always add up. Types are coerced here, value by value, because a failed coercion in
pandera hides the value checks of the same column; pandera then judges the typed rows.
Coercion is strict about Python types (a boolean is not a number, a number is not a
timestamp) so that a source changing a field's type shows up as quarantined rows and as
schema drift, never as silently reinterpreted values. Text is read by each type's exact
grammar (``TEXT_GRAMMAR`` in contracts/types.py, documented in docs/contracts.md): what it
does not match is quarantined with the rule it breaks, never trimmed, truncated or rounded.
Every rule runs on every row (types, partition day, pandera's checks), so a quarantined row
carries all its reasons, in contract column order.
"""

from __future__ import annotations

import datetime as dt
import math
import operator
import re
import warnings
from collections import defaultdict
from collections.abc import Iterable, Iterator
from decimal import Decimal
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import pandera.pandas as pa

from platform_assets.contracts import Column, Contract, contracts
from platform_assets.contracts.types import (
    NON_FINITE_TEXT,
    TEXT_GRAMMAR,
    pandas_dtype,
    type_label,
)
from platform_assets.quality.drift import SchemaDriftError
from platform_assets.warehouse.records import ValidatedChunk

COMPARATORS = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
SAMPLE_VALUE_CHARS = 200
VALIDATION_BATCH_ROWS = 50_000  # rows per validate_chunk call (see validation_batches)
INT64_LIMIT = 2**63  # exclusive upper bound of int64
MAX_NUMBER_CHARS = 64
_NUMBER_TYPES = (int, float, str, Decimal, np.integer, np.floating)
_NUMBER_KINDS = frozenset({"integer", "floating", "mixed-integer-float", "decimal", "string"})
_TEMPORAL_TYPES = (str, dt.date, np.datetime64)  # dt.datetime and pd.Timestamp are dt.date
_TEMPORAL_KINDS = frozenset({"string", "date", "datetime", "datetime64", "empty"})


def _short(value: Any) -> Any:
    if isinstance(value, np.generic):  # np.int64(-5) reads as -5 in a reason
        value = value.item()
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= SAMPLE_VALUE_CHARS else text[:SAMPLE_VALUE_CHARS] + "..."


def _kind(series: pd.Series) -> str:
    """pandas' C-speed guess of an object column's value types ("integer", "string", ...)."""
    return pd.api.types.infer_dtype(series, skipna=True)


def _only(series: pd.Series, types: tuple[type, ...], kinds: frozenset[str]) -> pd.Series:
    """Object columns keep only values of the given Python types; others become NA.

    ``kinds`` are the ``infer_dtype`` answers that imply every value is of ``types`` (and
    none a bool): the common, clean case skips the per-value check.
    """
    if series.dtype != object or _kind(series) in kinds:
        return series
    keep = series.map(
        lambda v: isinstance(v, types) and not isinstance(v, bool | np.bool_), na_action="ignore"
    )
    return series.where(keep.fillna(False).astype(bool))


_INTEGER_TEXT = re.compile(TEXT_GRAMMAR["int64"])


def _as_int(value: Any) -> int | None:
    """An exact int64, or None: text by the int64 grammar (ASCII digits, nothing else),
    typed integral numbers; never a bool, a fraction or the text of a float."""
    if isinstance(value, bool | np.bool_):
        return None
    if isinstance(value, str):
        if len(value) > MAX_NUMBER_CHARS or not _INTEGER_TEXT.fullmatch(value):
            return None  # no int64 is spelled longer than MAX_NUMBER_CHARS
        number: Any = int(value)
    elif isinstance(value, int | np.integer | float | np.floating | Decimal):
        number = value
    else:
        return None
    if isinstance(number, float | np.floating | Decimal):
        if not math.isfinite(number) or number != int(number):
            return None
        number = int(number)
    return int(number) if -INT64_LIMIT <= number < INT64_LIMIT else None


def _coerce_int(series: pd.Series, present_values: pd.Series) -> pd.Series:
    """``_as_int`` for every value, vectorized where that cannot change the answer.

    Exact integers (Python or NumPy ints, never bools) and, in float columns, finite
    integral floats convert in bulk; an int64 overflow in the bulk sends the column to the
    per-value path, which quarantines the huge values instead of rounding them. Everything
    else (text, fractions, Decimals, odd types) goes value by value through ``_as_int``.
    """
    present = present_values.to_numpy()
    numbers = np.zeros(len(series), dtype=np.int64)
    if pd.api.types.is_float_dtype(series.dtype):
        floats = series.to_numpy(dtype=np.float64, na_value=np.nan)
        with np.errstate(invalid="ignore"):
            ok = np.isfinite(floats) & (floats == np.trunc(floats))
            ok &= (floats >= -INT64_LIMIT) & (floats < INT64_LIMIT)
        numbers[ok] = floats[ok].astype(np.int64)
        return pd.Series(pd.arrays.IntegerArray(numbers, ~ok), index=series.index)
    values = series.to_numpy(dtype=object)
    if series.dtype == object and _kind(series) == "integer":  # no bools: "mixed-integer"
        exact = present
    else:
        exact = present & np.fromiter((type(v) is int for v in values), bool, len(values))
    try:
        numbers[exact] = values[exact].astype(np.int64)
    except OverflowError:  # beyond int64 somewhere: let _as_int find out which
        exact = np.zeros(len(values), dtype=bool)
    ok = exact.copy()
    for position in np.flatnonzero(present & ~exact):
        number = _as_int(values[position])
        if number is not None:
            numbers[position], ok[position] = number, True
    return pd.Series(pd.arrays.IntegerArray(numbers, ~ok), index=series.index)


def _by_grammar(series: pd.Series, pattern: str) -> pd.Series:
    """Text values that the pattern does not match whole become NA; other values stay.

    Matched in Arrow (RE2) over the text values only: typed values never reach the regex.
    """
    if pd.api.types.is_string_dtype(series.dtype) and series.dtype != object:
        return series.where(series.str.fullmatch(pattern).fillna(False).astype(bool))
    if series.dtype != object:
        return series
    if _kind(series) == "string":  # every value is text (C-speed answer): match them all
        text = series.astype("str")
        return series.where(text.str.fullmatch(pattern).fillna(True).astype(bool))
    is_text = series.map(lambda v: isinstance(v, str), na_action="ignore")
    is_text = is_text.fillna(False).astype(bool)
    if not is_text.any():
        return series
    text = series[is_text].astype("str")
    bad = ~text.str.fullmatch(pattern).fillna(False).astype(bool)
    return series.mask(bad.reindex(series.index, fill_value=False)) if bad.any() else series


def _coerce_float(series: pd.Series, column: Column) -> pd.Series:
    """float64 and decimal: text by the grammar, typed numbers as they are; finite only
    unless the column allows non-finite values (NaN never: it would load as null)."""
    pattern = TEXT_GRAMMAR[column.type]
    if column.allow_non_finite:
        pattern = f"{pattern}|{NON_FINITE_TEXT}"
    values = _by_grammar(_only(series, _NUMBER_TYPES, _NUMBER_KINDS), pattern)
    numbers = pd.to_numeric(values, errors="coerce").astype(pandas_dtype(column.type))
    if column.allow_non_finite:
        return numbers
    finite = np.isfinite(numbers.to_numpy(dtype=np.float64, na_value=np.nan))
    return numbers.where(finite) if not finite.all() else numbers


def _coerce_numeric(series: pd.Series, column: Column, present: pd.Series | None) -> pd.Series:
    dtype = pandas_dtype(column.type)
    if pd.api.types.is_bool_dtype(series.dtype):
        return pd.Series(pd.NA, index=series.index, dtype=dtype)
    if dtype == "Int64":
        if pd.api.types.is_integer_dtype(series.dtype):
            return series.astype(dtype)
        return _coerce_int(series, series.notna() if present is None else present)
    return _coerce_float(series, column)


def _coerce_string(series: pd.Series) -> pd.Series:
    if series.dtype == object and _kind(series) in ("string", "empty"):
        series = series.astype("str")  # every value is text already (or missing)
    elif not (pd.api.types.is_string_dtype(series.dtype) and series.dtype != object):
        is_text = series.map(lambda v: isinstance(v, str), na_action="ignore")
        series = series.where(is_text.fillna(False).astype(bool)).astype("str")
    # PostgreSQL text cannot hold NUL characters: such a value cannot be loaded as it is.
    has_nul = series.str.contains("\x00", regex=False).fillna(False).astype(bool)
    return series.where(~has_nul) if has_nul.any() else series


def _as_bool(value: Any) -> bool | None:
    if isinstance(value, str):
        value = value.lower()
    elif not isinstance(value, bool | int | float | np.bool_ | np.number):
        return None
    return {True: True, False: False, "true": True, "false": False, "1": True, "0": False}.get(
        value
    )


def _coerce_bool(series: pd.Series) -> pd.Series:
    return series.map(_as_bool, na_action="ignore").astype("boolean")


def _coerce_temporal(series: pd.Series, column: Column) -> pd.Series:
    if pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype):
        series = pd.Series(pd.NaT, index=series.index, dtype=object)
    # No cache: parsing ISO 8601 in C is cheaper than hashing every value to look it up
    # (a day's worth of identical dates parsed 3x faster without it).
    values = _by_grammar(_only(series, _TEMPORAL_TYPES, _TEMPORAL_KINDS), TEXT_GRAMMAR[column.type])
    parsed = pd.to_datetime(values, errors="coerce", format="ISO8601", utc=True, cache=False)
    if column.type == "date":  # a time of day is no date: quarantined, never truncated
        parsed = parsed.where(parsed == parsed.dt.normalize())
        return parsed.dt.tz_localize(None).astype(pandas_dtype("date"))
    return parsed.astype(pandas_dtype("timestamp"))


def _trimmed(series: pd.Series) -> pd.Series:
    """Text values without surrounding whitespace (``trim: true``); other values unchanged."""
    if pd.api.types.is_string_dtype(series.dtype) and series.dtype != object:
        return series.str.strip()
    if series.dtype != object:
        return series
    return series.map(lambda v: v.strip() if isinstance(v, str) else v, na_action="ignore")


def coerce_column(series: pd.Series, column: Column, present: pd.Series | None = None) -> pd.Series:
    """The series in the contract's dtype; values that cannot be converted become NA.

    ``present``: ``series.notna()``, when the caller has it already (a pass over an object
    column costs as much as converting it)."""
    if column.trim:
        series = _trimmed(series)
    if column.type in ("int64", "float64", "decimal"):
        return _coerce_numeric(series, column, present)
    if column.type == "string":
        return _coerce_string(series)
    if column.type == "bool":
        return _coerce_bool(series)
    if column.type in ("date", "timestamp"):
        return _coerce_temporal(series, column)
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


@lru_cache(maxsize=64)
def pandera_schema(contract: Contract) -> pa.DataFrameSchema:
    """The pandera schema of a contract's typed rows (types are coerced beforehand).

    Cached per contract (a frozen, hashable dataclass): building it costs more than
    validating a small chunk. Callers must not modify the schema they get.
    """
    columns = {
        c.name: pa.Column(pandas_dtype(c.type), checks=_column_checks(c), nullable=c.nullable)
        for c in contract.columns
    }
    row_checks = [
        pa.Check(
            lambda df, r=rule: COMPARATORS[r.op](df[r.left], df[r.right]).fillna(True),
            name=str(rule),
        )
        for rule in contract.row_rules
    ]
    # No key uniqueness here: a batch cannot see the partition's other batches. The load
    # resolves duplicate keys across the whole partition (warehouse/duplicates.py).
    return pa.DataFrameSchema(columns, checks=row_checks, name=contract.table)


def drift_message(contract: Contract, missing: list[str], extra: list[str]) -> str:
    """What changed, which contract it breaks and what the policy allows, in one line."""
    parts = []
    if missing:
        parts.append(f"missing columns {missing}")
    if extra:
        parts.append(f"unexpected columns {[_short(str(c)) for c in extra]}")
    rename = missing and extra
    hint = " (a renamed column shows as one missing and one unexpected)" if rename else ""
    return (
        f"{contract.table}: extracted data drifted from contract {contract.source_file} "
        f"(drift_policy: {contract.drift_policy}): {'; '.join(parts)}{hint}. "
        "Extra columns are tolerated under ignore_extra/evolve, missing nullable columns only "
        "under evolve; update the contract or the source."
    )


def _check_drift(frame: pd.DataFrame, contract: Contract) -> tuple[list[str], list[str]]:
    """(extra, missing) columns the policy tolerates; raises SchemaDriftError otherwise."""
    names = [str(c) for c in frame.columns]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise SchemaDriftError(
            f"{contract.table}: extracted data has duplicated columns {duplicated} "
            f"(contract {contract.source_file})"
        )
    expected = contract.column_names
    missing = [c for c in expected if c not in names]
    extra = [n for n in names if n not in expected]
    policy = contract.drift_policy
    missing_ok = policy == "evolve" and all(contract.column(c).nullable for c in missing)
    if (missing and not missing_ok) or (extra and policy == "fail"):
        raise SchemaDriftError(drift_message(contract, missing, extra))
    return extra, missing


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def _decimal_overflow(typed: pd.Series, column: Column) -> pd.Series:
    """Values too large for DECIMAL(precision, scale) would fail the whole load."""
    limit = 10.0 ** (column.precision - column.scale)
    return (typed.abs() >= limit).fillna(False).astype(bool)


_NAN_TEXT = re.compile(r"[+-]?nan", re.IGNORECASE)
_NON_FINITE_TEXT = re.compile(NON_FINITE_TEXT)
# Spelled right, and still no value of the type: what the value is out of.
_RANGE_RULES = {
    "int64": "int64: within -2**63 .. 2**63-1",
    "float64": "finite numbers only (allow_non_finite: false)",  # e.g. 1e999 overflows
    "date": "date: a real calendar day",
    "timestamp": "timestamp: a real calendar day and time of day",
}


def _text_rule(value: str, column: Column) -> str:
    if value != value.strip() and not column.trim:
        return "no whitespace around the value (trim: false)"
    text = value.strip() if column.trim else value
    if column.type in ("int64", "float64", "decimal") and _NAN_TEXT.fullmatch(text):
        return "NaN is not a value: send null"
    if column.type == "float64" and _NON_FINITE_TEXT.fullmatch(text):
        return "finite numbers only (allow_non_finite: false)"
    if column.type == "string":
        return "string: no NUL character"
    if not re.fullmatch(TEXT_GRAMMAR[column.type], text):
        return f"{type_label(column)} text: {TEXT_GRAMMAR[column.type]}"
    if column.type == "decimal":
        return f"{type_label(column)}: {column.precision - column.scale} digits before the point"
    return _RANGE_RULES.get(column.type, type_label(column))


def type_rule(value: Any, column: Column) -> str:
    """The rule of the column's type that a value validation could not read breaks.

    Asked only for the values that failed (few), so it may look at each one slowly.
    """
    if isinstance(value, str):
        return _text_rule(value, column)
    label, kind = type_label(column), type(value).__name__
    if column.type in ("int64", "float64", "decimal") and isinstance(value, _NUMBER_TYPES):
        if isinstance(value, bool | np.bool_):
            return f"{label}: a bool is not a number"
        if isinstance(value, float | np.floating | Decimal) and math.isnan(value):
            return "NaN is not a value: send null"
        if isinstance(value, float | np.floating | Decimal) and math.isinf(value):
            return _RANGE_RULES["float64"]
        if column.type == "int64":
            return "int64: an integral number within -2**63 .. 2**63-1"
        return f"{label}: {column.precision - column.scale} digits before the point"
    if column.type == "date" and isinstance(value, dt.datetime | np.datetime64):
        return "date: no time of day (a datetime at midnight UTC at most)"
    return f"{label}: not a value of Python type {kind}"


def _type_reasons(
    frame: pd.DataFrame, typed: pd.DataFrame, contract: Contract, notna: dict[str, pd.Series]
) -> tuple[dict[int, list[dict[str, Any]]], dict[str, int], dict[str, int]]:
    reasons: dict[int, list[dict[str, Any]]] = defaultdict(list)
    non_null: dict[str, int] = {}
    unparseable: dict[str, int] = {}
    for column in contract.columns:
        present = notna[column.name]
        bad = typed[column.name].isna() & present
        check = f"type({type_label(column)})"
        if column.type == "decimal":
            bad = bad | _decimal_overflow(typed[column.name], column)
        non_null[column.name], unparseable[column.name] = int(present.sum()), int(bad.sum())
        for idx in bad[bad].index:
            value = frame.at[idx, column.name]
            reasons[idx].append(
                {
                    "column": column.name,
                    "check": check,
                    "value": _short(value),
                    "rule": type_rule(value, column),
                }
            )
    return reasons, non_null, unparseable


def validation_batches(
    chunks: Iterable[pd.DataFrame], rows: int = VALIDATION_BATCH_ROWS
) -> Iterator[pd.DataFrame]:
    """Consecutive extracted chunks joined into batches of about ``rows`` rows, in order.

    Validating costs ~15 ms per call however small the chunk (pandera's fixed overhead, the
    per-column passes), so 1,000-row API pages spent more time there than in the data. A
    batch holds at most ``rows`` rows plus one chunk, so memory stays bounded by the batch.
    Only chunks of one shape (same columns, same dtypes) are joined: a page whose columns
    drift starts a batch of its own, so validation still sees and reports that drift exactly
    (joining would fill the missing column with nulls, or upcast a column's values).
    """
    if rows < 1:
        raise ValueError(f"rows must be positive, got {rows}")
    pending: list[pd.DataFrame] = []
    pending_rows, shape = 0, None
    for chunk in chunks:
        chunk_shape = (tuple(chunk.columns), tuple(chunk.dtypes))
        if pending and (chunk_shape != shape or chunk.columns.has_duplicates):
            yield _joined(pending)
            pending, pending_rows = [], 0
        pending.append(chunk)
        pending_rows += len(chunk)
        shape = chunk_shape
        if pending_rows >= rows or chunk.columns.has_duplicates:
            yield _joined(pending)
            pending, pending_rows = [], 0
    if pending:
        yield _joined(pending)


def _joined(chunks: list[pd.DataFrame]) -> pd.DataFrame:
    return chunks[0] if len(chunks) == 1 else pd.concat(chunks, ignore_index=True)


def validate_chunk(
    frame: pd.DataFrame, contract: Contract, partition_value: pd.Timestamp | None = None
) -> ValidatedChunk:
    """Split one extracted chunk into typed valid rows and quarantined rows with reasons.

    Raises SchemaDriftError when the columns drift in a way the contract's policy forbids.
    """
    frame = frame.reset_index(drop=True)
    frame.columns = [str(c) for c in frame.columns]
    extra, missing = _check_drift(frame, contract)
    for name in missing:  # tolerated under evolve: nullable, so null is a valid value
        frame[name] = None
    notna = {c.name: frame[c.name].notna() for c in contract.columns}
    typed = pd.DataFrame(
        {c.name: coerce_column(frame[c.name], c, notna[c.name]) for c in contract.columns},
        index=frame.index,
    )
    reasons, non_null, unparseable = _type_reasons(frame, typed, contract, notna)
    untyped = _untyped_cells(reasons, contract)
    if partition_value is not None and contract.partition_column is not None:
        _partition_reasons(typed, contract.partition_column, partition_value, reasons)
    # Every rule runs on every row, so a row quarantined for one reason shows all of them.
    try:
        pandera_schema(contract).validate(typed, lazy=True)
    except pa.errors.SchemaErrors as exc:
        _collect_pandera_reasons(exc.failure_cases, contract, reasons, untyped)
    _sort_reasons(reasons, contract)
    bad = sorted(reasons)
    original = _records(frame.loc[bad, [*contract.column_names, *extra]]) if bad else []
    quarantined = [
        {"record": record, "reasons": reasons[idx]}
        for idx, record in zip(bad, original, strict=True)
    ]
    return ValidatedChunk(
        valid=typed.drop(index=bad) if bad else typed,
        quarantined=quarantined,
        extra_columns=extra,
        missing_columns=missing,
        non_null=non_null,
        unparseable=unparseable,
    )


def _partition_reasons(
    typed: pd.DataFrame,
    column: str,
    partition_value: pd.Timestamp,
    reasons: dict[int, list[dict[str, Any]]],
) -> None:
    """Rows whose partition column holds another day than the partition being loaded."""
    outside = typed[column] != partition_value
    for idx in outside[outside.fillna(False).astype(bool)].index:
        value = typed.at[idx, column]
        reasons[idx].append(
            {
                "column": column,
                "check": f"in_partition({partition_value.date()})",
                "value": _short(str(value)),
            }
        )


def _untyped_cells(
    reasons: dict[int, list[dict[str, Any]]], contract: Contract
) -> set[tuple[int, str]]:
    """(row, column) pairs left NA because a value could not be parsed: the column's own
    value, or the source of a derived column (``derive: utc_date(order_ts)``)."""
    cells = {(idx, r["column"]) for idx, rows in reasons.items() for r in rows}
    for column in contract.derived_columns:
        source = column.derive.source if column.derive is not None else ""
        cells |= {(idx, column.name) for idx, name in list(cells) if name == source}
    return cells


def _sort_reasons(reasons: dict[int, list[dict[str, Any]]], contract: Contract) -> None:
    """Each row's reasons in contract column order, multi-column rules last; within a column
    in the order the rules ran (type, partition, then pandera's checks): stable and
    independent of which rule happened to fail first."""
    position = {name: i for i, name in enumerate(contract.column_names)}
    last = len(position)
    for rows in reasons.values():
        rows.sort(key=lambda r: position.get(r["column"], last))


def _collect_pandera_reasons(
    failures: pd.DataFrame,
    contract: Contract,
    reasons: dict[int, list[dict[str, Any]]],
    untyped: set[tuple[int, str]],
) -> None:
    """Pandera's failures merged into ``reasons``, one entry per row and rule.

    ``untyped``: (row, column) pairs already quarantined for their type: the value there
    is NA only because it could not be parsed, so pandera's ``not_nullable`` is no news.
    """
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
        if check in rules:  # a row rule fails once per row, not once per column
            column, value = f"{rules[check].left},{rules[check].right}", None
        if check == "not_nullable" and (int(row.index), column) in untyped:
            continue
        entry = {"column": column, "check": check, "value": value}
        if entry not in reasons[int(row.index)]:
            reasons[int(row.index)].append(entry)


def warm_up() -> None:
    """Build every contract's schema and run pandera once on empty frames.

    pandera imports its pandas backend on the first validation: a Celery worker calls this
    before its pool forks, so no pool process pays that on its first step.
    """
    for contract in contracts().values():
        empty = pd.DataFrame(
            {c.name: pd.Series(dtype=pandas_dtype(c.type)) for c in contract.columns}
        )
        pandera_schema(contract).validate(empty, lazy=True)
