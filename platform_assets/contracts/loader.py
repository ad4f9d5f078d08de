"""Load and validate contract YAML files.

An invalid contract must stop the code location from loading, with a message naming the
file and the field, rather than surface later as a confusing runtime error.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import time, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from platform_assets.contracts.model import (
    COLUMN_TYPES,
    DERIVATIONS,
    DRIFT_POLICIES,
    LAYERS,
    SEVERITIES,
    Column,
    Contract,
    Derivation,
    Freshness,
    Lag,
    LateArrival,
    RowRule,
    Volume,
)

# The project's defs folder: each source system's folder holds its contracts beside its
# defs.yaml; staging and marts hold one contract per .sql file.
DEFS_DIR = Path(__file__).resolve().parents[1] / "defs"
COMPONENT_FILES = frozenset({"defs.yaml", "defs.yml", "component.yaml"})
DERIVE = re.compile(r"^([a-z_]+)\(\s*([a-z_][a-z0-9_]*)\s*\)$")
IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
DURATION = re.compile(r"^(\d+)\s*([mhd])$")
ROW_RULE = re.compile(r"^([a-z_][a-z0-9_]*)\s*(<=|>=|==|!=|<|>)\s*([a-z_][a-z0-9_]*)$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}
TOP_LEVEL_FIELDS = {
    "table",
    "layer",
    "description",
    "owner",
    "primary_key",
    "partition_column",
    "drift_policy",
    "row_rules",
    "freshness",
    "columns",
    "volume",
    "quarantine_threshold",
    "check_severity",
    "deadline",
    "late_arrival",
    "lag",
}
DEADLINE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
COLUMN_REF = re.compile(r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$")


class ContractError(ValueError):
    """A contract file is invalid; the message names the file and the field."""


def _fail(where: str, message: str) -> ContractError:
    return ContractError(f"{where}: {message}")


def _identifier(value: Any, where: str) -> str:
    if not isinstance(value, str) or not IDENTIFIER.match(value):
        raise _fail(where, f"must be a lower-case SQL identifier, got {value!r}")
    return value


def _duration(value: Any, where: str) -> timedelta:
    match = DURATION.match(str(value))
    if not match:
        raise _fail(where, f"must be a duration like '30m', '26h' or '2d', got {value!r}")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def _require(mapping: dict, key: str, where: str) -> Any:
    if key not in mapping:
        raise _fail(where, f"missing required field {key!r}")
    return mapping[key]


def _parse_column(raw: Any, where: str) -> Column:
    if not isinstance(raw, dict):
        raise _fail(where, f"must be a mapping, got {type(raw).__name__}")
    known = set(Column.__dataclass_fields__)
    unknown = set(raw) - known
    if unknown:
        raise _fail(where, f"unknown field(s) {sorted(unknown)}; allowed: {sorted(known)}")
    name = _identifier(_require(raw, "name", where), f"{where}.name")
    where = f"{where} ({name})"
    col_type = _require(raw, "type", where)
    if col_type not in COLUMN_TYPES:
        raise _fail(f"{where}.type", f"must be one of {list(COLUMN_TYPES)}, got {col_type!r}")
    description = _require(raw, "description", where)
    values = raw.get("accepted_values")
    if values is not None and not (isinstance(values, list) and values):
        raise _fail(f"{where}.accepted_values", "must be a non-empty list")
    references = raw.get("references")
    if references is not None and not re.match(r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$", references):
        raise _fail(f"{where}.references", f"must be 'table.column', got {references!r}")
    for bound in ("min", "max"):
        if raw.get(bound) is not None and not _is_number(raw[bound]):
            raise _fail(f"{where}.{bound}", f"must be a number, got {raw[bound]!r}")
    for flag in ("nullable", "pii", "trim", "allow_non_finite"):
        if flag in raw and not isinstance(raw[flag], bool):
            raise _fail(f"{where}.{flag}", f"must be true or false, got {raw[flag]!r}")
    if raw.get("allow_non_finite") and col_type != "float64":
        raise _fail(
            f"{where}.allow_non_finite",
            f"only float64 columns can hold inf (this one is {col_type})",
        )
    return Column(
        name=name,
        type=col_type,
        description=str(description),
        nullable=bool(raw.get("nullable", True)),
        min=raw.get("min"),
        max=raw.get("max"),
        accepted_values=tuple(str(v) for v in values) if values else None,
        pattern=raw.get("pattern"),
        references=references,
        precision=int(raw.get("precision", 18)),
        scale=int(raw.get("scale", 2)),
        pii=raw.get("pii", False),
        lineage=_parse_lineage(raw.get("lineage"), f"{where}.lineage"),
        derive=_parse_derive(raw.get("derive"), col_type, f"{where}.derive"),
        trim=raw.get("trim", False),
        allow_non_finite=raw.get("allow_non_finite", False),
    )


def _parse_derive(raw: Any, col_type: str, where: str) -> Derivation | None:
    """``utc_date(order_ts)``: the column is computed from another one at extraction."""
    if raw is None:
        return None
    match = DERIVE.match(str(raw))
    if not match or match.group(1) not in DERIVATIONS:
        raise _fail(where, f"must be one of {[f'{f}(<column>)' for f in DERIVATIONS]}, got {raw!r}")
    function, source = match.groups()
    result_type = DERIVATIONS[function][1]
    if col_type != result_type:
        raise _fail(where, f"{function}() gives a {result_type}; the column is a {col_type}")
    return Derivation(function=function, source=source)  # type: ignore[arg-type]


def _parse_lineage(raw: Any, where: str) -> tuple[str, ...]:
    """Lineage of a staging or mart column: the upstream 'table.column's it is computed from."""
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(
        isinstance(r, str) and COLUMN_REF.match(r) for r in raw
    ):
        raise _fail(where, f"must be a list of 'table.column', got {raw!r}")
    return tuple(raw)


def _parse_deadline(raw: Any, partitioned: bool, where: str) -> time | None:
    """UTC time of day by which yesterday's partition must be materialized."""
    if raw is None:
        return None
    match = DEADLINE.match(str(raw))
    if not match:
        raise _fail(where, f"must be a UTC time of day 'HH:MM', got {raw!r}")
    if not partitioned:
        raise _fail(where, "only partitioned tables have a per-partition deadline")
    return time(int(match.group(1)), int(match.group(2)))


def _mapping(raw: Any, fields: set[str], where: str) -> dict:
    if not isinstance(raw, dict):
        raise _fail(where, f"must be a mapping, got {raw!r}")
    unknown = set(raw) - fields
    missing = fields - set(raw)
    if unknown or missing:
        raise _fail(where, f"needs exactly the fields {sorted(fields)}, got {sorted(raw)}")
    return raw


def _parse_late_arrival(raw: Any, partitioned: bool, where: str) -> LateArrival | None:
    """``late_arrival: {window: 2h}``: a day of a pushed stream closes this long after it ends."""
    if raw is None:
        return None
    if not partitioned:
        raise _fail(where, "only partitioned tables have days to close")
    return LateArrival(window=_duration(_mapping(raw, {"window"}, where)["window"], where))


def _parse_lag(raw: Any, where: str) -> Lag | None:
    """``lag: {warn: 5m, error: 15m}``: the consumer's lag objective (alerts like freshness)."""
    if raw is None:
        return None
    fields = _mapping(raw, {"warn", "error"}, where)
    lag = Lag(warn=_duration(fields["warn"], where), error=_duration(fields["error"], where))
    if lag.warn >= lag.error:
        raise _fail(where, "warn must be shorter than error")
    return lag


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _integer(raw: dict, key: str, default: int, minimum: int, where: str) -> int:
    value = raw.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise _fail(f"{where}.{key}", f"must be an integer >= {minimum}, got {value!r}")
    return value


def _parse_volume(raw: Any, partitioned: bool, where: str) -> Volume:
    """Volume expectations; the history-based z-score needs partitions to compare against."""
    if raw is None:
        return Volume()
    if not isinstance(raw, dict):
        raise _fail(where, f"must be a mapping, got {type(raw).__name__}")
    known = set(Volume.__dataclass_fields__)
    unknown = set(raw) - known
    if unknown:
        raise _fail(where, f"unknown field(s) {sorted(unknown)}; allowed: {sorted(known)}")
    history_fields = sorted((known - {"min_rows"}) & set(raw))
    if history_fields and not partitioned:
        raise _fail(where, f"{history_fields} need a partition_column to compare partitions")
    default = Volume()
    history = _integer(raw, "history_partitions", default.history_partitions, 1, where)
    min_history = _integer(raw, "min_history", default.min_history, 1, where)
    if min_history > history:
        raise _fail(f"{where}.min_history", f"must be <= history_partitions ({history})")
    max_abs_z = raw.get("max_abs_z", default.max_abs_z)
    if not _is_number(max_abs_z) or max_abs_z <= 0:
        raise _fail(f"{where}.max_abs_z", f"must be a positive number, got {max_abs_z!r}")
    return Volume(
        min_rows=_integer(raw, "min_rows", default.min_rows, 0, where),
        history_partitions=history,
        min_history=min_history,
        max_abs_z=float(max_abs_z),
    )


def _parse_threshold(raw: dict, layer: str, where: str) -> float | None:
    """Raw tables must say how much quarantine they tolerate; other layers quarantine nothing."""
    value = raw.get("quarantine_threshold")
    if layer != "raw":
        if value is not None:
            raise _fail(where, "only raw tables quarantine rows; remove it")
        return None
    if value is None:
        raise _fail(where, "required for raw tables (max share of quarantined rows, e.g. 0.01)")
    if not _is_number(value) or not 0 <= value <= 1:
        raise _fail(where, f"must be a number between 0 and 1, got {value!r}")
    return float(value)


def _parse_severities(raw: Any, check_names: list[str], where: str) -> tuple[tuple[str, str], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        raise _fail(where, f"must be a mapping of check name to severity, got {raw!r}")
    for name, severity in raw.items():
        if name not in check_names:
            raise _fail(f"{where}.{name}", f"names no check of this table; checks: {check_names}")
        if severity not in SEVERITIES:
            raise _fail(f"{where}.{name}", f"must be one of {list(SEVERITIES)}, got {severity!r}")
    return tuple(sorted(raw.items()))


def _parse_row_rule(raw: Any, names: list[str], where: str) -> RowRule:
    match = ROW_RULE.match(str(raw))
    if not match:
        raise _fail(where, f"must look like 'column_a <= column_b', got {raw!r}")
    left, op, right = match.groups()
    for name in (left, right):
        if name not in names:
            raise _fail(where, f"{name!r} is not a declared column")
    return RowRule(left=left, op=op, right=right)


def parse_contract(raw: Any, source_file: str) -> Contract:
    """Build a Contract from parsed YAML, or raise ContractError naming the field."""
    where = source_file
    if not isinstance(raw, dict):
        raise _fail(where, "a contract must be a YAML mapping")
    unknown = set(raw) - TOP_LEVEL_FIELDS
    if unknown:
        allowed = sorted(TOP_LEVEL_FIELDS)
        raise _fail(where, f"unknown field(s) {sorted(unknown)}; allowed: {allowed}")
    table = _identifier(_require(raw, "table", where), f"{where}: table")
    layer = _require(raw, "layer", where)
    if layer not in LAYERS:
        raise _fail(f"{where}: layer", f"must be one of {list(LAYERS)}, got {layer!r}")
    raw_columns = _require(raw, "columns", where)
    if not isinstance(raw_columns, list) or not raw_columns:
        raise _fail(f"{where}: columns", "must be a non-empty list")
    columns = tuple(_parse_column(c, f"{where}: columns[{i}]") for i, c in enumerate(raw_columns))
    names = [c.name for c in columns]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise _fail(f"{where}: columns", f"duplicate column names {duplicates}")
    primary_key = tuple(_require(raw, "primary_key", where))
    for key in primary_key:
        if key not in names:
            raise _fail(f"{where}: primary_key", f"{key!r} is not a declared column")
        if columns[names.index(key)].nullable:
            raise _fail(f"{where}: primary_key", f"{key!r} must be declared nullable: false")
    partition_column = raw.get("partition_column")
    if partition_column is not None and partition_column not in names:
        raise _fail(f"{where}: partition_column", f"{partition_column!r} is not a column")
    drift_policy = raw.get("drift_policy", "fail")
    if drift_policy not in DRIFT_POLICIES:
        raise _fail(
            f"{where}: drift_policy", f"must be one of {list(DRIFT_POLICIES)}, got {drift_policy!r}"
        )
    for col in columns:
        if col.derive is None:
            continue
        source_type = DERIVATIONS[col.derive.function][0]
        if col.derive.source not in names or columns[names.index(col.derive.source)].type != (
            source_type
        ):
            raise _fail(
                f"{where}: columns ({col.name}).derive",
                f"{col.derive.source!r} must be a declared {source_type} column",
            )
    row_rules = tuple(
        _parse_row_rule(r, names, f"{where}: row_rules[{i}]")
        for i, r in enumerate(raw.get("row_rules") or [])
    )
    freshness = _require(raw, "freshness", where)
    fresh = Freshness(
        warn_after=_duration(_require(freshness, "warn_after", where), f"{where}: freshness"),
        fail_after=_duration(_require(freshness, "fail_after", where), f"{where}: freshness"),
    )
    if fresh.warn_after >= fresh.fail_after:
        raise _fail(f"{where}: freshness", "warn_after must be shorter than fail_after")
    contract = Contract(
        table=table,
        layer=layer,
        description=str(_require(raw, "description", where)).strip(),
        owner=str(_require(raw, "owner", where)),
        columns=columns,
        primary_key=primary_key,
        freshness=fresh,
        partition_column=partition_column,
        drift_policy=drift_policy,
        row_rules=row_rules,
        volume=_parse_volume(raw.get("volume"), partition_column is not None, f"{where}: volume"),
        quarantine_threshold=_parse_threshold(raw, layer, f"{where}: quarantine_threshold"),
        deadline=_parse_deadline(
            raw.get("deadline"), partition_column is not None, f"{where}: deadline"
        ),
        late_arrival=_parse_late_arrival(
            raw.get("late_arrival"), partition_column is not None, f"{where}: late_arrival"
        ),
        lag=_parse_lag(raw.get("lag"), f"{where}: lag"),
        source_file=source_file,
    )
    severities = _parse_severities(
        raw.get("check_severity"), contract.check_names, f"{where}: check_severity"
    )
    return replace(contract, check_severity=severities)


def load_contract(path: Path, name: str | None = None) -> Contract:
    """``name``: how messages call the file (its path inside the defs folder)."""
    name = name or path.name
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ContractError(f"{name}: not valid YAML: {exc}") from exc
    return replace(parse_contract(raw, name), path=path.resolve())


def _check_references(contracts: dict[str, Contract]) -> None:
    for contract in contracts.values():
        for col in contract.columns:
            if col.references is None:
                continue
            table, column = col.references.split(".")
            parent = contracts.get(table)
            if parent is None or column not in parent.column_names:
                raise ContractError(
                    f"{contract.source_file}: columns ({col.name}).references: "
                    f"{col.references!r} names no contracted table column"
                )


def _check_lineage(contracts: dict[str, Contract]) -> None:
    """Every lineage entry names a contracted column; raw columns end the chains (their values
    come from a source system); no chain loops back on itself."""
    for contract in contracts.values():
        for col in contract.columns:
            if col.lineage and contract.layer == "raw":
                raise ContractError(
                    f"{contract.source_file}: columns ({col.name}).lineage: a raw column's "
                    "values come from its source, so its lineage ends here; remove it"
                )
            for ref in col.lineage:
                table, column = ref.split(".")
                if table not in contracts or column not in contracts[table].column_names:
                    raise ContractError(
                        f"{contract.source_file}: columns ({col.name}).lineage: "
                        f"{ref!r} names no contracted table column"
                    )
    for contract in contracts.values():
        for col in contract.columns:
            _no_lineage_cycle(contracts, f"{contract.table}.{col.name}", ())


def _no_lineage_cycle(contracts: dict[str, Contract], ref: str, path: tuple[str, ...]) -> None:
    if ref in path:
        contract = contracts[path[0].split(".")[0]]
        raise ContractError(
            f"{contract.source_file}: columns ({path[0].split('.')[1]}).lineage: the chain "
            f"loops back: {' <- '.join([*path, ref])}"
        )
    table, column = ref.split(".")
    for upstream in contracts[table].column(column).lineage:
        _no_lineage_cycle(contracts, upstream, (*path, ref))


def contract_files(defs_dir: Path) -> list[Path]:
    """Every contract under a defs folder: the YAML files that are not a component's."""
    return sorted(
        p for p in defs_dir.rglob("*.y*ml")
        if p.suffix in (".yaml", ".yml") and p.name not in COMPONENT_FILES
    )  # fmt: skip


def load_contracts(defs_dir: Path = DEFS_DIR) -> dict[str, Contract]:
    """All contracts under a defs folder, keyed by table name; references checked across."""
    contracts: dict[str, Contract] = {}
    for path in contract_files(defs_dir):
        contract = load_contract(path, path.relative_to(defs_dir).as_posix())
        if contract.table in contracts:
            raise ContractError(
                f"{path.name}: table {contract.table!r} is already defined in "
                f"{contracts[contract.table].source_file}"
            )
        contracts[contract.table] = contract
    _check_references(contracts)
    _check_lineage(contracts)
    return contracts


@cache
def catalog(defs_dir: Path = DEFS_DIR) -> dict[str, Contract]:
    """The contracts of a defs folder, parsed once per process."""
    return load_contracts(defs_dir.resolve())


_active_defs_dir: list[Path] = [DEFS_DIR]


def use_defs_dir(defs_dir: Path) -> None:
    """The defs folder this process's code location was built from (``build_definitions``
    sets it), so sensors and CLIs that judge every table see the same tables."""
    _active_defs_dir[0] = defs_dir.resolve()


def contracts() -> dict[str, Contract]:
    """The contracts of the code location's defs folder (default: this package's)."""
    return catalog(_active_defs_dir[0])
